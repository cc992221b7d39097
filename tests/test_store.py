"""The trace store (tui.store) and the record schema (tracer.schema), fed with records built by the
schema's own encoders — no field name is spelled here."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracer import schema
from tui.store import TraceStore, load_directory

T1 = "a1" * 16
T2 = "b2" * 16
ROOT, LLM, TOOL = "0000000000000001", "0000000000000002", "0000000000000003"
LOCATION = {schema.LOCATION_FILE: "app.py", schema.LOCATION_LINE: 3, schema.LOCATION_QUALNAME: "agent"}


def start(
    span_id: str,
    name: str,
    start_ns: int,
    parent: str | None = None,
    *,
    trace_id: str = T1,
    inputs: Any = None,
    attributes: Any = None,
    span_type: str = "CHAIN",
) -> bytes:
    return schema.encode_span_start(
        trace_id, span_id, parent, name, span_type, start_ns, inputs, attributes or {}, LOCATION
    )


def end(
    span_id: str,
    end_ns: int,
    *,
    trace_id: str = T1,
    status: str = schema.STATUS_OK,
    message: str = "",
    outputs: Any = None,
    attributes: Any = None,
    inputs: Any = None,
) -> bytes:
    return schema.encode_span_end(
        trace_id, span_id, end_ns, status, message, outputs, attributes or {}, inputs
    )


def event(span_id: str, name: str, time_ns: int, attributes: Any = None, *, trace_id: str = T1) -> bytes:
    return schema.encode_span_event(trace_id, span_id, name, time_ns, attributes or {})


def summary(trace_id: str = T1, *, start_ns: int = 100, end_ns: int = 900, **overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "root_span_id": ROOT,
        "name": "agent",
        "status": schema.STATUS_ERROR,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "span_count": 3,
        "error_count": 1,
        "request_preview": '{"question":"hi"}',
        "response_preview": '{"answer":"hello"}',
        "tags": {"env": "test"},
        "metadata": {"run": 7},
    }
    fields.update(overrides)
    return schema.encode_trace_summary(trace_id, **fields)


def process() -> bytes:
    return schema.encode_process(
        pid=42, host="box", argv=["app.py"], python="3.11.7", tracer_version="0.1.0", start_ns=1
    )


# One complete trace, in the order a single writer produces it: agent → llm (streams one chunk), tool
# (fails); a tag update; agent ends with ERROR; the summary.
COMPLETE: dict[str, bytes] = {
    "start_root": start(ROOT, "agent", 100, inputs={"question": "hi"}, attributes={"team": "a"}),
    "start_llm": start(LLM, "llm", 200, ROOT, inputs={"prompt": "hi"}, span_type="LLM"),
    "event_llm": event(LLM, "mlflow.chunk.item.0", 250, {schema.CHUNK_VALUE: "hel"}),
    "end_llm": end(LLM, 300, outputs="hello", attributes={"tokens": 3}),
    "start_tool": start(TOOL, "search", 400, ROOT, inputs={"q": "hello"}, span_type="TOOL"),
    "event_tool": event(TOOL, schema.EXCEPTION_EVENT, 450, {schema.EXCEPTION_TYPE: "KeyError"}),
    "end_tool": end(TOOL, 500, status=schema.STATUS_ERROR, message="KeyError: 'x'"),
    "update": schema.encode_trace_update(T1, {schema.TAGS: {"env": "test"}}),
    "end_root": end(ROOT, 900, status=schema.STATUS_ERROR, message="KeyError: 'x'", outputs={"a": 1}),
    "summary": summary(),
}


def ingest(lines: list[bytes], store: TraceStore | None = None) -> TraceStore:
    store = store if store is not None else TraceStore()
    for number, line in enumerate(lines, 1):
        store.ingest_line(line, "traces/run.jsonl", number)
    return store


def reorder(first: list[str], then: list[str] | None = None) -> list[bytes]:
    """COMPLETE's lines with `first` moved to the front (in that order) and `then` right after."""
    front = first + (then or [])
    return [COMPLETE[k] for k in front] + [v for k, v in COMPLETE.items() if k not in front]


def in_order() -> dict[str, Any]:
    trace = ingest(list(COMPLETE.values())).get(T1)
    assert trace is not None
    return trace.to_json()


# -- a complete trace -------------------------------------------------------------------------------


def test_complete_trace_summary_comes_from_the_summary_record():
    """A finished trace's summary carries the summary record's name, status, times, counts, previews."""
    store = ingest([process(), *COMPLETE.values()])
    [s] = store.summaries()
    assert (s.trace_id, s.name, s.status) == (T1, "agent", schema.STATUS_ERROR)
    assert (s.start_ns, s.end_ns, s.duration_ms) == (100, 900, 800 / 1e6)
    assert (s.span_count, s.error_count) == (3, 1)
    assert (s.request_preview, s.response_preview) == ('{"question":"hi"}', '{"answer":"hello"}')
    assert s.tags == {"env": "test"}
    assert store.lines_skipped == 0
    assert store.processes["traces/run.jsonl"].pid == 42


def test_complete_trace_spans_in_start_order_with_all_their_fields():
    """Spans come back in start order with ids, parent, type, times, status, inputs, outputs, events."""
    trace = ingest(list(COMPLETE.values())).get(T1)
    assert trace is not None
    spans = trace.to_json()["spans"]
    assert [(s["span_id"], s["parent_id"], s["name"]) for s in spans] == [
        (ROOT, None, "agent"),
        (LLM, ROOT, "llm"),
        (TOOL, ROOT, "search"),
    ]
    root, llm, tool = spans
    assert root["inputs"] == {"question": "hi"} and root["outputs"] == {"a": 1}
    assert root["attributes"] == {"team": "a"}
    assert root["location"] == LOCATION
    assert (llm["span_type"], llm["start_ns"], llm["end_ns"]) == ("LLM", 200, 300)
    assert llm["status"] == {"code": schema.STATUS_OK, "message": ""}
    assert llm["outputs"] == "hello" and llm["attributes"] == {"tokens": 3}
    assert llm["events"] == [
        {"name": "mlflow.chunk.item.0", "time_ns": 250, "attributes": {schema.CHUNK_VALUE: "hel"}}
    ]
    assert tool["status"] == {"code": schema.STATUS_ERROR, "message": "KeyError: 'x'"}
    assert tool["outputs"] is None
    assert trace.root is not None and trace.root.span_id == ROOT
    assert [s.span_id for s in trace.children(ROOT)] == [LLM, TOOL]
    assert trace.to_json()["metadata"] == {"run": 7}


# -- order independence -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(reorder(["end_llm", "start_llm"]), id="span-end-before-its-start"),
        pytest.param(reorder(["event_llm", "start_llm"]), id="event-before-start"),
        pytest.param(reorder(["start_llm", "end_llm", "start_tool", "end_tool"]), id="child-before-parent"),
        pytest.param(reorder(["summary"]), id="summary-before-spans"),
        pytest.param(list(reversed(COMPLETE.values())), id="reversed"),
    ],
)
def test_records_in_any_order_give_the_same_trace(lines):
    """Out-of-order arrival (end before start, event first, child first, summary first) changes nothing."""
    trace = ingest(lines).get(T1)
    assert trace is not None
    assert trace.to_json() == in_order()


@settings(max_examples=150, deadline=None)
@given(st.permutations(list(COMPLETE.values())))
def test_every_permutation_gives_the_same_trace(lines):
    """Whatever the order of a trace's records, the assembled trace is the in-order one."""
    trace = ingest(lines).get(T1)
    assert trace is not None
    assert trace.to_json() == in_order()


def test_events_are_kept_in_time_order_whatever_their_arrival():
    """Events arriving late are sorted by time within their span."""
    lines = [start(ROOT, "agent", 1)] + [event(ROOT, f"e{t}", t) for t in (30, 10, 20)]
    trace = ingest(lines).get(T1)
    assert trace is not None
    assert [e.name for e in trace.spans[0].events] == ["e10", "e20", "e30"]


# -- a trace without a summary record ---------------------------------------------------------------


def test_trace_without_summary_is_in_progress_while_its_root_runs():
    """With the root started but not ended, the trace is IN_PROGRESS with no end and no duration."""
    store = ingest([start(ROOT, "agent", 100, inputs={"question": "hi"}), start(LLM, "llm", 200, ROOT)])
    store.ingest_line(end(LLM, 300, outputs="x"))
    [s] = store.summaries()
    assert s.status == schema.TRACE_IN_PROGRESS
    assert (s.name, s.start_ns, s.end_ns, s.duration_ms, s.span_count) == ("agent", 100, None, None, 2)
    assert s.request_preview == '{"question":"hi"}'
    assert s.response_preview is None
    trace = store.get(T1)
    assert trace is not None and trace.to_json()["spans"][0]["end_ns"] is None


@pytest.mark.parametrize("status", [schema.STATUS_OK, schema.STATUS_ERROR])
def test_trace_without_summary_takes_its_roots_status_once_the_root_ends(status):
    """Once the root ends the trace's status is the root's, and its end/duration are the root's."""
    store = ingest([start(ROOT, "agent", 100), end(ROOT, 600, status=status)])
    [s] = store.summaries()
    assert (s.status, s.end_ns, s.duration_ms) == (status, 600, 500 / 1e6)
    assert s.error_count == (1 if status == schema.STATUS_ERROR else 0)


def test_trace_without_summary_previews_the_roots_inputs_and_outputs():
    """Previews default to the root's inputs/outputs as compact JSON (a string output as itself)."""
    store = ingest(
        [
            start(ROOT, "agent", 100, inputs={"question": "hi", "n": [1, 2]}),
            end(ROOT, 200, outputs="plain text"),
            start(ROOT, "other", 300, trace_id=T2, inputs={"q": "x" * 2000}),
            end(ROOT, 400, trace_id=T2, outputs={"answer": 42}),
        ]
    )
    one, two = store.get(T1), store.get(T2)
    assert one is not None and two is not None
    assert one.summary().request_preview == '{"question":"hi","n":[1,2]}'
    assert one.summary().response_preview == "plain text"
    assert two.summary().response_preview == '{"answer":42}'
    long = two.summary().request_preview
    assert long is not None and len(long) == 1000 and long.startswith('{"q":"xxx') and long.endswith("...")


def test_trace_update_previews_override_the_roots_without_summary():
    """A trace_update's request/response previews win over the ones derived from the root."""
    update = schema.encode_trace_update(
        T1, {schema.REQUEST_PREVIEW: "asked", schema.RESPONSE_PREVIEW: "answered"}
    )
    store = ingest([update, start(ROOT, "agent", 1, inputs={"a": 1}), end(ROOT, 2, outputs=5)])
    [s] = store.summaries()
    assert (s.request_preview, s.response_preview) == ("asked", "answered")


# -- names, attributes, inputs ----------------------------------------------------------------------


def test_duplicate_span_names_get_suffixes_in_start_order():
    """Same-named spans become name_1, name_2, … by start time (not arrival); unique names unchanged."""
    lines = [
        start(ROOT, "agent", 100),
        start("0000000000000013", "llm", 400, ROOT),
        start("0000000000000011", "llm", 200, ROOT),
        start("0000000000000012", "llm", 300, ROOT),
        start(TOOL, "tool", 250, ROOT),
    ]
    trace = ingest(list(reversed(lines))).get(T1)
    assert trace is not None
    spans = trace.to_json()["spans"]
    assert [(s["span_id"], s["name"], s["raw_name"]) for s in spans] == [
        (ROOT, "agent", "agent"),
        ("0000000000000011", "llm_1", "llm"),
        (TOOL, "tool", "tool"),
        ("0000000000000012", "llm_2", "llm"),
        ("0000000000000013", "llm_3", "llm"),
    ]


def test_duplicate_names_are_renumbered_when_an_earlier_span_arrives_later():
    """A late-arriving earlier span takes _1 and the others shift, so names follow start order."""
    store = ingest([start(ROOT, "step", 300), start(LLM, "step", 400, ROOT)])
    trace = store.get(T1)
    assert trace is not None
    assert [s.name for s in trace.spans] == ["step_1", "step_2"]
    store.ingest_line(start(TOOL, "step", 350, ROOT))
    assert [(s.span_id, s.name) for s in trace.spans] == [(ROOT, "step_1"), (TOOL, "step_2"), (LLM, "step_3")]


@pytest.mark.parametrize("end_first", [False, True], ids=["start-first", "end-first"])
def test_attributes_from_start_and_end_are_merged_end_winning(end_first):
    """Attributes of the start and end records are merged; a key set again at the end takes its value."""
    lines = [
        start(ROOT, "agent", 1, attributes={"a": 1, "b": "start"}),
        end(ROOT, 2, attributes={"b": "end", "c": [3]}),
    ]
    trace = ingest(lines[::-1] if end_first else lines).get(T1)
    assert trace is not None
    assert trace.spans[0].attributes == {"a": 1, "b": "end", "c": [3]}


@pytest.mark.parametrize("end_first", [False, True], ids=["start-first", "end-first"])
def test_inputs_set_after_start_win(end_first):
    """Inputs carried by the end record (set_inputs after start) replace the start record's."""
    lines = [start(ROOT, "agent", 1, inputs={"x": 1}), end(ROOT, 2, inputs={"x": 2})]
    trace = ingest(lines[::-1] if end_first else lines).get(T1)
    assert trace is not None
    assert trace.spans[0].inputs == {"x": 2}


def test_start_inputs_kept_when_the_end_record_has_none():
    """An end record without inputs leaves the start record's inputs alone, in either order."""
    lines = [start(ROOT, "agent", 1, inputs={"x": 1}), end(ROOT, 2, outputs=3)]
    for order in (lines, lines[::-1]):
        trace = ingest(order).get(T1)
        assert trace is not None
        assert trace.spans[0].inputs == {"x": 1}


def test_span_known_only_from_later_records_is_not_listed():
    """A span whose start has not arrived is not among the trace's spans (but is kept for later)."""
    store = ingest([start(ROOT, "agent", 1), end(LLM, 5), event(LLM, "e", 4)])
    trace = store.get(T1)
    assert trace is not None
    assert [s.span_id for s in trace.spans] == [ROOT]
    store.ingest_line(start(LLM, "llm", 3, ROOT))
    assert [(s.span_id, s.end_ns, len(s.events)) for s in trace.spans] == [(ROOT, None, 0), (LLM, 5, 1)]


# -- malformed input --------------------------------------------------------------------------------


def _record(line: bytes) -> dict[str, Any]:
    return orjson.loads(line)


def _with(line: bytes, **changes: Any) -> bytes:
    """`line`'s record with fields changed (None removes the field), re-encoded in key order."""
    record = _record(line)
    for key, value in changes.items():
        field = getattr(schema, key)
        if value is None:
            record.pop(field)
        else:
            record[field] = value
    return schema.encode(record)


GOOD = start(ROOT, "agent", 1)
MALFORMED: dict[str, bytes] = {
    "truncated-json": GOOD[: len(GOOD) // 2],
    "garbage-bytes": b"\x00\x01\xfe\xff garbage \x80",
    "invalid-utf8": start(ROOT, "NAME", 1).replace(b"NAME", b"\xff\xfe\xfd"),
    "json-array": orjson.dumps([schema.SPAN_START, T1]),
    "json-string": orjson.dumps("span_start"),
    "json-number": b"12",
    "no-kind": _with(GOOD, KIND=None),
    "kind-not-string": _with(GOOD, KIND=3),
    "no-trace-id": _with(GOOD, TRACE_ID=None),
    "trace-id-not-string": _with(GOOD, TRACE_ID=17),
    "no-span-id": _with(GOOD, SPAN_ID=None),
    "span-id-not-string": _with(GOOD, SPAN_ID=["x"]),
    "no-name": _with(GOOD, NAME=None),
    "start-ns-string": _with(GOOD, START_NS="x"),
    "start-ns-true": _with(GOOD, START_NS=True),
    "start-ns-float": _with(GOOD, START_NS=1.5),
    "end-ns-null": _with(end(ROOT, 2), END_NS=None),
    "end-status-number": _with(end(ROOT, 2), STATUS=1),
    "event-time-false": _with(event(ROOT, "e", 3), TIME_NS=False),
    "summary-start-string": _with(summary(), START_NS="100"),
    "process-version-string": _with(process(), SCHEMA_VERSION_FIELD="1"),
}


@pytest.mark.parametrize("bad", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_line_is_skipped_counted_and_located(bad):
    """A malformed line never raises: it is counted, first_skipped names its file and line."""
    store = TraceStore()
    store.ingest_line(start(LLM, "ok", 1, trace_id=T2), "traces/x.jsonl", 1)
    store.ingest_line(bad, "traces/x.jsonl", 2)
    store.ingest_line(end(LLM, 5, trace_id=T2), "traces/x.jsonl", 3)
    store.ingest_line(bad, "traces/y.jsonl", 9)
    assert store.lines_skipped == 2
    assert store.first_skipped is not None
    assert (store.first_skipped.source, store.first_skipped.line) == ("traces/x.jsonl", 2)
    assert store.first_skipped.reason
    assert T1 not in store  # nothing of the bad line was taken in
    trace = store.get(T2)
    assert trace is not None and [(s.name, s.end_ns) for s in trace.spans] == [("ok", 5)]


def test_unknown_record_kinds_are_skipped_and_counted():
    """A record of a kind this reader does not know is skipped and counted, the rest still read."""
    unknown = schema.encode({schema.KIND: "span_link", schema.TRACE_ID: T1, schema.SPAN_ID: ROOT})
    store = ingest([unknown, start(ROOT, "agent", 1), unknown])
    assert store.lines_skipped == 2
    assert store.first_skipped is not None and store.first_skipped.line == 1
    assert "span_link" in store.first_skipped.reason
    trace = store.get(T1)
    assert trace is not None and len(trace.spans) == 1


def test_blank_lines_are_neither_records_nor_errors():
    """Empty and whitespace-only lines are ignored without being counted as skipped."""
    store = ingest([b"", b"\n", b"  \r\n", GOOD])
    assert store.lines_skipped == 0 and len(store) == 1


def test_optional_fields_of_the_wrong_type_are_ignored():
    """Mistyped optional fields (parent, attributes, tags, counts, previews) do not break the trace."""
    lines = [
        _with(start(ROOT, "agent", 1), PARENT_ID=5, ATTRIBUTES=[1, 2], SPAN_TYPE=7, LOCATION="here"),
        _with(end(ROOT, 2), ATTRIBUTES="x", STATUS_MESSAGE=3),
        _with(event(ROOT, "e", 2), ATTRIBUTES=[1]),
        schema.encode_trace_update(T1, {schema.TAGS: "x", schema.METADATA: 4, schema.REQUEST_PREVIEW: 1}),
        _with(summary(), SPAN_COUNT="3", ERROR_COUNT=None, TAGS=[1], REQUEST_PREVIEW=9),
    ]
    store = ingest(lines)
    assert store.lines_skipped == 0
    trace = store.get(T1)
    assert trace is not None
    document = trace.to_json()
    assert document["tags"] == {} and document["request_preview"] is None
    [span] = document["spans"]
    assert (span["parent_id"], span["attributes"], span["span_type"]) == (None, {}, "UNKNOWN")
    assert span["events"] == [{"name": "e", "time_ns": 2, "attributes": {}}]
    [s] = store.summaries()
    assert (s.span_count, s.error_count) == (1, 0)


def test_first_skipped_points_at_the_file_and_line_when_loading_a_directory(tmp_path: Path):
    """Loaded from files, a bad line is reported with its file path and 1-based line number."""
    good = tmp_path / "20240101T000000-a-1-001.jsonl"
    bad = tmp_path / "20240101T000000-b-2-001.jsonl"
    good.write_bytes(process() + start(ROOT, "agent", 1) + end(ROOT, 2))
    bad.write_bytes(process() + start(LLM, "x", 1, trace_id=T2) + b'{"kind":"span_st\n' + b"\xff\n")
    store = load_directory(tmp_path)
    assert store.lines_skipped == 2
    assert store.first_skipped is not None
    assert (store.first_skipped.source, store.first_skipped.line) == (str(bad), 3)
    assert sorted(store.find("")) == [] and set(store.find(T1[:4]) + store.find(T2[:4])) == {T1, T2}


# -- asking -----------------------------------------------------------------------------------------


def test_find_by_exact_id_unique_prefix_and_ambiguous_prefix():
    """find() gives the exact id, the one id a prefix names, every id of an ambiguous prefix, or []."""
    ids = ["abcd" + "0" * 28, "abce" + "0" * 28, "ffff" + "1" * 28]
    store = ingest([start(ROOT, "t", n, trace_id=i) for n, i in enumerate(ids)])
    assert store.find(ids[0]) == [ids[0]]
    assert store.find("abcd") == [ids[0]]
    assert store.find("FFFF") == [ids[2]]
    assert sorted(store.find("abc")) == sorted(ids[:2])
    assert store.find("0123") == []
    assert store.find("") == []


def test_find_prefers_an_exact_id_that_also_prefixes_another():
    """An id that is exactly a trace's id names that trace even when it prefixes a longer id."""
    store = ingest([start(ROOT, "t", 1, trace_id="abc"), start(ROOT, "t", 2, trace_id="abcd")])
    assert store.find("abc") == ["abc"]


def test_summaries_are_newest_first():
    """summaries() sorts by start time, latest first, mixing finished and running traces."""
    ids = [f"{n:032x}" for n in range(1, 6)]
    lines = [
        summary(ids[0], start_ns=500, end_ns=600),
        start(ROOT, "running", 300, trace_id=ids[1]),
        summary(ids[2], start_ns=100, end_ns=200),
        start(ROOT, "done", 400, trace_id=ids[3]),
        end(ROOT, 450, trace_id=ids[3]),
        start(ROOT, "latest", 700, trace_id=ids[4]),
    ]
    random.Random(4).shuffle(lines)
    store = ingest(lines)
    assert [s.trace_id for s in store.summaries()] == [ids[4], ids[0], ids[3], ids[1], ids[2]]


# -- the schema -------------------------------------------------------------------------------------

ENCODED: dict[str, bytes] = {
    "process": process(),
    "span_start": start(ROOT, "agent", 1, inputs={"a": [1, 2]}),
    "span_start_child": start(LLM, "llm", 2, ROOT),
    "span_event": event(ROOT, "e", 3, {"k": "v"}),
    "span_end": end(ROOT, 4, outputs={"x": 1}, inputs={"a": 2}),
    "trace_update": schema.encode_trace_update(T1, {schema.TAGS: {"t": 1}}),
    "trace_summary": summary(),
    "encode": schema.encode({schema.KIND: schema.SPAN_EVENT, schema.TRACE_ID: T1, schema.SPAN_ID: ROOT,
                             schema.NAME: "n", schema.TIME_NS: 1}),
}  # fmt: skip


@pytest.mark.parametrize("line", list(ENCODED.values()), ids=list(ENCODED))
def test_every_encoded_record_starts_with_kind_then_trace_id(line):
    """Each encoder writes one newline-terminated line whose first two keys are kind, then trace_id."""
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    record = orjson.loads(line)
    assert list(record)[:2] == [schema.KIND, schema.TRACE_ID]
    assert record[schema.KIND] in schema.KINDS
    assert schema.decode(line) == record


@pytest.mark.parametrize("line", list(ENCODED.values()), ids=list(ENCODED))
def test_peek_route_reads_kind_and_trace_id_of_every_encoded_record(line):
    """peek_route gives (kind, trace_id) as bytes for each encoder's output, matching a full parse."""
    record = orjson.loads(line)
    trace_id = record[schema.TRACE_ID]
    expected = (record[schema.KIND].encode(), None if trace_id is None else trace_id.encode())
    assert schema.peek_route(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"garbage",
        b'{ "kind":"span_start","trace_id":"abc"}',
        b'{"trace_id":"abc","kind":"span_start"}',
        b'{"kind":"span_start"}',
        b'{"kind":"span_start","span_id":"1","trace_id":"abc"}',
        b'{"kind":"span_start","trace_id":17}',
        b'{"kind":"span_start","trace_id":"abc',
        b'{"kind":"span_st',
        b'["span_start","abc"]',
        b'{"kind":"span\\u005fstart","trace_id":null}',
        b'{"kind":"span_start","trace_id":"ab\\"cd"}',
    ],
)
def test_peek_route_is_none_for_lines_not_starting_like_a_record(line):
    """Lines that do not begin with the kind and trace_id keys are not routed (None)."""
    assert schema.peek_route(line) is None


@settings(max_examples=300, deadline=None)
@given(trace_id=st.text(max_size=40), kind=st.sampled_from(sorted(schema.KINDS)))
def test_peek_route_never_misroutes_whatever_the_trace_id(trace_id, kind):
    """For any trace id text, peek_route either declines (None) or returns exactly the parsed route."""
    line = schema.encode({schema.KIND: kind, schema.TRACE_ID: trace_id})
    route = schema.peek_route(line)
    assert route is None or route == (kind.encode(), trace_id.encode())
    if trace_id.isalnum() and trace_id.isascii():
        assert route == (kind.encode(), trace_id.encode())


@pytest.mark.parametrize(
    "line",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b"null",
        b'"span_start"',
        orjson.dumps({schema.TRACE_ID: T1}),
        orjson.dumps({schema.KIND: None, schema.TRACE_ID: T1}),
        _with(GOOD, TRACE_ID=None),
        _with(GOOD, START_NS="x"),
        _with(GOOD, START_NS=True),
        _with(GOOD, NAME=3),
        _with(end(ROOT, 2), STATUS=None),
        _with(event(ROOT, "e", 1), SPAN_ID=None),
        _with(summary(), END_NS=1.0),
        _with(process(), SCHEMA_VERSION_FIELD=None),
    ],
)
def test_decode_rejects_invalid_records_with_schema_error(line):
    """decode raises SchemaError (not a bare orjson or KeyError) for anything that is not a valid record."""
    with pytest.raises(schema.SchemaError) as info:
        schema.decode(line)
    assert not isinstance(info.value, schema.UnknownKindError)


def test_decode_rejects_unknown_kinds_with_unknown_kind_error():
    """A well-formed record of an unknown kind raises UnknownKindError, a SchemaError subclass."""
    line = schema.encode({schema.KIND: "from_the_future", schema.TRACE_ID: T1})
    with pytest.raises(schema.UnknownKindError):
        schema.decode(line)
    assert issubclass(schema.UnknownKindError, schema.SchemaError)


def test_decode_accepts_unknown_extra_fields_and_a_missing_newline():
    """Fields a newer writer adds are ignored; a line without its newline decodes the same."""
    record = _record(GOOD)
    record["added_later"] = {"x": 1}
    line = schema.encode(record)
    assert schema.decode(line.rstrip(b"\n"))["added_later"] == {"x": 1}
    assert schema.decode(line.decode())[schema.NAME] == "agent"

"""The span API: start_span, the live span's properties and methods, trace updates and previews, name
deduplication in the reader, and how the current span crosses asyncio tasks and threads."""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import load, span_records

import tracer


def tid(n: int = 1) -> str:
    return f"{n:032x}"


def sid(n: int) -> str:
    return f"{n:016x}"


def ns(tick: int) -> int:
    return 1_000_000_000 + 1_000 * tick


def of_kind(directory: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in span_records(directory) if r["kind"] == kind]


# -- start_span and the current span --------------------------------------------------------------


def test_current_span_is_none_outside(trace_dir: Path) -> None:
    """get_current_active_span() is None when no span is open."""
    assert tracer.get_current_active_span() is None
    with tracer.start_span("x"):
        pass
    assert tracer.get_current_active_span() is None


def test_start_span_nests_and_yields_live_span(deterministic: Path) -> None:
    """start_span yields the live span, makes it current, and nests under the enclosing span."""
    with tracer.start_span("outer", span_type=tracer.SpanType.CHAIN) as outer:
        assert tracer.get_current_active_span() is outer
        with tracer.start_span("inner", span_type="TOOL", attributes={"k": 1}) as inner:
            assert tracer.get_current_active_span() is inner
        assert tracer.get_current_active_span() is outer
    assert (outer.name, outer.span_type, outer.parent_id, outer.span_id) == ("outer", "CHAIN", None, sid(1))
    assert (inner.name, inner.span_type, inner.parent_id, inner.span_id) == ("inner", "TOOL", sid(1), sid(2))
    assert inner.trace_id == outer.trace_id == tid(1)
    assert span_records(deterministic) == [
        {
            "kind": "span_start",
            "trace_id": tid(1),
            "span_id": sid(1),
            "parent_id": None,
            "name": "outer",
            "span_type": "CHAIN",
            "start_ns": ns(0),
            "inputs": None,
            "attributes": {},
            "location": None,
        },
        {
            "kind": "span_start",
            "trace_id": tid(1),
            "span_id": sid(2),
            "parent_id": sid(1),
            "name": "inner",
            "span_type": "TOOL",
            "start_ns": ns(1),
            "inputs": None,
            "attributes": {"k": 1},
            "location": None,
        },
        {
            "kind": "span_end",
            "trace_id": tid(1),
            "span_id": sid(2),
            "end_ns": ns(2),
            "status": "OK",
            "status_message": "",
            "outputs": None,
            "attributes": {},
        },
        {
            "kind": "span_end",
            "trace_id": tid(1),
            "span_id": sid(1),
            "end_ns": ns(3),
            "status": "OK",
            "status_message": "",
            "outputs": None,
            "attributes": {},
        },
        {
            "kind": "trace_summary",
            "trace_id": tid(1),
            "root_span_id": sid(1),
            "name": "outer",
            "status": "OK",
            "start_ns": ns(0),
            "end_ns": ns(3),
            "span_count": 2,
            "error_count": 0,
            "request_preview": None,
            "response_preview": None,
            "tags": {},
            "metadata": {},
        },
    ]


def test_decorated_function_nests_under_start_span(deterministic: Path) -> None:
    """A traced function called inside start_span is its child and sees itself as the current span."""
    seen = []

    @tracer.trace
    def child() -> None:
        seen.append(tracer.get_current_active_span())

    with tracer.start_span("parent") as parent:
        child()
    (child_span,) = seen
    assert child_span.parent_id == parent.span_id
    assert child_span.name == "child"
    assert child_span.trace_id == parent.trace_id


def test_start_span_exception_recorded_and_reraised(deterministic: Path) -> None:
    """An exception leaving a start_span block marks the span ERROR with an event and propagates unchanged."""
    error = ValueError("inside")
    with pytest.raises(ValueError) as info, tracer.start_span("block"):
        raise error
    assert info.value is error
    (exc_event,) = of_kind(deterministic, "span_event")
    assert exc_event["name"] == "exception"
    assert exc_event["attributes"]["exception.type"] == "ValueError"
    (end,) = of_kind(deterministic, "span_end")
    assert (end["status"], end["status_message"]) == ("ERROR", "ValueError: inside")


def test_live_span_ids_format(trace_dir: Path) -> None:
    """Random ids: trace id 32 lowercase hex, span id 16 lowercase hex, request_id == trace_id."""
    with tracer.start_span("a", span_type="AGENT") as a, tracer.start_span("b") as b:
        pass
    for span in (a, b):
        assert re.fullmatch(r"[0-9a-f]{32}", span.trace_id)
        assert re.fullmatch(r"[0-9a-f]{16}", span.span_id)
        assert span.request_id == span.trace_id
    assert a.span_id != b.span_id
    assert b.parent_id == a.span_id
    assert (a.name, a.span_type, b.span_type) == ("a", "AGENT", "UNKNOWN")


def test_live_span_properties_read_only(trace_dir: Path) -> None:
    """trace_id, span_id, parent_id, name, span_type and request_id cannot be assigned."""
    with tracer.start_span("a") as span:
        for prop in ("trace_id", "span_id", "parent_id", "name", "span_type", "request_id"):
            with pytest.raises(AttributeError):
                setattr(span, prop, "x")


# -- annotating a span ----------------------------------------------------------------------------------


def test_set_inputs_and_outputs(deterministic: Path) -> None:
    """set_inputs/set_outputs land in the end record (inputs as set, outputs as set)."""
    with tracer.start_span("s") as span:
        span.set_inputs({"q": "question", "n": [1, 2]})
        span.set_outputs({"a": "answer"})
    (end,) = of_kind(deterministic, "span_end")
    assert end["inputs"] == {"q": "question", "n": [1, 2]}
    assert end["outputs"] == {"a": "answer"}
    store = load(deterministic)
    (span_json,) = store.get(tid(1)).to_json()["spans"]
    assert (span_json["inputs"], span_json["outputs"]) == ({"q": "question", "n": [1, 2]}, {"a": "answer"})


def test_set_outputs_wins_over_return_value(deterministic: Path) -> None:
    """A traced function that calls set_outputs keeps that output, not its return value."""

    @tracer.trace
    def fn() -> str:
        tracer.get_current_active_span().set_outputs({"explicit": True})
        return "returned"

    assert fn() == "returned"
    (end,) = of_kind(deterministic, "span_end")
    assert end["outputs"] == {"explicit": True}
    (summary,) = of_kind(deterministic, "trace_summary")
    assert summary["response_preview"] == '{"explicit":true}'


def test_set_attribute_and_attributes(deterministic: Path) -> None:
    """set_attribute and set_attributes add JSON-valued attributes to the end record."""
    with tracer.start_span("s", attributes={"initial": 0}) as span:
        span.set_attribute("one", 1)
        span.set_attributes({"two": [2, 2], "three": {"x": "3"}})
        span.set_attribute("one", "overwritten")
    (start,) = of_kind(deterministic, "span_start")
    (end,) = of_kind(deterministic, "span_end")
    assert start["attributes"] == {"initial": 0}
    assert end["attributes"] == {"one": "overwritten", "two": [2, 2], "three": {"x": "3"}}
    (span_json,) = load(deterministic).get(tid(1)).to_json()["spans"]
    assert span_json["attributes"] == {"initial": 0, "one": "overwritten", "two": [2, 2], "three": {"x": "3"}}


def test_add_event_by_name_and_object(deterministic: Path) -> None:
    """add_event(name, attributes) and add_event(SpanEvent(...)) write span_event records."""
    with tracer.start_span("s") as span:
        span.add_event("retrieved", {"docs": 3})
        span.add_event(tracer.SpanEvent("custom", attributes={"k": "v"}, timestamp=123))
        span.add_event(tracer.SpanEvent("plain"))
    events = of_kind(deterministic, "span_event")
    assert events == [
        {
            "kind": "span_event",
            "trace_id": tid(1),
            "span_id": sid(1),
            "name": "retrieved",
            "time_ns": ns(1),
            "attributes": {"docs": 3},
        },
        {
            "kind": "span_event",
            "trace_id": tid(1),
            "span_id": sid(1),
            "name": "custom",
            "time_ns": 123,
            "attributes": {"k": "v"},
        },
        {
            "kind": "span_event",
            "trace_id": tid(1),
            "span_id": sid(1),
            "name": "plain",
            "time_ns": ns(2),
            "attributes": {},
        },
    ]


def test_set_status(deterministic: Path) -> None:
    """set_status(ERROR, message) is written as is; set_status accepts the code constants and names."""
    with tracer.start_span("bad") as bad:
        bad.set_status(tracer.SpanStatusCode.ERROR, "went wrong")
    with tracer.start_span("good") as good:
        good.set_status("OK")
    with tracer.start_span("obj") as obj:
        obj.set_status(tracer.SpanStatus(tracer.SpanStatusCode.ERROR, "described"))
    ends = of_kind(deterministic, "span_end")
    assert [(e["status"], e["status_message"]) for e in ends] == [
        ("ERROR", "went wrong"),
        ("OK", ""),
        ("ERROR", "described"),
    ]
    summaries = of_kind(deterministic, "trace_summary")
    assert [(s["status"], s["error_count"]) for s in summaries] == [("ERROR", 1), ("OK", 0), ("ERROR", 1)]


def test_status_ok_by_default(deterministic: Path) -> None:
    """A span that ends without error has status OK (not UNSET), in records and in the reader."""
    with tracer.start_span("s") as span:
        assert span.status.status_code == "UNSET"
    assert span.status.status_code == "OK"
    (end,) = of_kind(deterministic, "span_end")
    assert end["status"] == "OK"
    assert load(deterministic).get(tid(1)).to_json()["status"] == "OK"


def test_record_exception(deterministic: Path) -> None:
    """record_exception adds an exception event and marks the span ERROR without raising."""
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:
        caught = exc
    with tracer.start_span("s") as span:
        span.record_exception(caught)
    (event,) = of_kind(deterministic, "span_event")
    assert event["name"] == "exception"
    assert event["time_ns"] == ns(1)
    attrs = event["attributes"]
    assert (attrs["exception.type"], attrs["exception.message"]) == ("ZeroDivisionError", "division by zero")
    assert "test_record_exception" in attrs["exception.stacktrace"]
    assert "ZeroDivisionError: division by zero" in attrs["exception.stacktrace"]
    (end,) = of_kind(deterministic, "span_end")
    assert (end["status"], end["status_message"]) == ("ERROR", "ZeroDivisionError: division by zero")


# -- traces: tags, metadata, previews -----------------------------------------------------------------


def test_update_current_trace(deterministic: Path) -> None:
    """update_current_trace writes trace_update records, and the summary carries tags, metadata, previews."""

    @tracer.trace
    def run(q: str) -> str:
        tracer.update_current_trace(tags={"env": "test"}, metadata={"user": "u1"})
        tracer.update_current_trace(
            tags={"version": 2}, request_preview="custom request", response_preview="custom response"
        )
        return "answer"

    run("question")
    assert of_kind(deterministic, "trace_update") == [
        {"kind": "trace_update", "trace_id": tid(1), "tags": {"env": "test"}, "metadata": {"user": "u1"}},
        {
            "kind": "trace_update",
            "trace_id": tid(1),
            "tags": {"version": 2},
            "request_preview": "custom request",
            "response_preview": "custom response",
        },
    ]
    (summary,) = of_kind(deterministic, "trace_summary")
    assert summary["tags"] == {"env": "test", "version": 2}
    assert summary["metadata"] == {"user": "u1"}
    assert (summary["request_preview"], summary["response_preview"]) == ("custom request", "custom response")
    shown = load(deterministic).get(tid(1)).to_json()
    assert (shown["tags"], shown["metadata"]) == ({"env": "test", "version": 2}, {"user": "u1"})
    assert (shown["request_preview"], shown["response_preview"]) == ("custom request", "custom response")


def test_update_current_trace_from_nested_span(deterministic: Path) -> None:
    """update_current_trace inside a child span updates the whole trace."""
    with tracer.start_span("root"), tracer.start_span("child"):
        tracer.update_current_trace(tags={"from": "child"})
    (summary,) = of_kind(deterministic, "trace_summary")
    assert (summary["name"], summary["tags"]) == ("root", {"from": "child"})


def test_update_current_trace_outside_trace_is_ignored(deterministic: Path) -> None:
    """update_current_trace with no current span writes nothing and does not raise."""
    tracer.update_current_trace(tags={"x": 1})
    assert span_records(deterministic) == []


def test_default_previews_compact_json(deterministic: Path) -> None:
    """Default previews are the root's inputs and outputs as compact JSON."""

    @tracer.trace
    def fn(a: int, b: list[int]) -> dict[str, Any]:
        return {"sum": a + sum(b), "ok": True}

    fn(1, [2, 3])
    (summary,) = of_kind(deterministic, "trace_summary")
    assert summary["request_preview"] == '{"a":1,"b":[2,3]}'
    assert summary["response_preview"] == '{"sum":6,"ok":true}'


def test_default_previews_truncated_to_1000_chars(deterministic: Path) -> None:
    """Default previews longer than 1000 characters are cut to 1000, ending in "..."."""

    @tracer.trace
    def fn(text: str) -> list[str]:
        return [text, text]

    text = "x" * 2000
    fn(text)
    (summary,) = of_kind(deterministic, "trace_summary")
    full_request = orjson.dumps({"text": text}).decode()
    full_response = orjson.dumps([text, text]).decode()
    assert summary["request_preview"] == full_request[:997] + "..."
    assert summary["response_preview"] == full_response[:997] + "..."
    assert len(summary["request_preview"]) == 1000


def test_default_previews_count_characters_not_bytes(deterministic: Path) -> None:
    """A preview of 610 non-ASCII characters (over 1000 bytes) is kept whole: the limit is in characters."""

    @tracer.trace
    def fn(text: str) -> dict[str, str]:
        return {"echo": text}

    text = "é" * 600
    fn(text)
    (summary,) = of_kind(deterministic, "trace_summary")
    assert summary["request_preview"] == orjson.dumps({"text": text}).decode()
    assert summary["response_preview"] == orjson.dumps({"echo": text}).decode()


def test_default_preview_of_huge_value(deterministic: Path) -> None:
    """A root input far over the value cap still gives a compact-JSON preview of 1000 characters."""
    tracer.configure(max_value_bytes=2048)

    @tracer.trace
    def fn(items: list[int]) -> int:
        return len(items)

    items = list(range(10_000))
    fn(items)
    (summary,) = of_kind(deterministic, "trace_summary")
    assert summary["request_preview"] == orjson.dumps({"items": items}).decode()[:997] + "..."
    assert summary["response_preview"] == "10000"


def test_get_last_active_trace_id(trace_dir: Path) -> None:
    """get_last_active_trace_id returns the id of the last trace whose root ended, not of a running one."""

    @tracer.trace
    def fn() -> str:
        return tracer.get_current_active_span().trace_id

    first = fn()
    assert tracer.get_last_active_trace_id() == first
    with tracer.start_span("root") as root:
        assert tracer.get_last_active_trace_id() == first
        with tracer.start_span("child"):
            pass
        assert tracer.get_last_active_trace_id() == first
    assert tracer.get_last_active_trace_id() == root.trace_id != first


# -- duplicate names ----------------------------------------------------------------------------------


def test_duplicate_names_deduplicated_by_reader(deterministic: Path) -> None:
    """The reader shows duplicate names as name_1, name_2, … in start order; raw_name keeps the original."""

    @tracer.trace
    def step(i: int) -> int:
        return i

    with tracer.start_span("pipeline"):
        step(0)
        with tracer.start_span("other"):
            step(1)
        step(2)
    spans = load(deterministic).get(tid(1)).to_json()["spans"]
    assert [(s["name"], s["raw_name"], s["inputs"]) for s in spans] == [
        ("pipeline", "pipeline", None),
        ("step_1", "step", {"i": 0}),
        ("other", "other", None),
        ("step_2", "step", {"i": 1}),
        ("step_3", "step", {"i": 2}),
    ]
    assert [r["name"] for r in of_kind(deterministic, "span_start")] == [
        "pipeline",
        "step",
        "other",
        "step",
        "step",
    ]


# -- contextvars: tasks and threads -------------------------------------------------------------------


async def test_asyncio_tasks_inherit_current_span(deterministic: Path) -> None:
    """Traced coroutines run as tasks (gather) inside a span are its children."""

    @tracer.trace
    async def work(i: int) -> int:
        await asyncio.sleep(0.001 * (3 - i))
        return i

    with tracer.start_span("outer") as outer:
        assert await asyncio.gather(*(work(i) for i in range(3))) == [0, 1, 2]
        task = asyncio.create_task(work(9))
        assert await task == 9
    starts = [r for r in of_kind(deterministic, "span_start") if r["name"] == "work"]
    assert len(starts) == 4
    assert {(r["parent_id"], r["trace_id"]) for r in starts} == {(outer.span_id, outer.trace_id)}


def test_threads_do_not_inherit_without_copy_context(trace_dir: Path) -> None:
    """A span opened in a plain thread starts its own trace; with copy_context().run it nests."""
    seen: dict[str, Any] = {}

    @tracer.trace
    def in_thread(label: str) -> None:
        span = tracer.get_current_active_span()
        seen[label] = (span.trace_id, span.parent_id)

    with tracer.start_span("outer") as outer:
        plain = threading.Thread(target=in_thread, args=("plain",))
        plain.start()
        plain.join()
        ctx = contextvars.copy_context()
        copied = threading.Thread(target=ctx.run, args=(in_thread, "copied"))
        copied.start()
        copied.join()
    assert seen["plain"][1] is None
    assert seen["plain"][0] != outer.trace_id
    assert seen["copied"] == (outer.trace_id, outer.span_id)


def test_wrap_context_with_thread_pool_map(trace_dir: Path) -> None:
    """executor.map(tracer.wrap_context(fn), …) runs workers concurrently in several threads, all nested
    under the caller's span."""
    workers = 4
    barrier = threading.Barrier(workers, timeout=10)
    threads: set[int] = set()

    @tracer.trace
    def work(i: int) -> tuple[str, str | None]:
        threads.add(threading.get_ident())
        if i < workers:
            barrier.wait()  # the first `workers` calls are in flight at the same time
        with tracer.start_span(f"sub{i}") as sub:
            pass
        return tracer.get_current_active_span().parent_id, sub.parent_id

    with tracer.start_span("caller") as caller, ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(tracer.wrap_context(work), range(12)))
    assert len(threads) == workers
    assert {parent for parent, _ in results} == {caller.span_id}
    trace = load(trace_dir).get(caller.trace_id)
    spans = trace.to_json()["spans"]
    assert len(spans) == 1 + 12 * 2
    by_id = {s["span_id"]: s for s in spans}
    work_spans = [s for s in spans if s["raw_name"] == "work"]
    assert len(work_spans) == 12
    assert {s["parent_id"] for s in work_spans} == {caller.span_id}
    assert sorted(s["inputs"]["i"] for s in work_spans) == list(range(12))
    for i in range(12):
        (sub,) = [s for s in spans if s["raw_name"] == f"sub{i}"]
        assert by_id[sub["parent_id"]]["raw_name"] == "work"
        assert by_id[sub["parent_id"]]["inputs"] == {"i": i}
    assert trace.summary().span_count == 25
    assert trace.summary().status == "OK"


def test_wrap_context_preserves_metadata() -> None:
    """wrap_context keeps the wrapped function's name and returns its result."""

    def compute(x: int) -> int:
        return x * 3

    wrapped = tracer.wrap_context(compute)
    assert wrapped.__name__ == "compute"
    assert wrapped(2) == 6

"""Reader fuzzing: the tailer and the store fed garbage, truncated, oversized, deeply nested, unknown,
future-versioned, duplicate and contradicting records. Nothing raises, memory stays bounded, and every
invalid line is counted exactly once in `lines_skipped`.

The oracle for "invalid" is `schema.decode` itself: a non-blank line is invalid when it raises
`SchemaError`. The store validates lines that route by their first bytes only when their trace is
parsed, so every check opens every trace with `get()` first (twice, with the parsed-trace cache both on
and off, so a line seen again is not counted again).

The 100 MB line runs only with RUN_SLOW=1 (`RUN_SLOW=1 pytest -m slow tests/test_fuzz_reader.py`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tui.tailer as tailer_module
from tracer import schema
from tui.store import TraceStore
from tui.tailer import DirectoryTailer

slow = pytest.mark.skipif(os.environ.get("RUN_SLOW") != "1", reason="on demand: set RUN_SLOW=1")

TID = "0123456789abcdef0123456789abcdef"
TID2 = "fedcba9876543210fedcba9876543210"
ROOT_ID = "1" * 16
CHILD_ID = "2" * 16


def trace_lines(tid: str = TID) -> list[bytes]:
    """One complete trace as our writer writes it, each encoder used at least once (newlines included)."""
    return [
        schema.encode_process(pid=7, host="h", argv=["p.py"], python="3.11", tracer_version="0", start_ns=1),
        schema.encode_span_start(
            tid, ROOT_ID, None, "root", "CHAIN", 100, {"q": "héllo"}, {"a": 1}, {"file": "p.py", "line": 3}
        ),
        schema.encode_span_start(tid, CHILD_ID, ROOT_ID, "child", "TOOL", 110, {"x": [1, 2]}, {}, None),
        schema.encode_span_event(tid, CHILD_ID, "tick", 115, {"n": "one"}),
        schema.encode_span_end(tid, CHILD_ID, 120, schema.STATUS_ERROR, "boom", None, {}),
        schema.encode_span_end(tid, ROOT_ID, 130, schema.STATUS_OK, "", "done", {"b": 2}),
        schema.encode_trace_update(tid, {schema.TAGS: {"k": "v"}, schema.REQUEST_PREVIEW: "req"}),
        schema.encode_trace_summary(
            tid,
            root_span_id=ROOT_ID,
            name="root",
            status=schema.STATUS_OK,
            start_ns=100,
            end_ns=130,
            span_count=2,
            error_count=1,
            request_preview="req",
            response_preview="done",
            tags={"k": "v"},
            metadata={},
        ),
    ]


VALID = trace_lines() + trace_lines(TID2)[1:]


def expected_bad(data: bytes) -> int:
    """How many complete lines of `data` a correct reader must skip (the half line at the end waits)."""
    bad = 0
    for line in data.split(b"\n")[:-1]:
        if not line.strip():
            continue
        try:
            schema.decode(line)
        except schema.SchemaError:
            bad += 1
    return bad


def all_trace_ids(store: TraceStore) -> set[str]:
    # Listed traces and those known only from lines not yet listable (a child before its root).
    return set(store.trace_ids()) | set(store._entries)


def exercise(store: TraceStore) -> None:
    """Every way a viewer or the CLI asks the store something, for every trace it knows."""
    ids = all_trace_ids(store)
    for trace_id in sorted(ids):
        for _ in range(2):  # parsed, then (with the cache off) parsed again: counted once all the same
            trace = store.get(trace_id)
            assert trace is not None
            trace.to_json()
            trace.summary().to_json()
            for span in trace.spans:
                trace.children(span.span_id)
                span.to_json()
            _ = trace.root
        store.summary(trace_id)
        found = store.find(trace_id)
        if trace_id == trace_id.strip().lower():  # find() takes what a user types: trimmed, any case
            assert found == [trace_id]
        store.find(trace_id[:3])
    view = store.view()
    rows = list(view)
    assert len(rows) == len(view) == len(store.summaries())
    for row in rows:
        row.to_json()
        assert view.index_of(row.trace_id) is not None
    for needle in ("", "a", "root", "\x00", "é"):
        found = store.search(needle)
        list(found)
    store.find("")


def read_with_tailer(directory: Path, cache: bool = True) -> tuple[TraceStore, DirectoryTailer]:
    store = TraceStore()
    if not cache:
        store.LOADED_TRACES = 0  # every get() parses again
    tailer = DirectoryTailer(directory)
    for chunk in tailer.poll_chunks():
        store.ingest(chunk)
    return store, tailer


def check_file(
    data: bytes,
    *,
    cache: bool = True,
    pieces: list[int] | None = None,
    inspect: Callable[[TraceStore], None] = lambda store: None,
) -> int:
    """Write `data` to a trace file (appended in `pieces` with polls between), read it, check the count
    (and `inspect` the store, while the file still exists); the same for the lines fed one by one.
    Returns the skip count."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path = directory / ("20240101T000000-h-1-001" + schema.FILE_SUFFIX)
        store = TraceStore()
        if not cache:
            store.LOADED_TRACES = 0
        tailer = DirectoryTailer(directory)
        cuts = sorted({0, len(data), *(p % (len(data) + 1) for p in pieces or [])})
        for start, end in itertools.pairwise(cuts):
            with open(path, "ab") as handle:
                handle.write(data[start:end])
            for chunk in tailer.poll_chunks():
                store.ingest(chunk)
            for trace_id in all_trace_ids(store):  # a viewer opens traces while lines still arrive
                store.get(trace_id)
        exercise(store)
        assert store.lines_skipped == expected_bad(data), data[:300]
        exercise(store)
        assert store.lines_skipped == expected_bad(data), "a bad line was counted twice"
        inspect(store)

        # The same lines fed one by one without a file location: the same count.
        by_line = TraceStore()
        for line in data.split(b"\n")[:-1]:
            by_line.ingest_line(line)
        exercise(by_line)
        assert by_line.lines_skipped == expected_bad(data)
        inspect(by_line)
        return store.lines_skipped


@contextlib.contextmanager
def tailer_limits(read_chunk: int, max_line: int) -> Iterator[None]:
    saved = tailer_module.READ_CHUNK_BYTES, tailer_module.MAX_LINE_BYTES
    tailer_module.READ_CHUNK_BYTES, tailer_module.MAX_LINE_BYTES = read_chunk, max_line
    try:
        yield
    finally:
        tailer_module.READ_CHUNK_BYTES, tailer_module.MAX_LINE_BYTES = saved


# -- random bytes ------------------------------------------------------------------------------------

_line = st.one_of(
    st.sampled_from(VALID).map(lambda line: line[:-1]),
    st.binary(max_size=80),
    st.sampled_from(VALID).flatmap(  # a valid line with some bytes overwritten
        lambda line: st.tuples(st.integers(0, len(line) - 2), st.binary(min_size=1, max_size=4)).map(
            lambda cut: line[: cut[0]] + cut[1] + line[cut[0] + len(cut[1]) : -1]
        )
    ),
    st.sampled_from(VALID).flatmap(  # a valid line missing its tail or its head
        lambda line: st.integers(0, len(line) - 1).flatmap(
            lambda at: st.sampled_from([line[:at], line[at:-1]])
        )
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_line, max_size=25),
    tail=st.binary(max_size=30),
    pieces=st.lists(st.integers(0, 10_000), max_size=4),
    cache=st.booleans(),
    read_chunk=st.sampled_from([7, 64, 16 * 1024 * 1024]),
)
def test_random_and_mutated_lines_never_raise_and_each_bad_line_is_counted_once(
    lines, tail, pieces, cache, read_chunk
):
    """Random bytes, mutated and cut records, appended in random pieces: no exception, exact skip count."""
    data = b"\n".join(lines) + b"\n" + tail
    with tailer_limits(read_chunk, tailer_module.MAX_LINE_BYTES):
        check_file(data, cache=cache, pieces=pieces)


@settings(max_examples=60, deadline=None)
@given(blob=st.binary(min_size=1, max_size=2000))
def test_pure_random_bytes_never_raise(blob):
    """Arbitrary bytes as a trace file: nothing raises and the skip count matches the decoder's verdict."""
    check_file(blob + b"\n")


# -- truncated records ----------------------------------------------------------------------------------


def both_roots_read(store: TraceStore) -> None:
    assert [s.raw_name for s in store.get(TID2).spans] == ["root", "child"]


@pytest.mark.parametrize("index", range(len(VALID)), ids=lambda i: VALID[i][:24].decode())
def test_every_truncation_of_every_record_is_one_skipped_line(index):
    """A record cut at any byte, then a newline, is one skipped line; the records around it are read."""
    record = VALID[index]
    before, after = trace_lines(TID)[:2], trace_lines(TID2)[1:3]
    for cut in range(1, len(record) - 1):
        data = b"".join(before) + record[:cut] + b"\n" + b"".join(after)
        skipped = check_file(data, cache=cut % 2 == 0, inspect=both_roots_read)
        assert skipped == 1, (cut, record[:cut])


def test_a_record_completed_by_a_later_write_is_read_whole_and_not_skipped(tmp_path: Path):
    """Half a record at the end of the file waits for its newline; once completed it is read, not skipped."""
    path = tmp_path / ("x" + schema.FILE_SUFFIX)
    data = b"".join(trace_lines())
    store, tailer = TraceStore(), DirectoryTailer(tmp_path)
    for start in range(0, len(data), 37):
        with open(path, "ab") as handle:
            handle.write(data[start : start + 37])
        for chunk in tailer.poll_chunks():
            store.ingest(chunk)
        assert store.lines_skipped == 0
    assert path.read_bytes() == data
    exercise(store)
    assert store.lines_skipped == 0
    assert [s.raw_name for s in store.get(TID).spans] == ["root", "child"]


# -- invalid UTF-8 ---------------------------------------------------------------------------------------

BAD_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80"]


@pytest.mark.parametrize("bad", BAD_UTF8, ids=lambda b: b.hex())
@pytest.mark.parametrize(
    "target",
    [b"root", b"child", b"tick", b"h\xc3\xa9llo", b"boom", b"done", TID.encode()[:4], ROOT_ID.encode()[:4]],
    ids=lambda t: t[:6].decode(errors="replace"),
)
def test_invalid_utf8_inside_strings_is_skipped_once_per_line(bad, target):
    """Invalid UTF-8 in any string, the routed trace id included: exactly the lines holding it are skipped."""
    clean = b"".join(VALID)
    data = clean.replace(target, bad + target[len(bad) :] if len(target) > len(bad) else bad)
    hit = sum(1 for line in clean.split(b"\n") if target in line)
    assert hit > 0
    assert check_file(data) == hit


# -- oversized lines -----------------------------------------------------------------------------------


def _oversized_file(path: Path, size: int, valid_json: bool) -> None:
    with open(path, "wb") as out:
        out.write(b"".join(trace_lines(TID)))
        if valid_json:  # a routable record: the store must not buffer it either
            out.write(b'{"kind":"span_start","trace_id":"' + TID2.encode() + b'","name":"')
        block = b"x" * (1 << 20)
        for _ in range(size >> 20):
            out.write(block)
        out.write(b'"}\n' if valid_json else b"\n")
        out.write(b"".join(trace_lines(TID2)[1:]))


def _read_oversized(directory: Path, size: int) -> tuple[TraceStore, DirectoryTailer, int]:
    tracemalloc.start()
    try:
        store, tailer = read_with_tailer(directory)
        exercise(store)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return store, tailer, peak


@pytest.mark.parametrize("valid_json", [False, True], ids=["garbage", "record"])
def test_a_line_over_the_cap_is_one_skipped_line_and_memory_stays_well_below_its_size(
    tmp_path: Path, valid_json: bool
):
    """A 4 MB line over a 256 KiB cap is one skipped line, and peak memory stays under a quarter of it."""
    size = 4 << 20
    _oversized_file(tmp_path / ("a" + schema.FILE_SUFFIX), size, valid_json)
    with tailer_limits(64 * 1024, 256 * 1024):
        store, tailer, peak = _read_oversized(tmp_path, size)
    assert tailer.oversized_lines == 1
    assert store.lines_skipped == 1
    assert [s.raw_name for s in store.get(TID2).spans] == ["root", "child"]
    assert peak < size / 4, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB line"


def test_a_multi_megabyte_record_under_the_cap_is_read(tmp_path: Path):
    """A 3 MB record (under the default cap) is a record like any other: read, not skipped."""
    big = "y" * (3 << 20)
    lines = trace_lines()
    lines[1] = schema.encode_span_start(TID, ROOT_ID, None, "root", "CHAIN", 100, {"q": big}, {}, None)
    (tmp_path / ("a" + schema.FILE_SUFFIX)).write_bytes(b"".join(lines))
    store, _ = read_with_tailer(tmp_path)
    exercise(store)
    assert store.lines_skipped == 0
    assert store.get(TID).root.inputs == {"q": big}


@pytest.mark.slow
@slow
def test_a_100_mb_line_with_the_default_caps_is_skipped_and_memory_is_bounded_by_the_cap(tmp_path: Path):
    """A 100 MB line at the real caps is one skipped line; peak memory is bounded by the cap, not the line."""
    size = 100 << 20
    _oversized_file(tmp_path / ("a" + schema.FILE_SUFFIX), size, valid_json=True)
    store, tailer, peak = _read_oversized(tmp_path, size)
    assert tailer.oversized_lines == 1
    assert store.lines_skipped == 1
    assert [s.raw_name for s in store.get(TID2).spans] == ["root", "child"]
    bound = 2 * tailer_module.MAX_LINE_BYTES + 2 * tailer_module.READ_CHUNK_BYTES
    print(f"100 MiB line: peak {peak / 2**20:.0f} MiB (bound {bound / 2**20:.0f} MiB)")
    assert peak < bound


@pytest.mark.slow
@slow
def test_a_100_mb_line_over_a_1_mb_cap_costs_a_few_mb(tmp_path: Path):
    """A 100 MB line over a 1 MiB cap: peak memory a few MiB, far below the line's size."""
    size = 100 << 20
    _oversized_file(tmp_path / ("a" + schema.FILE_SUFFIX), size, valid_json=False)
    with tailer_limits(256 * 1024, 1 << 20):
        store, tailer, peak = _read_oversized(tmp_path, size)
    assert tailer.oversized_lines == 1 and store.lines_skipped == 1
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB"


# -- deep nesting ---------------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [300, 1000, 10_000])
def test_deeply_nested_values_never_raise(depth):
    """Values 300/1,000/10,000 deep anywhere never raise; lines deeper than 1,024 are skipped, once each."""
    nest = _nested(depth)
    tid = TID.encode()
    lines = [
        b'{"kind":"process","trace_id":null,"schema_version":1,"pid":1,"argv":' + nest + b"}",
        b'{"kind":"span_start","trace_id":"' + tid + b'","span_id":"' + ROOT_ID.encode()
        + b'","parent_id":null,"name":"root","span_type":"T","start_ns":1,"inputs":' + nest
        + b',"attributes":{"a":' + nest + b'},"location":null}',
        b'{"kind":"span_start","trace_id":"' + tid + b'","span_id":"' + CHILD_ID.encode()
        + b'","parent_id":"' + ROOT_ID.encode() + b'","name":"c","span_type":"T","start_ns":2,"inputs":{"x":'
        + nest + b"}}",
        b'{"kind":"span_event","trace_id":"' + tid + b'","span_id":"' + CHILD_ID.encode()
        + b'","name":"e","time_ns":3,"attributes":{"v":' + nest + b"}}",
        b'{"kind":"span_end","trace_id":"' + tid + b'","span_id":"' + ROOT_ID.encode()
        + b'","end_ns":4,"status":"OK","status_message":"","outputs":' + nest + b',"attributes":{}}',
        b'{"kind":"trace_update","trace_id":"' + tid + b'","tags":{"t":' + nest + b'},"request_preview":'
        + nest + b"}",
        b'{"kind":"trace_summary","trace_id":"' + TID2.encode() + b'","name":"s","status":"OK",'
        b'"start_ns":1,"end_ns":2,"tags":{"t":' + nest + b'},"metadata":' + nest + b"}",
    ]  # fmt: skip
    data = b"\n".join(lines) + b"\n" + b"".join(trace_lines(TID2)[1:])
    assert check_file(data) == (len(lines) if depth > 1024 else 0)


# -- unknown kinds, future versions, unknown fields ----------------------------------------------------


def test_future_schema_version_unknown_fields_and_unknown_kinds(tmp_path: Path):
    """Schema version 99 and unknown fields are read; each record of an unknown kind is skipped once."""
    lines = [
        b'{"kind":"process","trace_id":null,"schema_version":99,"pid":42,"host":"h","argv":["a"],'
        b'"compression":"zstd","future":{"x":[1,2]}}\n',
        b'{"kind":"span_link","trace_id":"' + TID.encode() + b'","span_id":"' + ROOT_ID.encode() + b'"}\n',
        b'{"kind":"metric","trace_id":null,"value":1}\n',
        b'{"kind":"","trace_id":"' + TID.encode() + b'"}\n',
        *trace_lines(TID)[1:],
        b'{"kind":"span_start","trace_id":"' + TID.encode() + b'","span_id":"' + b"3" * 16
        + b'","parent_id":"' + ROOT_ID.encode() + b'","name":"new","start_ns":111,"weight":3,"links":[]}\n',
    ]  # fmt: skip
    path = tmp_path / ("a" + schema.FILE_SUFFIX)
    path.write_bytes(b"".join(lines))
    store, _ = read_with_tailer(tmp_path)
    exercise(store)
    assert store.lines_skipped == 3
    info = store.processes[str(path)]
    assert (info.schema_version, info.pid) == (99, 42)
    assert [s.raw_name for s in store.get(TID).spans] == ["root", "child", "new"]
    assert check_file(b"".join(lines)) == 3


# -- duplicates and contradictions ---------------------------------------------------------------------


def test_duplicate_and_contradicting_records_never_raise():
    """Duplicate/contradicting records never raise or skip; each span listed once, the last summary wins."""
    lines = trace_lines(TID)
    contradictions = [
        schema.encode_span_end(TID, CHILD_ID, 125, schema.STATUS_OK, "", "fine after all", {}),
        schema.encode_span_start(TID, CHILD_ID, ROOT_ID, "renamed", "LLM", 111, None, {}, None),
        schema.encode_span_start(TID, ROOT_ID, CHILD_ID, "root", "CHAIN", 100, None, {}, None),  # a cycle
        schema.encode_trace_summary(
            TID,
            root_span_id="9" * 16,
            name="not the root's name",
            status=schema.STATUS_ERROR,
            start_ns=5,
            end_ns=1,
            span_count=1,
            error_count=7,
            request_preview=None,
            response_preview=None,
            tags={"k": "other"},
            metadata={},
        ),
    ]
    data = b"".join(lines + lines[1:] + contradictions)
    last_summary_name = ["not the root's name"]

    def each_span_once(store: TraceStore) -> None:
        trace = store.get(TID)
        assert sorted(s.span_id for s in trace.spans) == [ROOT_ID, CHILD_ID]
        assert trace.get_span(CHILD_ID).raw_name in {"child", "renamed"}
        assert trace.get_span(CHILD_ID).status in {schema.STATUS_OK, schema.STATUS_ERROR}
        (summary,) = store.summaries()
        assert summary.name == last_summary_name[0]  # the summary record read last is the last word

    assert check_file(data, inspect=each_span_once) == 0
    # The same lines in reverse order (ends before starts, the contradiction first) read without error.
    reversed_data = b"\n".join(reversed(data.split(b"\n")[:-1])) + b"\n"
    last_summary_name[0] = "root"
    assert check_file(reversed_data, inspect=each_span_once) == 0

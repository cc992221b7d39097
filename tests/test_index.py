"""The persistent index (tui/index.py) and the store's index behaviour, against real trace files: a
snapshot is written and reused (reading only what was appended), rebuilt when a file was truncated,
replaced or deleted or the snapshot is corrupt, skipped where it cannot be written; traces listed without
parsing their span records, parsed on demand from one or several files, evicted and reloaded, and kept
live once loaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from _pilot import app_of, run_app, simple_trace, span_end, span_start, trace_id_of, wait_for

import tracer
from tracer import schema
from tracer.writer import writer
from tui import index as index_module
from tui.index import index_path, load_index, open_store, save_index
from tui.store import TraceStore, load_directory
from tui.tailer import Chunk, DirectoryTailer
from tui.widgets.trace_list import TraceList

T0 = 1_700_000_000_000_000_000

# -- helpers --------------------------------------------------------------------------------------------


def sdk_traces(*names: str) -> None:
    """One trace per name through the real SDK (root with inputs/outputs, two children), flushed."""
    for name in names:
        with tracer.start_span(name, span_type="AGENT") as root:
            root.set_inputs({"question": name})
            with tracer.start_span("retrieve", span_type="RETRIEVER"):
                pass
            with tracer.start_span("answer", span_type="LLM") as llm:
                llm.set_outputs(f"answer to {name}")
            root.set_outputs({"answer": name.upper()})
    tracer.flush()


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*" + schema.FILE_SUFFIX))


def names_of(store: TraceStore) -> list[str]:
    return sorted(summary.name for summary in store.summaries())


def contents(store: TraceStore) -> dict[str, Any]:
    """Everything a reader sees of a store: every summary and every parsed trace."""
    return {
        "summaries": [summary.to_json() for summary in store.summaries()],
        "traces": {trace_id: store.get(trace_id).to_json() for trace_id in store.trace_ids()},  # type: ignore[union-attr]
    }


def line_count(directory: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in segments(directory))


class IngestSpy:
    """Counts the chunks and bytes every `TraceStore.ingest` takes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.chunks: list[Chunk] = []
        original = TraceStore.ingest

        def ingest(store: TraceStore, chunk: Chunk) -> None:
            self.chunks.append(chunk)
            original(store, chunk)

        monkeypatch.setattr(TraceStore, "ingest", ingest)

    @property
    def bytes(self) -> int:
        return sum(len(chunk.data) for chunk in self.chunks)

    def reset(self) -> None:
        self.chunks.clear()


def snapshot_document(directory: Path) -> dict[str, Any]:
    return orjson.loads(index_path(directory).read_bytes())


# -- the snapshot ---------------------------------------------------------------------------------------


def test_open_store_writes_a_snapshot_and_the_next_open_reads_nothing(trace_dir: Path, monkeypatch):
    """A second open of an unchanged directory restores the snapshot and reads no trace bytes at all."""
    sdk_traces("alpha", "beta", "gamma")
    spy = IngestSpy(monkeypatch)
    first, _ = open_store(trace_dir)
    assert spy.bytes == sum(path.stat().st_size for path in segments(trace_dir))
    assert index_path(trace_dir).is_file()
    assert snapshot_document(trace_dir)["version"] == index_module.INDEX_VERSION

    spy.reset()
    second, _ = open_store(trace_dir)
    assert spy.bytes == 0
    assert names_of(second) == ["alpha", "beta", "gamma"]
    assert second.lines_read == first.lines_read == line_count(trace_dir)
    assert contents(second) == contents(first)


def test_appended_file_is_picked_up_reading_only_the_new_bytes(trace_dir: Path, monkeypatch):
    """Traces appended after indexing appear on reopen, old ones intact; only the appended bytes are read."""
    sdk_traces("old_1", "old_2")
    open_store(trace_dir)
    (path,) = segments(trace_dir)
    indexed_size = path.stat().st_size
    sdk_traces("new_1", "new_2", "new_3")
    assert segments(trace_dir) == [path]  # same file, appended to
    appended = path.stat().st_size - indexed_size

    spy = IngestSpy(monkeypatch)
    store, _ = open_store(trace_dir)
    assert spy.bytes == appended
    assert all(chunk.offset >= indexed_size and not chunk.reset for chunk in spy.chunks)
    assert names_of(store) == ["new_1", "new_2", "new_3", "old_1", "old_2"]
    assert len(store) == 5
    assert store.lines_read == line_count(trace_dir)
    assert store.lines_skipped == 0
    assert contents(store) == contents(load_directory(trace_dir))
    # ... and the snapshot was brought up to date: a third open reads nothing.
    spy.reset()
    third, _ = open_store(trace_dir)
    assert spy.bytes == 0
    assert len(third) == 5


def test_new_segment_file_after_indexing_is_picked_up(trace_dir: Path, monkeypatch):
    """A segment file created after indexing is read whole on reopen; the indexed one is not read again."""
    sdk_traces("first")
    open_store(trace_dir)
    writer.close()  # the next trace goes to a new file
    sdk_traces("second")
    _, new = segments(trace_dir)
    spy = IngestSpy(monkeypatch)
    store, _ = open_store(trace_dir)
    assert {chunk.source for chunk in spy.chunks} == {str(new)}
    assert spy.bytes == new.stat().st_size
    assert names_of(store) == ["first", "second"]
    assert contents(store) == contents(load_directory(trace_dir))


def test_half_written_last_line_is_not_in_the_snapshot_and_is_read_once_complete(tmp_path: Path):
    """A snapshot taken while a line is half written stops before it; the line is read once it completes."""
    path = tmp_path / "a.jsonl"
    complete = simple_trace(trace_id_of(1), "done", T0)
    pending = span_start(trace_id_of(2), "2" * 16, "later", T0 + 10)
    path.write_bytes(b"".join(complete) + pending[:20])
    first, _ = open_store(tmp_path)
    assert names_of(first) == ["done"]
    with open(path, "ab") as handle:
        handle.write(pending[20:])
    store, _ = open_store(tmp_path)
    assert names_of(store) == ["done", "later"]
    assert store.lines_skipped == 0
    assert store.lines_read == len(complete) + 1


# -- stale snapshots ----------------------------------------------------------------------------------


def test_truncated_file_is_reindexed_from_scratch(trace_dir: Path, monkeypatch):
    """A file shorter than its indexed offset voids the snapshot: the directory is indexed again."""
    sdk_traces("one", "two", "three")
    open_store(trace_dir)
    (path,) = segments(trace_dir)
    lines = path.read_bytes().splitlines(keepends=True)
    # Keep the process header and the first trace only (every trace ends with its summary record).
    first_summary = next(i for i, line in enumerate(lines) if b'"trace_summary"' in line)
    with open(path, "r+b") as handle:  # truncated in place: same inode
        handle.truncate(sum(len(line) for line in lines[: first_summary + 1]))
    assert load_index(DirectoryTailer(trace_dir)) is None

    spy = IngestSpy(monkeypatch)
    store, _ = open_store(trace_dir)
    assert spy.bytes == path.stat().st_size  # read again from the start
    assert names_of(store) == ["one"]
    assert store.lines_read == first_summary + 1
    assert contents(store) == contents(load_directory(trace_dir))
    assert load_index(DirectoryTailer(trace_dir)) is not None  # rewritten for the new contents


def test_file_rewritten_in_place_to_a_longer_one_is_reindexed(tmp_path: Path):
    """Same inode, at least as long, different bytes before the indexed offset: rebuilt, not appended."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(simple_trace(trace_id_of(1), "before", T0)))
    open_store(tmp_path)
    inode = path.stat().st_ino
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(b"".join(simple_trace(trace_id_of(2), "after_a", T0 + 1, children=["c1", "c2"])))
        handle.write(b"".join(simple_trace(trace_id_of(3), "after_b", T0 + 2)))
    assert path.stat().st_ino == inode
    store, _ = open_store(tmp_path)
    assert names_of(store) == ["after_a", "after_b"]
    assert trace_id_of(1) not in store
    assert contents(store) == contents(load_directory(tmp_path))


def test_replaced_file_is_reindexed(trace_dir: Path):
    """A file replaced by another (os.replace, new inode) voids the snapshot; its new content is indexed."""
    sdk_traces("original_a", "original_b")
    open_store(trace_dir)
    (path,) = segments(trace_dir)
    replacement = trace_dir / "replacement.tmp"
    data = b"".join(simple_trace(trace_id_of(7), "replacement", T0, children=["x"]))
    padding = b"".join(
        line for i in range(40) for line in simple_trace(trace_id_of(8 + i), f"pad_{i}", T0 + i + 1)
    )
    replacement.write_bytes(data + padding)
    assert replacement.stat().st_size > path.stat().st_size  # so only the inode tells them apart
    os.replace(replacement, path)
    assert load_index(DirectoryTailer(trace_dir)) is None
    store, _ = open_store(trace_dir)
    assert "original_a" not in names_of(store)
    assert "replacement" in names_of(store)
    assert len(store) == 41
    assert contents(store) == contents(load_directory(trace_dir))


def test_deleted_segment_is_rebuilt_without_its_traces(trace_dir: Path):
    """A segment deleted since indexing voids the snapshot; the rebuilt store lacks its traces."""
    sdk_traces("kept_1", "kept_2")
    writer.close()
    sdk_traces("doomed_1", "doomed_2")
    writer.close()
    first, second = segments(trace_dir)
    store, _ = open_store(trace_dir)
    assert len(store) == 4
    second.unlink()
    assert load_index(DirectoryTailer(trace_dir)) is None
    store, _ = open_store(trace_dir)
    assert names_of(store) == ["kept_1", "kept_2"]
    assert store.lines_read == line_count(trace_dir)
    assert snapshot_document(trace_dir)["store"]["files"] == [first.name]
    assert contents(store) == contents(load_directory(trace_dir))


# -- corrupt snapshots --------------------------------------------------------------------------------

_CORRUPT: dict[str, Any] = {
    "garbage bytes": b"\x00\xff\xfe garbage \x13\x37",
    "empty file": b"",
    "truncated json": None,  # the real snapshot cut in half (filled in by the test)
    "wrong version": None,  # the real snapshot with another version number
    "json null": b"null",
    "json list": b"[1, 2, 3]",
    "json string": b'"index"',
    "no files": orjson.dumps({"version": 1, "store": {}}),
    "files not a list": orjson.dumps({"version": 1, "files": 42, "store": {}}),
    "file item not an object": orjson.dumps({"version": 1, "files": ["x"], "store": {}}),
    "store missing": orjson.dumps({"version": 1, "files": []}),
    "store of the wrong shape": orjson.dumps({"version": 1, "files": [], "store": {"entries": 5}}),
}


def _corrupt_bytes(kind: str, valid: bytes) -> bytes:
    if kind == "truncated json":
        return valid[: len(valid) // 2]
    if kind == "wrong version":
        document = orjson.loads(valid)
        document["version"] = index_module.INDEX_VERSION + 1
        return orjson.dumps(document)
    data = _CORRUPT[kind]
    assert data is not None
    return data


@pytest.mark.parametrize("kind", list(_CORRUPT))
def test_corrupt_snapshot_is_ignored_rebuilt_and_rewritten_valid(trace_dir: Path, monkeypatch, kind: str):
    """A corrupt snapshot never raises: the directory is indexed from scratch and a valid snapshot written."""
    sdk_traces("one", "two")
    expected_store, _ = open_store(trace_dir)
    expected = contents(expected_store)
    target = index_path(trace_dir)
    target.write_bytes(_corrupt_bytes(kind, target.read_bytes()))
    assert load_index(DirectoryTailer(trace_dir)) is None

    spy = IngestSpy(monkeypatch)
    store, _ = open_store(trace_dir)
    assert spy.bytes == sum(path.stat().st_size for path in segments(trace_dir))  # read from scratch
    assert contents(store) == expected
    assert store.lines_read == line_count(trace_dir)
    document = snapshot_document(trace_dir)
    assert document["version"] == index_module.INDEX_VERSION
    spy.reset()
    again, _ = open_store(trace_dir)
    assert spy.bytes == 0  # the rewritten snapshot is used
    assert contents(again) == expected


def test_snapshot_with_entries_of_the_wrong_types_does_not_break_reading(trace_dir: Path):
    """A snapshot whose store entries hold values of the wrong types is rejected, not trusted."""
    sdk_traces("one", "two")
    expected = contents(open_store(trace_dir)[0])
    document = snapshot_document(trace_dir)
    ranges = document["store"]["entries"]["ranges"]
    document["store"]["entries"]["ranges"] = [[0, "start", "end"] for _ in ranges]  # not numbers
    index_path(trace_dir).write_bytes(orjson.dumps(document))
    store, _ = open_store(trace_dir)
    assert contents(store) == expected


def test_snapshot_pointing_into_a_file_outside_the_directory_is_rejected(trace_dir: Path, tmp_path: Path):
    """A snapshot naming a file outside its directory (`../x`) is not used."""
    sdk_traces("inside")
    open_store(trace_dir)
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"".join(simple_trace(trace_id_of(9), "outside", T0)))
    document = snapshot_document(trace_dir)
    stat = outside.stat()
    document["files"].append(
        {
            "name": "../outside.jsonl",
            "inode": [stat.st_dev, stat.st_ino],
            "offset": stat.st_size,
            "line": 3,
            "tail": index_module._tail_hash(outside, stat.st_size),
        }
    )
    index_path(trace_dir).write_bytes(orjson.dumps(document))
    store, _ = open_store(trace_dir)
    assert names_of(store) == ["inside"]


# -- where a snapshot cannot be written ----------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_directory_gets_no_snapshot_and_no_error(trace_dir: Path):
    """A directory the viewer cannot write to is indexed in memory; no snapshot, no exception."""
    sdk_traces("one", "two")
    writer.close()
    trace_dir.chmod(0o500)
    try:
        store, _ = open_store(trace_dir)
        assert names_of(store) == ["one", "two"]
        assert not index_path(trace_dir).exists()
    finally:
        trace_dir.chmod(0o700)


def test_unwritable_index_location_gives_no_snapshot_and_no_error(trace_dir: Path):
    """Where the index directory cannot be created (a plain file in its place), reading still works."""
    sdk_traces("one", "two")
    (trace_dir / index_module.INDEX_DIR).write_bytes(b"not a directory")
    store, tailer = open_store(trace_dir)
    assert names_of(store) == ["one", "two"]
    assert save_index(store, tailer) is False
    assert (trace_dir / index_module.INDEX_DIR).read_bytes() == b"not a directory"


def test_failing_writes_leave_no_snapshot_and_no_temporary_file(trace_dir: Path, monkeypatch):
    """A write that fails (read-only filesystem) returns False and leaves no half-written files behind."""
    sdk_traces("one")

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(index_module.os, "replace", refuse)
    store, tailer = open_store(trace_dir)
    assert names_of(store) == ["one"]
    assert save_index(store, tailer) is False
    assert list((trace_dir / index_module.INDEX_DIR).iterdir()) == []


def test_a_single_file_gets_no_snapshot(tmp_path: Path):
    """Following one file (not a directory) writes no sidecar next to it."""
    path = tmp_path / "one.jsonl"
    path.write_bytes(b"".join(simple_trace(trace_id_of(1), "single", T0)))
    store, _ = open_store(path)
    assert names_of(store) == ["single"]
    assert not (tmp_path / index_module.INDEX_DIR).exists()


# -- the app with a snapshot --------------------------------------------------------------------------


async def test_app_opens_a_directory_from_its_snapshot_and_shows_its_traces(tmp_path: Path, monkeypatch):
    """The viewer restores the snapshot (reading only what was appended since) and lists every trace."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b"".join(line for i in range(5) for line in simple_trace(trace_id_of(i), f"indexed_{i}", T0 + i))
    )
    open_store(tmp_path)
    indexed_size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b"".join(simple_trace(trace_id_of(99), "appended", T0 + 99)))
    restored: list[TraceStore | None] = []
    original_load = load_index

    def spy_load(tailer: DirectoryTailer) -> TraceStore | None:
        result = original_load(tailer)
        restored.append(result)
        return result

    monkeypatch.setattr("tui.app.load_index", spy_load)
    spy = IngestSpy(monkeypatch)
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        await wait_for(pilot, lambda: len(trace_list.rows) == 6, what="six traces listed")
        names = [row.name for row in trace_list.rows]
        assert names == ["appended", *(f"indexed_{i}" for i in reversed(range(5)))]
        assert restored and restored[0] is not None
        assert spy.bytes == path.stat().st_size - indexed_size


async def test_app_saves_a_snapshot_once_it_has_read_the_directory(tmp_path: Path):
    """After the first full read the viewer leaves a snapshot that a later open can use."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(simple_trace(trace_id_of(1), "only", T0)))
    async with run_app(tmp_path) as pilot:
        trace_list = app_of(pilot).query_one(TraceList)
        await wait_for(pilot, lambda: len(trace_list.rows) == 1, what="the trace listed")
        await wait_for(pilot, index_path(tmp_path).is_file, what="the snapshot written")
    restored = load_index(DirectoryTailer(tmp_path))
    assert restored is not None
    assert names_of(restored) == ["only"]


# -- the store's index ---------------------------------------------------------------------------------


def _bad_event(trace_id: str) -> bytes:
    """A span_event line that routes like a record (valid prefix, ends in `}`) but is not JSON."""
    return b'{"kind":"span_event","trace_id":"' + trace_id.encode() + b'","span_id":"x" this is not json}\n'


def test_listing_traces_parses_only_root_records(tmp_path: Path, monkeypatch):
    """Indexing decodes a trace's root start/end only; child spans and events are parsed when it is opened."""
    path = tmp_path / "a.jsonl"
    lines = []
    for i in range(20):
        tid = trace_id_of(i + 1)
        lines += simple_trace(tid, f"trace_{i}", T0 + i, children=["a", "b", "c"])
        lines.append(schema.encode_span_event(tid, tid[:8] + "00000001", "tick", T0 + i + 5, {}))
    path.write_bytes(b"".join(lines))
    decoded: list[bytes | str] = []
    original_decode = schema.decode

    def counting_decode(line: bytes | str) -> dict[str, Any]:
        decoded.append(line)
        return original_decode(line)

    monkeypatch.setattr(schema, "decode", counting_decode)
    store = load_directory(tmp_path)
    assert len(store) == 20
    assert [s.name for s in store.summaries()][:2] == ["trace_19", "trace_18"]
    assert all(summary.span_count == 4 for summary in store.summaries())
    assert len(decoded) == 2 * 20  # a root start and a root end per trace; nothing else
    decoded.clear()
    trace = store.get(trace_id_of(5))
    assert trace is not None and len(trace.spans) == 4
    assert len(decoded) == 4 + 4 + 1  # that trace's own records only (starts, ends, its event)


def test_bad_span_record_counts_as_skipped_only_when_its_trace_is_opened_and_only_once(tmp_path: Path):
    """A garbled span_event is not parsed while listing; opening its trace counts it once, however often."""
    path = tmp_path / "a.jsonl"
    bad_tid, other_tid = trace_id_of(1), trace_id_of(2)
    path.write_bytes(
        b"".join(simple_trace(bad_tid, "with_bad_event", T0, children=["child"]))
        + _bad_event(bad_tid)
        + b"".join(simple_trace(other_tid, "clean", T0 + 1))
    )
    store = load_directory(tmp_path)
    store.LOADED_TRACES = 1  # type: ignore[misc]
    assert names_of(store) == ["clean", "with_bad_event"]
    assert store.lines_skipped == 0
    first = store.get(bad_tid)
    assert first is not None and [s.name for s in first.spans] == ["with_bad_event", "child"]
    assert store.lines_skipped == 1
    assert store.first_skipped is not None
    assert (store.first_skipped.source, store.first_skipped.line) == (str(path), 5)
    store.get(other_tid)  # evicts the first trace
    again = store.get(bad_tid)
    assert again is not first  # parsed again from the file
    assert store.lines_skipped == 1


def test_bad_span_record_counted_once_also_after_a_snapshot_round_trip(tmp_path: Path):
    """A bad line already counted before the snapshot is not counted again after reopening from it."""
    path = tmp_path / "a.jsonl"
    tid = trace_id_of(1)
    path.write_bytes(b"".join(simple_trace(tid, "t", T0)) + _bad_event(tid))
    store, tailer = open_store(tmp_path)
    store.get(tid)
    assert store.lines_skipped == 1
    assert save_index(store, tailer)
    reopened, _ = open_store(tmp_path)
    assert reopened.lines_skipped == 1
    reopened.get(tid)
    assert reopened.lines_skipped == 1


def test_trace_spanning_two_files_is_assembled_from_both(tmp_path: Path):
    """get() of a trace whose records are split over two segment files returns all its spans."""
    tid = trace_id_of(0xAB)
    root, child = "r" * 16, "c" * 16
    (tmp_path / "1-first.jsonl").write_bytes(
        span_start(tid, root, "split_root", T0, inputs={"q": 1})
        + span_start(tid, child, "child", T0 + 10, parent_id=root)
        + b"".join(simple_trace(trace_id_of(1), "unrelated", T0 + 5))
    )
    (tmp_path / "2-second.jsonl").write_bytes(
        b"".join(simple_trace(trace_id_of(2), "another", T0 + 6))
        + span_end(tid, child, T0 + 20)
        + span_end(tid, root, T0 + 30, outputs={"a": 2})
    )
    for store in (load_directory(tmp_path), open_store(tmp_path)[0], open_store(tmp_path)[0]):
        trace = store.get(tid)
        assert trace is not None
        assert [(s.name, s.start_ns, s.end_ns) for s in trace.spans] == [
            ("split_root", T0, T0 + 30),
            ("child", T0 + 10, T0 + 20),
        ]
        assert trace.root is not None and trace.root.outputs == {"a": 2}
        summary = store.summary(tid)
        assert summary is not None
        assert (summary.status, summary.span_count, summary.duration_ms) == (schema.STATUS_OK, 2, 30 / 1e6)
        assert len(store) == 3


def test_evicted_trace_reloads_identically(tmp_path: Path):
    """A trace pushed out of the LRU of opened traces is parsed again to the same result."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b"".join(
            line
            for i in range(10)
            for line in simple_trace(trace_id_of(i + 1), f"t{i}", T0 + i, children=["x", "y"], inputs=[i])
        )
    )
    store = load_directory(tmp_path)
    store.LOADED_TRACES = 3  # type: ignore[misc]
    first = store.get(trace_id_of(1))
    assert first is not None
    before = first.to_json()
    for i in range(2, 8):
        store.get(trace_id_of(i))
    reloaded = store.get(trace_id_of(1))
    assert reloaded is not first
    assert reloaded is not None and reloaded.to_json() == before
    assert store.get(trace_id_of(1)) is reloaded  # now cached again


def test_loaded_trace_receives_new_lines_live(tmp_path: Path):
    """A trace already opened gets new spans from later chunks in place, without being reloaded."""
    path = tmp_path / "a.jsonl"
    tid = trace_id_of(0xCC)
    root = "r" * 16
    path.write_bytes(span_start(tid, root, "live", T0))
    tailer = DirectoryTailer(tmp_path)
    store = TraceStore()
    for chunk in tailer.poll_chunks():
        store.ingest(chunk)
    trace = store.get(tid)
    assert trace is not None and [s.name for s in trace.spans] == ["live"]
    assert trace.root is not None and trace.root.running
    with open(path, "ab") as handle:
        handle.write(span_start(tid, "c" * 16, "late_child", T0 + 5, parent_id=root))
        handle.write(schema.encode_span_event(tid, "c" * 16, "progress", T0 + 6, {"pct": 50}))
        handle.write(span_end(tid, "c" * 16, T0 + 7))
        handle.write(span_end(tid, root, T0 + 9))
    for chunk in tailer.poll_chunks():
        store.ingest(chunk)
    same = store.get(tid)
    assert same is trace
    assert [s.name for s in trace.spans] == ["live", "late_child"]
    child = trace.get_span("c" * 16)
    assert child is not None and [e.name for e in child.events] == ["progress"] and not child.running
    assert not trace.root.running
    assert store.summary(tid).status == schema.STATUS_OK  # type: ignore[union-attr]
    assert same.to_json() == load_directory(tmp_path).get(tid).to_json()  # type: ignore[union-attr]


def test_truncated_file_while_followed_drops_its_traces(tmp_path: Path):
    """A reset chunk (file truncated while followed) forgets the file's traces, then takes the new content."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b"".join(simple_trace(trace_id_of(1), "gone", T0) + simple_trace(trace_id_of(2), "gone_too", T0 + 1))
    )
    tailer = DirectoryTailer(tmp_path)
    store = TraceStore()
    for chunk in tailer.poll_chunks():
        store.ingest(chunk)
    assert store.get(trace_id_of(1)) is not None
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(b"".join(simple_trace(trace_id_of(3), "fresh", T0 + 2)))
    for chunk in tailer.poll_chunks():
        store.ingest(chunk)
    assert names_of(store) == ["fresh"]
    assert store.get(trace_id_of(1)) is None
    trace = store.get(trace_id_of(3))
    assert trace is not None and [s.name for s in trace.spans] == ["fresh"]

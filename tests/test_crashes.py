"""Crash semantics with real processes: SIGKILL, SIGTERM, os._exit, an unhandled exception, a segfault.

A traced program opens nested spans, finishes a few, prints a marker, sleeps 0.3 s inside a span and
then dies. Every record it produced before the sleep (more than 100 ms before its end) must be on disk,
and the reader must show its unfinished spans as *interrupted* (its pid, on this host, is gone), not as
running forever: in the store and in `tracetui show` / `show --json`. An unhandled exception is not a
crash: its spans end as ERROR and nothing is interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import subprocess_env

from tracer import schema
from tui.index import load_index, open_store
from tui.liveness import Liveness, this_host
from tui.store import load_directory
from tui.tailer import DirectoryTailer

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pids")

CRASHING_PROGRAM = """
import ctypes, os, sys, time
import tracer

how = sys.argv[1]

@tracer.trace(name="step", span_type=tracer.SpanType.TOOL)
def step(i):
    return i * 2

def die():
    if how == "wait":  # the test sends a signal
        print("waiting", flush=True)
        time.sleep(60)
    elif how == "exit":
        os._exit(3)
    elif how == "raise":
        raise RuntimeError("boom")
    elif how == "segv":
        ctypes.string_at(0)

@tracer.trace(name="agent", span_type=tracer.SpanType.AGENT)
def agent(question):
    total = sum(step(i) for i in range(3))
    with tracer.start_span("outer"):
        with tracer.start_span("stuck") as span:
            span.add_event("about to die", {"total": total})
            print("marker", flush=True)
            time.sleep(0.3)
            die()

agent("why?")
"""

OPEN_SPANS = {"agent", "outer", "stuck"}


def _crash(tmp_path: Path, how: str, signum: int | None = None) -> tuple[Path, int, str]:
    """Run the program until it dies (`how`, or `signum` sent by us once it waits); (dir, rc, stderr)."""
    trace_dir = tmp_path / "traces"
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASHING_PROGRAM))
    proc = subprocess.Popen(
        [sys.executable, str(script), how],
        env=subprocess_env(trace_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == "marker\n"
        if signum is not None:
            assert proc.stdout.readline() == "waiting\n"
            proc.send_signal(signum)
        proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return trace_dir, proc.returncode, err


def _records(trace_dir: Path) -> list[dict]:
    records = []
    for path in sorted(trace_dir.glob("*" + schema.FILE_SUFFIX)):
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path.name} ends with a partial line"
        records.extend(schema.decode(line) for line in data.splitlines())
    return records


def _assert_early_records_on_disk(trace_dir: Path) -> None:
    """What the program wrote before its last 0.3 s: the process record, three finished `step` spans,
    the starts of the three open spans and the event before the marker."""
    records = _records(trace_dir)
    kinds = [r[schema.KIND] for r in records]
    assert kinds[0] == schema.PROCESS
    starts = {r[schema.NAME] for r in records if r[schema.KIND] == schema.SPAN_START}
    assert starts == OPEN_SPANS | {"step"}
    assert kinds.count(schema.SPAN_START) == 6
    ends = [r for r in records if r[schema.KIND] == schema.SPAN_END]
    assert len(ends) >= 3 and all(r[schema.STATUS] == schema.STATUS_OK for r in ends[:3])
    events = [r[schema.NAME] for r in records if r[schema.KIND] == schema.SPAN_EVENT]
    assert events[:1] == ["about to die"]  # (an exception exit adds `exception` events after it)


def _show_json(trace_dir: Path, trace_id: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "cli.py"), "show", trace_id, "--json", "--dir", str(trace_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_interrupted(trace_dir: Path) -> None:
    store = load_directory(trace_dir)
    assert store.lines_skipped == 0
    (summary,) = store.summaries()
    assert summary.status == schema.TRACE_INTERRUPTED
    assert summary.end_ns is None
    trace = store.get(summary.trace_id)
    assert trace is not None
    by_name = {span.raw_name: span for span in trace.spans}
    for name in OPEN_SPANS:
        span = by_name[name]
        assert span.end_ns is None and span.interrupted and not span.running, name
    steps = [span for span in trace.spans if span.raw_name == "step"]
    assert len(steps) == 3 and not any(span.interrupted for span in steps)
    assert trace.summary().status == schema.TRACE_INTERRUPTED

    shown = _show_json(trace_dir, summary.trace_id)
    assert shown["status"] == "INTERRUPTED"
    flags = {span["raw_name"]: (span["interrupted"], span["status"]["code"]) for span in shown["spans"]}
    assert {name: flags[name] for name in OPEN_SPANS} == {name: (True, "UNSET") for name in OPEN_SPANS}
    assert flags["step"] == (False, "OK")
    human = subprocess.run(
        [sys.executable, str(REPO_ROOT / "cli.py"), "show", summary.trace_id, "--dir", str(trace_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "NO_COLOR": "1"},
    )
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines()[0].startswith("⚠ INTERRUPTED")
    assert "running" not in human.stdout


def test_sigkill_leaves_early_records_on_disk_and_open_spans_interrupted(tmp_path):
    """SIGKILL 0.3 s into a span: earlier records on disk, the open spans and trace read as interrupted."""
    trace_dir, returncode, _ = _crash(tmp_path, "wait", signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    _assert_early_records_on_disk(trace_dir)
    _assert_interrupted(trace_dir)


def test_sigterm_leaves_early_records_on_disk_and_open_spans_interrupted(tmp_path):
    """SIGTERM 0.3 s into a span: earlier records on disk, the open spans and trace read as interrupted."""
    trace_dir, returncode, _ = _crash(tmp_path, "wait", signal.SIGTERM)
    assert returncode == -signal.SIGTERM
    _assert_early_records_on_disk(trace_dir)
    _assert_interrupted(trace_dir)


def test_os_exit_leaves_early_records_on_disk_and_open_spans_interrupted(tmp_path):
    """os._exit(3) 0.3 s into a span: earlier records are on disk, the open spans read as interrupted."""
    trace_dir, returncode, _ = _crash(tmp_path, "exit")
    assert returncode == 3
    _assert_early_records_on_disk(trace_dir)
    _assert_interrupted(trace_dir)


def test_segfault_leaves_early_records_on_disk_and_open_spans_interrupted(tmp_path):
    """A segfault (ctypes.string_at(0)) 0.3 s into a span: earlier records on disk, open spans interrupted."""
    trace_dir, returncode, _ = _crash(tmp_path, "segv")
    assert returncode == -signal.SIGSEGV
    _assert_early_records_on_disk(trace_dir)
    _assert_interrupted(trace_dir)


def test_unhandled_exception_ends_spans_as_error_and_nothing_is_interrupted(tmp_path):
    """An unhandled exception is no crash: every span ends as ERROR, the trace is ERROR, none interrupted."""
    trace_dir, returncode, err = _crash(tmp_path, "raise")
    assert returncode == 1 and "RuntimeError: boom" in err
    _assert_early_records_on_disk(trace_dir)
    store = load_directory(trace_dir)
    (summary,) = store.summaries()
    assert summary.status == schema.STATUS_ERROR
    trace = store.get(summary.trace_id)
    assert trace is not None
    for span in trace.spans:
        assert span.end_ns is not None and not span.interrupted, span.raw_name
        expected = schema.STATUS_ERROR if span.raw_name in OPEN_SPANS else schema.STATUS_OK
        assert span.status == expected, span.raw_name
    shown = _show_json(trace_dir, summary.trace_id)
    assert shown["status"] == "ERROR"
    assert not any(span["interrupted"] for span in shown["spans"])


def test_a_live_writers_open_span_is_running_not_interrupted(tmp_path):
    """While the writing process lives, its open span reads as running and the trace as in progress."""
    trace_dir = tmp_path / "traces"
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASHING_PROGRAM))
    proc = subprocess.Popen(
        [sys.executable, str(script), "wait"],
        env=subprocess_env(trace_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        assert [proc.stdout.readline(), proc.stdout.readline()] == ["marker\n", "waiting\n"]
        store = load_directory(trace_dir)
        (summary,) = store.summaries()
        assert summary.status == schema.TRACE_IN_PROGRESS
        trace = store.get(summary.trace_id)
        assert trace is not None
        stuck = next(span for span in trace.spans if span.raw_name == "stuck")
        assert stuck.running and not stuck.interrupted
        # Once it is killed, the same store notices within the liveness TTL (no new record arrives).
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + store.liveness.ttl_s + 2
        while store.summary(summary.trace_id).status != schema.TRACE_INTERRUPTED:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the store never noticed its writer died"
            time.sleep(0.05)
        trace = store.get(summary.trace_id)
        assert trace is not None
        stuck = next(span for span in trace.spans if span.raw_name == "stuck")
        assert stuck.interrupted and not stuck.running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# -- liveness (tui/liveness.py) and how the store uses it ------------------------------------------------


def _dead_pid() -> int:
    """The pid of a child process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_liveness_never_judges_another_host_or_a_record_without_pid_gone():
    """A writer on another host, or without pid/host, is unknown: treated as alive, never interrupted."""
    liveness = Liveness()
    dead = _dead_pid()
    assert liveness.gone(this_host(), dead)
    assert not liveness.gone(this_host() + "-elsewhere", dead)
    assert not liveness.gone(None, dead)
    assert not liveness.gone(this_host(), None)
    assert not liveness.gone(this_host(), os.getpid())


def test_liveness_asks_again_only_after_the_ttl_and_gone_is_final():
    """Alive answers are cached for the TTL (a death shows after it), and a gone writer stays gone."""
    now = [0.0]
    liveness = Liveness(ttl_s=2.0, clock=lambda: now[0])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not liveness.gone(this_host(), child.pid)
        child.kill()
        child.wait()
        now[0] = 1.9
        assert not liveness.gone(this_host(), child.pid)  # cached alive answer
        assert liveness.checks == 1
        now[0] = 2.1
        assert liveness.gone(this_host(), child.pid)
        now[0] = 100.0
        assert liveness.gone(this_host(), child.pid)
        assert liveness.checks == 2
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="start times from /proc (Linux)")
def test_liveness_takes_a_pid_held_by_a_later_process_for_a_gone_writer():
    """A live pid whose process started well after the record's start_ns is a reused pid: writer gone."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not Liveness().gone(this_host(), child.pid, time.time_ns())
        assert Liveness().gone(this_host(), child.pid, time.time_ns() - 3600 * 1_000_000_000)
    finally:
        child.kill()
        child.wait()


def _hand_written_crash(directory: Path, pid: int, host: str) -> str:
    tid = "ab" * 16
    t0 = time.time_ns() - 1_000_000_000
    directory.mkdir(exist_ok=True)
    (directory / "run.jsonl").write_bytes(
        schema.encode_process(
            pid=pid, host=host, argv=["x"], python="3.11.0", tracer_version="0", start_ns=t0 - 1000
        )
        + schema.encode_span_start(tid, "a" * 16, None, "agent", "AGENT", t0, None, {}, None)
        + schema.encode_span_start(tid, "b" * 16, "a" * 16, "stuck", "TOOL", t0 + 10, None, {}, None)
    )
    return tid


def test_a_dead_writer_on_another_host_leaves_its_spans_in_progress(tmp_path):
    """The same file naming another host: the reader cannot tell, so the trace stays IN_PROGRESS."""
    tid = _hand_written_crash(tmp_path, _dead_pid(), this_host() + "-elsewhere")
    store = load_directory(tmp_path)
    assert store.summary(tid).status == schema.TRACE_IN_PROGRESS  # type: ignore[union-attr]
    trace = store.get(tid)
    assert trace is not None and all(span.running and not span.interrupted for span in trace.spans)
    assert trace.to_json()["status"] == "IN_PROGRESS"


def test_the_index_snapshot_keeps_what_tells_an_interrupted_trace(tmp_path):
    """A store restored from the index snapshot still marks a dead writer's trace INTERRUPTED."""
    tid = _hand_written_crash(tmp_path, _dead_pid(), this_host())
    first, _ = open_store(tmp_path)
    assert first.summary(tid).status == schema.TRACE_INTERRUPTED  # type: ignore[union-attr]
    tailer = DirectoryTailer(tmp_path)
    restored = load_index(tailer)
    assert restored is not None, "the snapshot was not used"
    assert restored.summary(tid).status == schema.TRACE_INTERRUPTED  # type: ignore[union-attr]
    trace = restored.get(tid)
    assert trace is not None and all(span.interrupted for span in trace.spans)

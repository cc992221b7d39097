"""Real processes writing traces: concurrency across processes and threads, SIGKILL, exit paths.

Each test writes a small traced program to a temporary file and runs it with this interpreter, the
repository on PYTHONPATH and TRACETUI_DIR pointing at a fresh directory; the test then reads the
directory back with the same reader the CLI uses.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import subprocess_env

from tracer import schema
from tui.store import TraceStore, load_directory

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _script(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _popen(script: Path, trace_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env=subprocess_env(trace_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=script.parent,
    )


def _run(script: Path, trace_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)],
        env=subprocess_env(trace_dir),
        capture_output=True,
        text=True,
        cwd=script.parent,
        timeout=30,
    )


def _all_lines(trace_dir: Path) -> list[tuple[Path, int, bytes]]:
    lines = []
    for path in sorted(trace_dir.glob("*" + schema.FILE_SUFFIX)):
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path.name} ends with a partial line"
        for number, line in enumerate(data.split(b"\n")[:-1], 1):
            lines.append((path, number, line))
    return lines


def _single_trace(store: TraceStore):
    traces = list(store.traces())
    assert len(traces) == 1, [t.trace_id for t in traces]
    return traces[0]


def _exception_event(span) -> dict:
    events = [e for e in span.events if e.name == schema.EXCEPTION_EVENT]
    assert len(events) == 1, [e.name for e in span.events]
    return events[0].attributes


# -- 4 processes × 4 threads -----------------------------------------------------------------------

PROCESSES = 4
THREADS = 4
TRACES_PER_THREAD = 200
SPANS_PER_TRACE = 3

CONCURRENT_WORKER = f"""
import sys, threading, time
from pathlib import Path

import tracer

# A small rotation cap so every process also rotates files while the others write.
tracer.configure(max_file_bytes=64 * 1024)
proc = int(sys.argv[1])
go = Path(sys.argv[2])

@tracer.trace(name="leaf", span_type=tracer.SpanType.TOOL)
def leaf(i):
    return i * 2

@tracer.trace(name="root", span_type=tracer.SpanType.CHAIN)
def root(proc, thread, i):
    with tracer.start_span("middle") as span:
        span.set_attribute("where", [proc, thread, i])
        span.set_outputs(leaf(i))
    return [proc, thread, i]

def work(thread):
    for i in range({TRACES_PER_THREAD}):
        root(proc, thread, i)

while not go.exists():
    time.sleep(0.001)
threads = [threading.Thread(target=work, args=(t,)) for t in range({THREADS})]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done", flush=True)
"""


def test_four_processes_four_threads_every_line_parses_and_every_span_is_present(tmp_path):
    """4 processes × 4 threads writing to one directory: every line parses, every span is read back whole."""
    trace_dir = tmp_path / "traces"
    script = _script(tmp_path, "worker.py", CONCURRENT_WORKER)
    go = tmp_path / "go"
    procs = [_popen(script, trace_dir, str(p), str(go)) for p in range(PROCESSES)]
    time.sleep(0.2)
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == "done"
        assert "tracer:" not in err, err  # no tracer warning (dropped records) in any process

    lines = _all_lines(trace_dir)
    kinds: dict[str, int] = {}
    pids_with_header = set()
    for path, number, line in lines:
        record = schema.decode(line)  # raises on any torn or interleaved line
        assert list(record)[:2] == [schema.KIND, schema.TRACE_ID], (path.name, number)
        kinds[record[schema.KIND]] = kinds.get(record[schema.KIND], 0) + 1
        if number == 1:
            assert record[schema.KIND] == schema.PROCESS, (path.name, record)
            pids_with_header.add(record[schema.PID])
        else:
            assert record[schema.KIND] != schema.PROCESS, (path.name, number)
    files = sorted(trace_dir.glob("*" + schema.FILE_SUFFIX))
    assert len(pids_with_header) == PROCESSES
    # Rotation happens between write batches, and how records batch depends on timing: at least one
    # file per process (rotation itself is pinned down in test_writer.py).
    assert len(files) >= PROCESSES

    n_traces = PROCESSES * THREADS * TRACES_PER_THREAD
    n_spans = n_traces * SPANS_PER_TRACE
    assert kinds[schema.SPAN_START] == n_spans
    assert kinds[schema.SPAN_END] == n_spans
    assert kinds[schema.TRACE_SUMMARY] == n_traces

    store = load_directory(trace_dir)
    assert store.lines_skipped == 0
    assert len(store) == n_traces
    seen = set()
    for trace in store.traces():
        spans = trace.spans
        assert [s.raw_name for s in spans] == ["root", "middle", "leaf"]
        root, middle, leaf = spans
        assert root.parent_id is None
        assert middle.parent_id == root.span_id
        assert leaf.parent_id == middle.span_id
        for span in spans:
            assert span.started and span.start_ns is not None
            assert span.end_ns is not None and span.end_ns >= span.start_ns
            assert span.status == schema.STATUS_OK
        key = (root.inputs["proc"], root.inputs["thread"], root.inputs["i"])
        assert root.outputs == list(key)
        assert middle.attributes["where"] == list(key)
        assert leaf.inputs == {"i": key[2]} and leaf.outputs == key[2] * 2
        summary = trace.summary()
        assert summary.status == schema.STATUS_OK and summary.span_count == SPANS_PER_TRACE
        seen.add(key)
    expected = {(p, t, i) for p in range(PROCESSES) for t in range(THREADS) for i in range(TRACES_PER_THREAD)}
    assert seen == expected


# -- SIGKILL in the middle of a span -----------------------------------------------------------------

HANGING_PROGRAM = """
import time
import tracer

@tracer.trace(name="finished_step")
def finished_step(x):
    return x + 1

@tracer.trace(name="agent")
def agent(question):
    finished_step(1)
    with tracer.start_span("stuck", span_type="TOOL") as span:
        span.add_event("about to hang", {"n": 1})
        print("entered", time.monotonic_ns(), flush=True)
        time.sleep(60)

agent("why?")
"""


def _find_span_start(trace_dir: Path, name: str) -> bool:
    needle = b'"name":"' + name.encode() + b'"'
    for path in trace_dir.glob("*" + schema.FILE_SUFFIX):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for line in data.split(b"\n")[:-1]:  # complete lines only
            if line.startswith(b'{"kind":"span_start"') and needle in line:
                return True
    return False


def test_sigkill_mid_span_leaves_the_started_span_interrupted_and_it_was_on_disk_within_100ms(tmp_path):
    """SIGKILL inside a span: its start reached the file within 100 ms and reads back as interrupted."""
    trace_dir = tmp_path / "traces"
    script = _script(tmp_path, "hang.py", HANGING_PROGRAM)
    proc = _popen(script, trace_dir)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("entered"), (line, proc.stderr.read() if proc.poll() is not None else "")
        entered_ns = int(line.split()[1])
        # CLOCK_MONOTONIC is system-wide, so the child's reading and ours compare directly.
        deadline = entered_ns + 2_000_000_000
        while not _find_span_start(trace_dir, "stuck"):
            assert time.monotonic_ns() < deadline, "span start never reached the file"
            time.sleep(0.001)
        latency_ms = (time.monotonic_ns() - entered_ns) / 1e6
        assert latency_ms < 100, f"span start reached the file {latency_ms:.1f} ms after entering the span"
        assert proc.poll() is None, "the program should still be hanging"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    store = load_directory(trace_dir)
    assert store.lines_skipped == 0
    trace = _single_trace(store)
    summary = trace.summary()
    assert summary.status == schema.TRACE_INTERRUPTED  # the writer's pid is dead (reaped above)
    assert summary.name == "agent"
    assert summary.end_ns is None and summary.duration_ms is None
    by_name = {s.raw_name: s for s in trace.spans}
    assert set(by_name) == {"agent", "finished_step", "stuck"}
    for name in ("agent", "stuck"):
        assert by_name[name].end_ns is None, name
        assert by_name[name].interrupted and not by_name[name].running, name
        assert by_name[name].start_ns is not None
    assert by_name["agent"].inputs == {"question": "why?"}
    assert by_name["stuck"].parent_id == by_name["agent"].span_id
    assert [e.name for e in by_name["stuck"].events] == ["about to hang"]
    assert by_name["finished_step"].end_ns is not None
    assert by_name["finished_step"].outputs == 2
    as_json = trace.to_json()
    assert as_json["status"] == "INTERRUPTED"
    assert {s["name"]: s["end_ns"] for s in as_json["spans"]}["stuck"] is None
    assert {s["name"]: s["interrupted"] for s in as_json["spans"]} == {
        "agent": True,
        "finished_step": False,
        "stuck": True,
    }


# -- nothing lost on exit ------------------------------------------------------------------------------

# A long flush delay: the background writer would not get to these records before the program ends,
# so only the exit path can write them. No program calls tracer.flush().
SLOW_FLUSH = "tracer.configure(flush_delay_s=30)\n"


def test_normal_exit_writes_every_record_without_flush(tmp_path):
    """A program that finishes normally leaves every record of every trace on disk, with no flush() call."""
    trace_dir = tmp_path / "traces"
    script = _script(
        tmp_path,
        "normal.py",
        "import tracer\n"
        + SLOW_FLUSH
        + textwrap.dedent(
            """
            @tracer.trace
            def child(i):
                return {"i": i}

            @tracer.trace(name="job")
            def job(i):
                tracer.update_current_trace(tags={"i": str(i)})
                return child(i)

            for i in range(50):
                job(i)
            print("bye")
            """
        ),
    )
    started = time.monotonic()
    result = _run(script, trace_dir)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10, "exit waited for the flush delay"
    store = load_directory(trace_dir)
    assert store.lines_skipped == 0
    summaries = store.summaries()
    assert len(summaries) == 50
    assert all(s.status == schema.STATUS_OK and s.span_count == 2 for s in summaries)
    assert sorted(int(s.tags["i"]) for s in summaries) == list(range(50))
    for trace in store.traces():
        assert all(span.end_ns is not None for span in trace.spans)
        assert trace.summary_record is not None


def test_unhandled_exception_exits_nonzero_and_records_the_error(tmp_path):
    """An exception escaping the program: exit 1, spans and trace ERROR with the exception event."""
    trace_dir = tmp_path / "traces"
    script = _script(
        tmp_path,
        "crash.py",
        "import tracer\n"
        + SLOW_FLUSH
        + textwrap.dedent(
            """
            @tracer.trace
            def inner(x):
                raise ValueError(f"bad value {x}")

            @tracer.trace(name="outer")
            def outer(x):
                return inner(x)

            outer(7)
            """
        ),
    )
    result = _run(script, trace_dir)
    assert result.returncode == 1
    assert "ValueError: bad value 7" in result.stderr  # the user's traceback is unchanged
    store = load_directory(trace_dir)
    trace = _single_trace(store)
    assert trace.summary().status == schema.STATUS_ERROR
    assert trace.summary_record is not None
    by_name = {s.raw_name: s for s in trace.spans}
    assert set(by_name) == {"outer", "inner"}
    for span in by_name.values():
        assert span.status == schema.STATUS_ERROR
        assert span.status_message == "ValueError: bad value 7"
        assert span.end_ns is not None
        event = _exception_event(span)
        assert event[schema.EXCEPTION_TYPE] == "ValueError"
        assert event[schema.EXCEPTION_MESSAGE] == "bad value 7"
        assert "raise ValueError" in event[schema.EXCEPTION_STACKTRACE]


def test_ctrl_c_inside_a_span_records_keyboard_interrupt_as_error(tmp_path):
    """SIGINT while sleeping inside a span: KeyboardInterrupt recorded as ERROR, records on disk."""
    trace_dir = tmp_path / "traces"
    script = _script(
        tmp_path,
        "interrupt.py",
        "import time\nimport tracer\n"
        + SLOW_FLUSH
        + textwrap.dedent(
            """
            @tracer.trace(name="before")
            def before():
                return "done"

            @tracer.trace(name="main")
            def main():
                before()
                with tracer.start_span("waiting"):
                    print("entered", flush=True)
                    time.sleep(60)

            main()
            """
        ),
    )
    proc = _popen(script, trace_dir)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "entered"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    store = load_directory(trace_dir)
    assert store.lines_skipped == 0
    trace = _single_trace(store)
    assert trace.summary().status == schema.STATUS_ERROR
    by_name = {s.raw_name: s for s in trace.spans}
    assert set(by_name) == {"main", "before", "waiting"}
    assert by_name["before"].status == schema.STATUS_OK
    for name in ("main", "waiting"):
        span = by_name[name]
        assert span.end_ns is not None, name
        assert span.status == schema.STATUS_ERROR, name
        assert span.status_message.startswith("KeyboardInterrupt"), span.status_message
        assert _exception_event(span)[schema.EXCEPTION_TYPE] == "KeyboardInterrupt"

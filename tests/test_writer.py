"""The writer: where trace files go, what they start with, flushing, rotation, failures, and fork."""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import read_records, span_records

import tracer
from tracer import schema
from tracer.writer import writer

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import tracer

    if len(sys.argv) > 2 and sys.argv[1] == "--configure":
        tracer.configure(directory=sys.argv[2])

    @tracer.trace
    def work(x):
        return x + 1

    assert work(1) == 2
    tracer.flush()
    print(os.getpid())
    """
)


def run_script(tmp_path: Path, *args: str, env_dir: str | None = None, cwd: Path | None = None) -> int:
    """Run SCRIPT in a fresh interpreter; return its pid."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETUI_")}
    env["PYTHONPATH"] = str(ROOT)
    if env_dir is not None:
        env["TRACETUI_DIR"] = env_dir
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        cwd=cwd or tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("*" + schema.FILE_SUFFIX))


def records_of(path: Path) -> list[dict[str, Any]]:
    return [schema.decode(line) for line in path.read_bytes().splitlines()]


# -- choosing the directory -----------------------------------------------------------------------


def test_env_dir_used_when_not_configured(tmp_path: Path) -> None:
    """With only $TRACETUI_DIR set, traces go there."""
    env_dir = tmp_path / "from_env"
    pid = run_script(tmp_path, env_dir=str(env_dir))
    (path,) = files_in(env_dir)
    kinds = [r["kind"] for r in records_of(path)]
    assert kinds == ["process", "span_start", "span_end", "trace_summary"]
    assert records_of(path)[0]["pid"] == pid
    assert not (tmp_path / "traces").exists()


def test_configure_wins_over_env(tmp_path: Path) -> None:
    """configure(directory=) wins over $TRACETUI_DIR: nothing is written to the env directory."""
    env_dir = tmp_path / "from_env"
    configured = tmp_path / "configured"
    run_script(tmp_path, "--configure", str(configured), env_dir=str(env_dir))
    (path,) = files_in(configured)
    assert [r["kind"] for r in records_of(path)][1:] == ["span_start", "span_end", "trace_summary"]
    assert not env_dir.exists()


def test_default_directory_created_on_first_write(tmp_path: Path) -> None:
    """Without configuration or environment, ./traces (relative to the cwd) is created on first write."""
    work = tmp_path / "cwd"
    work.mkdir()
    pid = run_script(tmp_path, cwd=work)
    (path,) = files_in(work / "traces")
    assert records_of(path)[0]["pid"] == pid


def test_configure_directory_in_process(trace_dir: Path) -> None:
    """configure(directory=) in this process sends the next records to the new directory."""
    assert not trace_dir.exists()  # created on first write, not at configure time
    tracer.trace(lambda: 1)()
    assert [r["kind"] for r in span_records(trace_dir)] == ["span_start", "span_end", "trace_summary"]


# -- the file and its first record --------------------------------------------------------------------


def test_file_name_and_process_record(tmp_path: Path) -> None:
    """The file name holds host and pid; its first record describes the writing process."""
    env_dir = tmp_path / "t"
    pid = run_script(tmp_path, "arg-one", env_dir=str(env_dir))
    (path,) = files_in(env_dir)
    host = re.sub(r"[^A-Za-z0-9._]+", "_", socket.gethostname())[:64]
    assert f"-{pid}-" in path.name
    assert host in path.name
    first = records_of(path)[0]
    assert first == {
        "kind": "process",
        "trace_id": None,
        "schema_version": schema.SCHEMA_VERSION,
        "pid": pid,
        "host": socket.gethostname(),
        "argv": [str(tmp_path / "script.py"), "arg-one"],
        "python": platform.python_version(),
        "tracer_version": tracer.__version__,
        "start_ns": first["start_ns"],
    }
    assert isinstance(first["start_ns"], int)
    assert first["start_ns"] > 1_600_000_000 * 10**9


def test_process_record_in_this_process(trace_dir: Path) -> None:
    """In-process, the first record of the file has this pid, argv and tracer version."""
    tracer.trace(lambda: None)()
    tracer.flush()
    (path,) = files_in(trace_dir)
    assert path == writer.path
    first = records_of(path)[0]
    assert (first["kind"], first["pid"], first["argv"]) == ("process", os.getpid(), sys.argv)
    assert (first["tracer_version"], first["schema_version"]) == (tracer.__version__, 1)
    assert f"-{os.getpid()}-" in path.name


def test_each_line_starts_with_kind_then_trace_id(deterministic: Path) -> None:
    """Every line is one record whose raw bytes start with {"kind":..., "trace_id":..."""

    @tracer.trace
    def gen():
        tracer.update_current_trace(tags={"t": 1})
        yield "a"
        raise ValueError("x")

    with pytest.raises(ValueError):
        list(gen())
    tracer.flush()
    (path,) = files_in(deterministic)
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    pattern = re.compile(rb'^\{"kind":"([a-z_]+)","trace_id":(null|"[0-9a-f]{32}")[,}]')
    kinds = []
    for line in lines:
        match = pattern.match(line)
        assert match, line[:80]
        kinds.append(match.group(1).decode())
        assert orjson.loads(line)["kind"] == kinds[-1]
        assert schema.peek_route(line) is not None
    assert kinds == [
        "process",
        "span_start",
        "trace_update",
        "span_event",
        "span_event",
        "span_end",
        "trace_summary",
    ]
    assert lines[0].startswith(b'{"kind":"process","trace_id":null,')


# -- flushing ---------------------------------------------------------------------------------------


def test_flush_makes_records_visible(trace_dir: Path) -> None:
    """With a long batching delay, records are not yet in the file; flush() writes them at once."""
    tracer.configure(flush_delay_s=0.5)
    tracer.flush()
    before = sum(len(records_of(p)) for p in files_in(trace_dir)) if trace_dir.exists() else 0
    assert before == 0
    tracer.trace(lambda: "v")()
    assert not trace_dir.exists() or all(len(records_of(p)) == 0 for p in files_in(trace_dir))
    tracer.flush()
    (path,) = files_in(trace_dir)
    assert [r["kind"] for r in records_of(path)] == ["process", "span_start", "span_end", "trace_summary"]
    # Let the background writer finish its (now empty) batch before the next test changes settings.
    deadline = time.monotonic() + 5
    while writer._armed and time.monotonic() < deadline:
        time.sleep(0.01)


def test_records_reach_file_without_flush(trace_dir: Path) -> None:
    """Without flush(), the background writer puts a span start on disk within 100 ms (plus slack)."""
    seen = []

    @tracer.trace
    def hang() -> None:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            paths = files_in(trace_dir) if trace_dir.exists() else []
            kinds = [r["kind"] for p in paths for r in records_of(p)]
            if "span_start" in kinds:
                seen.append(time.monotonic() - started)
                return
            time.sleep(0.005)

    started = time.monotonic()
    hang()
    assert seen, "span start never reached the file while the span was running"
    assert seen[0] < 0.5


# -- rotation ---------------------------------------------------------------------------------------


def test_rotation_at_max_file_bytes(trace_dir: Path) -> None:
    """Past max_file_bytes the writer starts a new file, each beginning with a process record."""
    tracer.configure(max_file_bytes=1500)

    @tracer.trace
    def step(i: int) -> str:
        return "r" * 100

    for i in range(30):
        step(i)
        tracer.flush()
    paths = files_in(trace_dir)
    assert len(paths) >= 5
    seqs = [int(re.search(r"-(\d{3})\.jsonl$", p.name).group(1)) for p in paths]
    assert sorted(seqs) == list(range(min(seqs), min(seqs) + len(paths)))  # consecutive segments
    all_inputs = []
    for path in paths:
        records = records_of(path)
        assert records[0]["kind"] == "process"
        assert records[0]["pid"] == os.getpid()
        assert [r["kind"] for r in records[1:]].count("process") == 0
        all_inputs += [r["inputs"]["i"] for r in records if r["kind"] == "span_start"]
    for path in sorted(paths, key=lambda p: p.stat().st_mtime_ns)[:-1]:
        assert path.stat().st_size >= 1500
    assert sorted(all_inputs) == list(range(30))
    store_summaries = [r for r in read_records(trace_dir) if r["kind"] == "trace_summary"]
    assert len(store_summaries) == 30


# -- failures of the tracer itself ----------------------------------------------------------------------


def test_unwritable_directory_warns_once_and_program_continues(
    trace_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A directory that cannot be created logs exactly one warning; the program's results are unchanged."""

    def compute(x: int) -> dict[str, int]:
        return {"x": x, "sq": x * x}

    traced = tracer.trace(compute)
    traced(0)
    tracer.flush()  # a successful write first: the writer is not in a failure episode
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="tracer")
    tracer.configure(directory=blocker / "traces")

    expected = [compute(i) for i in range(20)]
    got = []
    for i in range(20):
        got.append(traced(i))
        if i % 5 == 0:
            tracer.flush()
    with tracer.start_span("manual") as span:
        span.set_outputs("fine")
    tracer.flush()
    assert got == expected
    warnings = [r for r in caplog.records if r.name == "tracer" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "cannot write traces" in warnings[0].getMessage()
    assert blocker.read_text() == "not a directory"

    # The writer recovers when pointed somewhere writable again.
    good = tmp_path / "good"
    tracer.configure(directory=good)
    traced(5)
    assert [r["kind"] for r in span_records(good)] == ["span_start", "span_end", "trace_summary"]


def test_directory_deleted_mid_run_is_recreated(trace_dir: Path) -> None:
    """Deleting the trace directory while running: the writer recreates it and later records land there."""

    @tracer.trace
    def step(i: int) -> int:
        return i

    step(1)
    tracer.flush()
    assert len(files_in(trace_dir)) == 1
    shutil.rmtree(trace_dir)
    assert step(2) == 2
    tracer.flush()
    assert trace_dir.is_dir()
    (path,) = files_in(trace_dir)
    records = records_of(path)
    assert records[0]["kind"] == "process"
    assert [(r["kind"], r.get("inputs")) for r in records[1:]] == [
        ("span_start", {"i": 2}),
        ("span_end", None),
        ("trace_summary", None),
    ]


def test_file_deleted_mid_run_is_reopened(trace_dir: Path) -> None:
    """Deleting the trace file (directory kept): later records go to a new file with a process record."""
    tracer.trace(lambda: 1)()
    tracer.flush()
    (first,) = files_in(trace_dir)
    first.unlink()
    tracer.trace(lambda: 2)()
    tracer.flush()
    (second,) = files_in(trace_dir)
    assert [r["kind"] for r in records_of(second)] == ["process", "span_start", "span_end", "trace_summary"]


# -- fork ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_writes_its_own_file(trace_dir: Path) -> None:
    """A forked child writes its own file with its own pid; the parent's file has none of its records."""

    @tracer.trace
    def where(label: str) -> int:
        return os.getpid()

    parent_pid = os.getpid()
    where("before_fork")
    tracer.flush()
    where("pending_at_fork")  # maybe not yet written when the fork happens
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            where("in_child")
            tracer.flush()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    where("after_fork")
    tracer.flush()

    by_pid: dict[int, list[str]] = {}
    for path in files_in(trace_dir):
        records = records_of(path)
        assert records[0]["kind"] == "process"
        file_pid = records[0]["pid"]
        assert f"-{file_pid}-" in path.name
        labels = [r["inputs"]["label"] for r in records if r["kind"] == "span_start"]
        by_pid.setdefault(file_pid, []).extend(labels)
    assert set(by_pid) == {parent_pid, pid}
    assert by_pid[pid] == ["in_child"]
    assert by_pid[parent_pid] == ["before_fork", "pending_at_fork", "after_fork"]

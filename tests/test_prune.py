"""`tracetui prune`: the age and size rules, the live-writer safety rules, dry runs and bad arguments.

Segment files are written by hand into `tmp_path` (a `process` header naming a chosen pid and host,
then padding records) with mtimes set by `os.utime`; one test uses the real SDK writer. Commands run
through typer's CliRunner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tracer
from cli import app
from tracer import schema
from tui import prune
from tui.prune import PruneError, parse_duration, parse_size

runner = CliRunner()
HOST = prune.this_host()
DAY = 86400
needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")


def dead_pid() -> int:
    """The pid of a child process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def segment(
    directory: Path,
    name: str,
    *,
    age_s: float,
    pid: int,
    host: str = HOST,
    size: int = 1000,
    start_ns: int = 1,
    header: bytes | None = None,
) -> Path:
    """A segment file of about `size` bytes whose header names `pid`@`host`, last written `age_s` ago."""
    directory.mkdir(parents=True, exist_ok=True)
    if header is None:
        header = schema.encode_process(
            pid=pid, host=host, argv=["prog"], python="3.11.0", tracer_version="0", start_ns=start_ns
        )
    padding = b'{"kind":"trace_update","trace_id":"' + b"a" * 32 + b'","tags":{"pad":"'
    filler = max(0, size - len(header) - len(padding) - 4)
    path = directory / name
    path.write_bytes(header + padding + b"x" * filler + b'"}}\n')
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def invoke(*args: str):
    return runner.invoke(app, ["prune", *args])


# -- parsing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("12h", 43200), ("7d", 7 * DAY), ("2w", 14 * DAY), ("45s", 45), ("1.5h", 5400)],
)
def test_parse_duration_units(text, seconds):
    """Durations with s/m/h/d/w units (and decimals) convert to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["7", "7x", "d", "-1d", "7 days", "", "1e3s"])
def test_parse_duration_rejects_garbage(text):
    """A duration without a known unit, or not a plain non-negative number, is refused."""
    with pytest.raises(PruneError, match="bad duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500MB", 500_000_000),
        ("2GB", 2_000_000_000),
        ("1.5GiB", 1536 * 1024**2),
        ("10KiB", 10240),
        ("2gb", 2_000_000_000),
        ("123", 123),
        ("0B", 0),
    ],
)
def test_parse_size_units(text, size):
    """Sizes in decimal (KB…TB) and binary (KiB…TiB) units, or bare bytes, convert to bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["2G", "lots", "GB", "-1MB", "1.5.5MB"])
def test_parse_size_rejects_garbage(text):
    """Ambiguous (`2G`) or malformed sizes are refused."""
    with pytest.raises(PruneError, match="bad size"):
        parse_size(text)


# -- the rules -------------------------------------------------------------------------------------------


def test_older_than_deletes_only_files_last_written_before_the_cutoff(tmp_path):
    """--older-than 7d deletes the 10- and 8-day-old files, keeps the 6-day and fresh ones."""
    gone = dead_pid()
    old = [segment(tmp_path, f"old{i}.jsonl", age_s=d * DAY, pid=gone) for i, d in enumerate((10, 8))]
    young = [segment(tmp_path, f"young{i}.jsonl", age_s=s, pid=gone) for i, s in enumerate((6 * DAY, 60))]
    result = invoke(str(tmp_path), "--older-than", "7d")
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in old)
    assert all(p.exists() for p in young)
    assert "deleted old0.jsonl" in result.output and "deleted old1.jsonl" in result.output
    assert "deleted 2 files" in result.output


def test_max_size_deletes_oldest_first_until_under_the_limit(tmp_path):
    """--max-size removes files in mtime order (not name order) until the total fits, and no more."""
    gone = dead_pid()
    # name order is the reverse of age order, so a name sort would pick the wrong files
    ages = {"a.jsonl": 1, "b.jsonl": 2, "c.jsonl": 3, "d.jsonl": 4}  # days; d is the oldest
    paths = {n: segment(tmp_path, n, age_s=d * DAY, pid=gone, size=1000) for n, d in ages.items()}
    assert sum(p.stat().st_size for p in paths.values()) == 4000
    result = invoke(str(tmp_path), "--max-size", "2500B")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]
    assert "deleted d.jsonl  1000 B" in result.output and "deleted c.jsonl  1000 B" in result.output
    assert "deleted 2 files, 2.0 KiB" in result.output


def test_both_rules_delete_what_either_selects(tmp_path):
    """With --older-than and --max-size, a file goes if either rule selects it."""
    gone = dead_pid()
    segment(tmp_path, "ancient.jsonl", age_s=30 * DAY, pid=gone, size=100)
    segment(tmp_path, "big_old.jsonl", age_s=2 * DAY, pid=gone, size=5000)
    segment(tmp_path, "new.jsonl", age_s=60, pid=gone, size=100)
    result = invoke(str(tmp_path), "--older-than", "7d", "--max-size", "1KB")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.jsonl"]


@needs_proc
def test_a_file_held_open_is_never_deleted(tmp_path):
    """A file this process holds open survives both rules, though its header names a dead process."""
    gone = dead_pid()
    held = segment(tmp_path, "held.jsonl", age_s=30 * DAY, pid=gone)
    free = segment(tmp_path, "free.jsonl", age_s=30 * DAY, pid=gone)
    with open(held, "ab"):
        result = invoke(str(tmp_path), "--older-than", "1d", "--max-size", "0B")
        assert result.exit_code == 0, result.output
        assert held.exists() and not free.exists()
        assert f"kept held.jsonl  1000 B  (open in pid {os.getpid()})" in result.output
        assert "still above --max-size" in result.output
    result = invoke(str(tmp_path), "--older-than", "1d")  # closed now: nothing protects it any more
    assert result.exit_code == 0, result.output
    assert not held.exists()


def test_file_of_the_real_writer_is_never_deleted(trace_dir):
    """The SDK's own current segment (open, written by this live process) survives --max-size 0B."""

    @tracer.trace
    def work(x):
        return x

    work(1)
    tracer.flush()
    (live,) = trace_dir.glob("*.jsonl")
    past = time.time() - 30 * DAY
    os.utime(live, (past, past))
    result = invoke(str(trace_dir), "--max-size", "0B", "--older-than", "1d")
    assert result.exit_code == 0, result.output
    assert live.exists()
    assert "kept" in result.output


def test_live_pid_on_this_host_is_kept_and_a_dead_one_deleted(tmp_path):
    """Headers naming this process or a running child keep their file; a reaped child's file goes."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = segment(tmp_path, "mine.jsonl", age_s=30 * DAY, pid=os.getpid())
        child = segment(tmp_path, "child.jsonl", age_s=30 * DAY, pid=sleeper.pid)
        dead = segment(tmp_path, "dead.jsonl", age_s=30 * DAY, pid=dead_pid())
        result = invoke(str(tmp_path), "--older-than", "1d")
        assert result.exit_code == 0, result.output
        assert mine.exists() and child.exists() and not dead.exists()
        assert f"writer pid {sleeper.pid} is still running" in result.output
    finally:
        sleeper.kill()
        sleeper.wait()
    result = invoke(str(tmp_path), "--older-than", "1d")  # the child is gone now
    assert not child.exists() and mine.exists()


@needs_proc
def test_rotated_away_segment_of_a_live_writer_is_deleted(tmp_path):
    """A live writer's earlier segment (a later one from the same writer exists, not open) may go."""
    pid = os.getpid()
    first = segment(tmp_path, f"20260101T000000-h-{pid}-001.jsonl", age_s=3 * DAY, pid=pid, start_ns=7)
    current = segment(tmp_path, f"20260102T000000-h-{pid}-002.jsonl", age_s=2 * DAY, pid=pid, start_ns=7)
    other_run = segment(tmp_path, f"20260101T000000-h-{pid}-003.jsonl", age_s=DAY, pid=pid, start_ns=8)
    result = invoke(str(tmp_path), "--older-than", "1h")
    assert result.exit_code == 0, result.output
    assert not first.exists()
    assert current.exists() and other_run.exists()  # no later segment of *their* writer


@needs_proc
def test_unreadable_header_needs_age_and_no_open_handle(tmp_path):
    """A file without a readable process header goes only when idle long enough and not open."""
    old = segment(tmp_path, "old.jsonl", age_s=2 * prune.DOUBT_MIN_IDLE_S, pid=0, header=b"garbage\n")
    recent = segment(tmp_path, "recent.jsonl", age_s=60, pid=0, header=b"")
    result = invoke(str(tmp_path), "--max-size", "0B")
    assert result.exit_code == 0, result.output
    assert not old.exists()
    assert recent.exists()
    assert "kept recent.jsonl" in result.output and "no readable process header" in result.output


def test_other_host_file_kept_while_recent(tmp_path):
    """A file from another host (whose pid cannot be checked) is deleted by size only once idle."""
    recent = segment(tmp_path, "recent.jsonl", age_s=60, pid=os.getpid(), host="elsewhere.example")
    old = segment(tmp_path, "old.jsonl", age_s=2 * DAY, pid=os.getpid(), host="elsewhere.example")
    result = invoke(str(tmp_path), "--max-size", "0B")
    assert result.exit_code == 0, result.output
    assert recent.exists() and not old.exists()
    assert "written on host elsewhere.example" in result.output


def test_dry_run_deletes_nothing(tmp_path):
    """--dry-run lists the files it would delete and leaves every one in place."""
    gone = dead_pid()
    paths = [segment(tmp_path, f"s{i}.jsonl", age_s=(i + 2) * DAY, pid=gone) for i in range(3)]
    index = tmp_path / prune.SIDECAR_DIR
    index.mkdir()
    (index / "s0.jsonl.idx").write_bytes(b"idx")
    result = invoke(str(tmp_path), "--older-than", "1d", "--dry-run")
    assert result.exit_code == 0, result.output
    assert all(p.exists() for p in paths) and (index / "s0.jsonl.idx").exists()
    assert "would delete s0.jsonl  1000 B" in result.output
    assert "would delete .tracetui-index/s0.jsonl.idx" in result.output
    assert "would delete 3 files" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "7"], "bad duration"),
        (["--older-than", "soon"], "bad duration"),
        (["--max-size", "2G"], "bad size"),
        (["--max-size", "big"], "bad size"),
        ([], "give --older-than and/or --max-size"),
    ],
)
def test_bad_arguments_exit_1_with_a_message(tmp_path, args, message):
    """Unparsable durations or sizes, or no rule at all, exit 1 with a clear message and delete nothing."""
    path = segment(tmp_path, "s.jsonl", age_s=30 * DAY, pid=dead_pid())
    result = invoke(str(tmp_path), *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert path.exists()


def test_missing_directory_exits_1(tmp_path):
    """A directory that does not exist is a bad argument, reported on stderr with exit 1."""
    result = invoke("--dir", str(tmp_path / "nope"), "--older-than", "1d")
    assert result.exit_code == 1
    assert "is not a directory" in result.stderr


def test_other_files_subdirectories_and_symlinks_are_untouched(tmp_path):
    """Only regular .jsonl files directly in DIR are candidates: not other files, subdirs or symlinks."""
    gone = dead_pid()
    traces = tmp_path / "traces"
    outside = segment(tmp_path / "outside", "target.jsonl", age_s=30 * DAY, pid=gone)
    victim = segment(traces, "victim.jsonl", age_s=30 * DAY, pid=gone)
    notes = traces / "notes.txt"
    notes.write_text("keep me")
    nested = segment(traces / "sub", "nested.jsonl", age_s=30 * DAY, pid=gone)
    (traces / "dir.jsonl").mkdir()
    link = traces / "link.jsonl"
    link.symlink_to(outside)
    for path in (notes, traces / "dir.jsonl"):
        os.utime(path, (0, 0))
    result = invoke(str(traces), "--older-than", "1d", "--max-size", "0B")
    assert result.exit_code == 0, result.output
    assert not victim.exists()
    assert notes.exists() and nested.exists() and (traces / "dir.jsonl").is_dir()
    assert link.is_symlink() and outside.exists()
    assert "deleted 1 file," in result.output


def test_sidecar_index_of_a_deleted_segment_goes_with_it(tmp_path):
    """`.tracetui-index/<segment>.idx` is deleted with its segment; a kept segment's sidecar stays."""
    gone = dead_pid()
    old = segment(tmp_path, "old.jsonl", age_s=30 * DAY, pid=gone)
    new = segment(tmp_path, "new.jsonl", age_s=60, pid=gone)
    index = tmp_path / prune.SIDECAR_DIR
    index.mkdir()
    for name in ("old.jsonl.idx", "new.jsonl.idx"):
        (index / name).write_bytes(b"idx")
    result = invoke(str(tmp_path), "--older-than", "1d")
    assert result.exit_code == 0, result.output
    assert not old.exists() and new.exists()
    assert not (index / "old.jsonl.idx").exists() and (index / "new.jsonl.idx").exists()
    assert "deleted .tracetui-index/old.jsonl.idx" in result.output


def test_default_directory_comes_from_the_environment(tmp_path, monkeypatch):
    """Without DIR or --dir, prune works on $TRACETUI_DIR like `ls` does."""
    path = segment(tmp_path, "s.jsonl", age_s=30 * DAY, pid=dead_pid())
    monkeypatch.setenv("TRACETUI_DIR", str(tmp_path))
    result = invoke("--older-than", "1d")
    assert result.exit_code == 0, result.output
    assert not path.exists()


def test_without_proc_an_unreadable_header_is_kept(tmp_path, monkeypatch):
    """Where open handles cannot be listed (no /proc), a headerless file is kept; a dead pid's goes."""
    monkeypatch.setattr(prune, "scan_open_files", lambda targets: prune.OpenFiles(available=False))
    headerless = segment(tmp_path, "headerless.jsonl", age_s=30 * DAY, pid=0, header=b"garbage\n")
    dead = segment(tmp_path, "dead.jsonl", age_s=30 * DAY, pid=dead_pid())
    result = invoke(str(tmp_path), "--older-than", "1d")
    assert result.exit_code == 0, result.output
    assert headerless.exists() and not dead.exists()
    assert "open files cannot be checked" in result.output


def test_prune_module_imports_no_viewer_dependencies():
    """`import tui.prune` loads none of textual, rich, watchfiles or typer."""
    code = "import json, sys, tui.prune; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert not {"textual", "rich", "watchfiles", "typer"} & set(json.loads(out))

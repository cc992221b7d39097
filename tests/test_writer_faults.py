"""Writer fault injection: failing writes (ENOSPC, EIO, EBADF), the directory deleted, replaced by a file
or made read-only, the file rotated away, and `multiprocessing` with spawn and fork.

In every case the traced program's results equal the untraced ones, a failure episode logs exactly one
"cannot write" warning on the ``tracer`` logger, and records written after the fault goes away land in a
trace file whose every line decodes. Faults are injected only through the writer's use of ``os`` and the
file system; the checks read files, records and log records.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import _mp_worker
import pytest
from conftest import read_records

import tracer
from tracer import schema

writer_module = sys.modules["tracer.writer"]  # `tracer.writer` the attribute is the Writer instance

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file semantics")


def compute(x: int) -> dict[str, Any]:
    return {"x": x, "squares": [i * i for i in range(x % 7)], "text": "é" * (x % 3)}


traced_compute = tracer.trace(compute)


def run_calls(labels: range) -> None:
    """Traced calls with flushes in between (so a fault meets several batches); results must match."""
    for i in labels:
        assert traced_compute(i) == compute(i)
        if i % 3 == 0:
            tracer.flush()
    tracer.flush()


def failure_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tracer" and r.levelno >= logging.WARNING and "cannot write" in r.getMessage()
    ]


def inputs_on_disk(directory: Path) -> list[int]:
    """The `x` of every compute span in the directory's files; every line must decode."""
    xs = []
    for path in sorted(directory.glob("*" + schema.FILE_SUFFIX)):
        data = path.read_bytes()
        for line in data.split(b"\n")[:-1]:
            record = schema.decode(line)
            if record["kind"] == schema.SPAN_START:
                xs.append(record["inputs"]["x"])
    return xs


class FailingOs(SimpleNamespace):
    """`os` for the writer, with `write` failing with `code` while `failing` is set."""

    def __init__(self, code: int) -> None:
        super().__init__(failing=False, calls=0, code=code)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        if self.failing:
            self.calls += 1
            raise OSError(self.code, os.strerror(self.code))
        return os.write(fd, data)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EBADF], ids=errno.errorcode.get)
def test_failing_write_warns_once_per_episode_and_recovers(
    trace_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """write() failing (ENOSPC/EIO/EBADF): same results, one warning per episode, records land after it."""
    caplog.set_level(logging.WARNING, logger="tracer")
    fake = FailingOs(code)
    monkeypatch.setattr(writer_module, "os", fake)
    run_calls(range(0, 5))
    assert failure_warnings(caplog) == []

    for episode, (bad, good) in enumerate(
        [(range(100, 110), range(200, 205)), (range(300, 310), range(400, 405))]
    ):
        fake.failing = True
        run_calls(bad)
        assert fake.calls >= 3, "the fault was not hit (does the writer still call os.write?)"
        fake.failing = False
        run_calls(good)
        warnings = failure_warnings(caplog)
        assert len(warnings) == episode + 1, warnings
        assert errno.errorcode[code] in warnings[-1] or os.strerror(code) in warnings[-1]

    on_disk = inputs_on_disk(trace_dir)
    assert set(on_disk) >= {*range(0, 5), *range(200, 205), *range(400, 405)}
    assert not set(on_disk) & {*range(100, 110), *range(300, 310)}  # dropped, never half-written


def test_directory_deleted_mid_run_loses_nothing_written_after(
    trace_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Directory deleted mid-run: same results, no warning, recreated, every later record in it."""
    caplog.set_level(logging.WARNING, logger="tracer")
    run_calls(range(0, 5))
    shutil.rmtree(trace_dir)
    run_calls(range(10, 20))
    assert failure_warnings(caplog) == []
    assert sorted(inputs_on_disk(trace_dir)) == list(range(10, 20))


def test_directory_replaced_by_a_file_mid_run_warns_once_and_recovers(
    trace_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Directory replaced by a file: one warning, same results; once removed, new records land again."""
    caplog.set_level(logging.WARNING, logger="tracer")
    run_calls(range(0, 3))
    shutil.rmtree(trace_dir)
    trace_dir.write_text("in the way")
    run_calls(range(10, 20))
    assert len(failure_warnings(caplog)) == 1
    assert trace_dir.read_text() == "in the way"
    trace_dir.unlink()
    run_calls(range(20, 25))
    assert len(failure_warnings(caplog)) == 1
    assert sorted(inputs_on_disk(trace_dir)) == list(range(20, 25))


def _chmod_works(directory: Path) -> bool:
    probe = directory / "probe"
    probe.mkdir()
    probe.chmod(0o500)
    try:
        return not os.access(probe, os.W_OK)
    finally:
        probe.chmod(0o700)
        probe.rmdir()


def test_directory_made_read_only_mid_run_warns_once_and_recovers(
    trace_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Directory made read-only (file removed): one warning, same results; after chmod 0700 records land."""
    if not _chmod_works(tmp_path):
        pytest.skip("running as root: chmod does not stop writes")
    caplog.set_level(logging.WARNING, logger="tracer")
    run_calls(range(0, 3))
    for path in trace_dir.glob("*" + schema.FILE_SUFFIX):
        path.unlink()
    trace_dir.chmod(0o500)
    try:
        run_calls(range(10, 20))
        assert len(failure_warnings(caplog)) == 1
    finally:
        trace_dir.chmod(0o700)
    run_calls(range(20, 25))
    assert len(failure_warnings(caplog)) == 1
    assert sorted(inputs_on_disk(trace_dir)) == list(range(20, 25))


@pytest.mark.parametrize("recreate", [False, True], ids=["moved", "moved-and-recreated"])
def test_file_rotated_away_under_the_writer_gets_a_new_file(
    trace_dir: Path, caplog: pytest.LogCaptureFixture, recreate: bool
) -> None:
    """The current file renamed away (or replaced by an empty one): later records go to a new file only."""
    caplog.set_level(logging.WARNING, logger="tracer")
    run_calls(range(0, 5))
    (current,) = trace_dir.glob("*" + schema.FILE_SUFFIX)
    rotated = trace_dir / "rotated.log.1"
    os.rename(current, rotated)
    if recreate:
        current.write_bytes(b"")
    run_calls(range(10, 15))
    old = [schema.decode(line) for line in rotated.read_bytes().splitlines()]
    assert [r["inputs"]["x"] for r in old if r["kind"] == schema.SPAN_START] == list(range(0, 5))
    new_files = [p for p in trace_dir.glob("*" + schema.FILE_SUFFIX) if p.stat().st_size]
    assert len(new_files) == 1 and new_files[0] != current
    new = [schema.decode(line) for line in new_files[0].read_bytes().splitlines()]
    assert new[0]["kind"] == schema.PROCESS and new[0]["pid"] == os.getpid()
    assert [r["inputs"]["x"] for r in new if r["kind"] == schema.SPAN_START] == list(range(10, 15))
    if recreate:
        assert current.read_bytes() == b""
    assert failure_warnings(caplog) == []


# -- multiprocessing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [
        "spawn",
        pytest.param(
            "fork",
            marks=pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork"),
        ),
    ],
)
def test_pool_children_write_their_own_files(
    trace_dir: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """Pool workers (spawn/fork) write their own files, never the parent's; every line decodes."""
    monkeypatch.setenv("TRACETUI_DIR", str(trace_dir))  # spawned children configure from the environment
    parent = os.getpid()
    _mp_worker.square(-1)  # the parent writes too, and may have records pending at fork time
    context = multiprocessing.get_context(method)
    pool = context.Pool(2)
    try:
        results = pool.map(_mp_worker.square, range(12))
    finally:
        pool.close()
        pool.join()  # a clean exit: (os._exit after a fork, so no atexit) every record must be on disk
    _mp_worker.square(-2)
    tracer.flush()
    assert [r[0] for r in results] == [x * x for x in range(12)]
    worker_pids = {r[1] for r in results}
    assert parent not in worker_pids

    xs_by_pid: dict[int, list[int]] = {}
    for path in sorted(trace_dir.glob("*" + schema.FILE_SUFFIX)):
        records = [schema.decode(line) for line in path.read_bytes().split(b"\n")[:-1]]
        assert path.read_bytes().endswith(b"\n")
        assert records[0]["kind"] == schema.PROCESS
        pid = records[0]["pid"]
        assert f"-{pid}-" in path.name
        xs = [r["inputs"]["x"] for r in records if r["kind"] == schema.SPAN_START and r["name"] == "square"]
        xs_by_pid.setdefault(pid, []).extend(xs)
        assert len([r for r in records if r["kind"] == schema.TRACE_SUMMARY]) == len(xs), path.name
    assert sorted(xs_by_pid.pop(parent)) == [-2, -1]
    assert set(xs_by_pid) <= worker_pids
    for pid, xs in xs_by_pid.items():
        assert sorted(xs) == [x for x, (_, worker) in enumerate(results) if worker == pid]
    assert sorted(x for xs in xs_by_pid.values() for x in xs) == list(range(12))
    assert len(read_records(trace_dir)) > 0

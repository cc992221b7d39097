"""Shared fixtures: a fresh trace directory per test, deterministic clocks/ids, and record readers."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracer
from tracer import schema
from tracer.config import settings
from tracer.writer import writer
from tui.store import TraceStore, load_directory


@pytest.fixture
def trace_dir(tmp_path: Path) -> Iterator[Path]:
    """Point the tracer at an empty directory for the test; restore every setting afterwards."""
    directory = tmp_path / "traces"
    tracer.configure(directory=directory)
    yield directory
    writer.close()
    settings.reset()


class FakeClock:
    """A nanosecond clock that advances by `step` on every reading, starting at `start`."""

    def __init__(self, start: int = 1_000_000_000, step: int = 1_000) -> None:
        self._ticks = itertools.count(start, step)

    def __call__(self) -> int:
        return next(self._ticks)


@pytest.fixture
def deterministic(trace_dir: Path) -> Path:
    """Sequential ids (1, 2, …) and a clock ticking 1 µs per reading, from 1 s."""
    tracer.configure(clock=FakeClock(), id_generator=tracer.SequentialIdGenerator())
    return trace_dir


REPO_ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(trace_dir: Path) -> dict[str, str]:
    """Environment for a traced program run in a subprocess: this checkout importable, writing to
    `trace_dir`, tracing on, output unbuffered (so a test can wait for what it prints)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["TRACETUI_DIR"] = str(trace_dir)
    env.pop("TRACETUI_DISABLED", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def read_records(directory: Path) -> list[dict[str, Any]]:
    """Every record in the directory's trace files (after flushing), in file order."""
    tracer.flush()
    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*" + schema.FILE_SUFFIX)):
        for line in path.read_bytes().splitlines():
            records.append(schema.decode(line))
    return records


def span_records(directory: Path) -> list[dict[str, Any]]:
    """Records other than the per-file PROCESS header."""
    return [r for r in read_records(directory) if r["kind"] != schema.PROCESS]


def load(directory: Path) -> TraceStore:
    """The store's view of the directory, after flushing the tracer."""
    tracer.flush()
    return load_directory(directory)

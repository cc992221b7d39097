"""Shared fixtures: a fresh trace directory per test, deterministic clocks/ids, and record readers."""

from __future__ import annotations

import itertools
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

"""The viewer shows spans whose writing process is gone as interrupted: not running, not ticking.

Files are written by hand: a process record naming a pid on this host (a reaped child: dead; a sleeping
child: alive), then span records. Liveness is judged from that record, so no real tracer is involved.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from _pilot import (
    app_of,
    append,
    now_ns,
    run_app,
    settle,
    show_tab,
    span_end,
    span_start,
    text_of,
    trace_id_of,
    tree_labels,
    wait_for,
    widget_lines,
)

from tracer import schema
from tui.liveness import this_host
from tui.widgets.span_detail import SpanDetail
from tui.widgets.span_tree import SpanTree
from tui.widgets.trace_list import TraceList

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pids")


def _process_record(pid: int, start_ns: int) -> bytes:
    return schema.encode_process(
        pid=pid, host=this_host(), argv=["agent.py"], python="3.11.0", tracer_version="0", start_ns=start_ns
    )


def _dead_pid() -> int:
    """The pid of a child process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _unfinished_trace(path: Path, pid: int) -> str:
    """A file by `pid`: root `agent` and child `stuck` started, never ended; child `done` finished."""
    tid = trace_id_of(42)
    t0 = now_ns() - 2_000_000_000
    append(
        path,
        _process_record(pid, t0 - 1_000_000_000),
        span_start(tid, "a" * 16, "agent", t0, span_type="AGENT"),
        span_start(tid, "b" * 16, "done", t0 + 1_000, parent_id="a" * 16),
        span_end(tid, "b" * 16, t0 + 2_000, outputs="ok"),
        span_start(tid, "c" * 16, "stuck", t0 + 3_000, parent_id="a" * 16),
    )
    return tid


def _marks(tree: SpanTree) -> list[str]:
    return [label.lstrip()[:1] for label in tree_labels(tree)]


async def test_a_trace_whose_process_is_dead_shows_as_interrupted_not_running(tmp_path: Path):
    """Unended spans of a dead pid show ⚠ interrupted in the list, tree and detail, and stop ticking."""
    _unfinished_trace(tmp_path / "run.jsonl", _dead_pid())
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        tree = app.query_one(SpanTree)
        detail = app.query_one(SpanDetail)
        await wait_for(pilot, lambda: _marks(tree) == ["⚠", "✓", "⚠"], what="tree marks ⚠ ✓ ⚠")
        assert trace_list.rows[0].status == schema.TRACE_INTERRUPTED
        row = next(line for line in widget_lines(app, trace_list) if "agent" in line)
        assert "⚠ interrupted" in row and "●" not in row
        assert all("interrupted" in label for label in tree_labels(tree) if label.lstrip()[:1] == "⚠")
        await show_tab(pilot, detail, "outputs")
        await wait_for(pilot, lambda: "(interrupted" in text_of(app, detail), what="outputs: interrupted")
        assert "(running)" not in text_of(app, detail)
        labels = tree_labels(tree)
        await settle(pilot, 1.1)  # running labels would tick every 0.5 s
        assert tree_labels(tree) == labels


async def test_a_live_writers_open_span_shows_running_and_turns_interrupted_when_it_dies(tmp_path: Path):
    """A live pid's unended spans show ● running; killed (no new record), they turn ⚠ interrupted."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _unfinished_trace(tmp_path / "run.jsonl", sleeper.pid)
        async with run_app(tmp_path) as pilot:
            app = app_of(pilot)
            trace_list = app.query_one(TraceList)
            tree = app.query_one(SpanTree)
            await wait_for(pilot, lambda: _marks(tree) == ["●", "✓", "●"], what="tree marks ● ✓ ●")
            assert trace_list.rows[0].status == schema.TRACE_IN_PROGRESS
            await settle(pilot, 0.5)
            assert _marks(tree) == ["●", "✓", "●"]
            assert trace_list.rows[0].status == schema.TRACE_IN_PROGRESS
            sleeper.kill()
            sleeper.wait()
            started = time.monotonic()
            await wait_for(
                pilot, lambda: _marks(tree) == ["⚠", "✓", "⚠"], timeout=6.0, what="tree turns interrupted"
            )
            await wait_for(
                pilot,
                lambda: any("⚠ interrupted" in line for line in widget_lines(app, trace_list)),
                what="list row turns interrupted",
            )
            assert trace_list.rows[0].status == schema.TRACE_INTERRUPTED
            assert time.monotonic() - started < 5.0
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()

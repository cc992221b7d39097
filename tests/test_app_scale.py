"""The trace list as a virtual view at scale: a directory of 100,000 traces opens in the viewer, the end
key scrolls to the oldest, and `/` filters the whole list (and clearing restores it) quickly."""

from __future__ import annotations

import time
from pathlib import Path

from _pilot import app_of, run_app, trace_id_of, wait_for, widget_lines
from textual.widgets import Input

from tracer import schema
from tui.widgets.trace_list import TraceList

TRACES = 100_000
EVERY = 1_000  # one trace in this many is named so that the filter finds it
NEEDLE = "zebra"
T0 = 1_700_000_000_000_000_000
FILTER_BUDGET_S = 2.0


def name_of(i: int) -> str:
    return f"{NEEDLE}_{i}" if i % EVERY == 7 else f"request_{i}"


def write_traces(path: Path) -> None:
    """TRACES finished traces, trace i starting at T0 + i µs: a root span_start and a summary each."""
    lines = []
    start, summary = schema.encode_span_start, schema.encode_trace_summary
    for i in range(TRACES):
        tid = trace_id_of(i + 1)
        root = f"{i + 1:016x}"
        at = T0 + i * 1_000
        lines.append(start(tid, root, None, name_of(i), "CHAIN", at, {"n": i}, {}, None))
        lines.append(
            summary(
                tid,
                root_span_id=root,
                name=name_of(i),
                status=schema.STATUS_OK,
                start_ns=at,
                end_ns=at + 500,
                span_count=1,
                error_count=0,
                request_preview=f'{{"n":{i}}}',
                response_preview=None,
                tags={},
                metadata={},
            )
        )
    path.write_bytes(b"".join(lines))


async def test_100k_traces_scroll_to_the_end_and_filter(tmp_path: Path):
    """With 100,000 traces, end/G show the oldest row, `/` narrows to the matches, esc restores all."""
    write_traces(tmp_path / "big.jsonl")
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        await wait_for(pilot, lambda: len(trace_list.rows) == TRACES, timeout=20, what="100,000 rows")
        await wait_for(pilot, lambda: trace_list.highlighted_trace_id is not None, what="a row highlighted")
        assert trace_list.rows[0].name == name_of(TRACES - 1)  # newest first

        await pilot.press("end")
        await wait_for(pilot, lambda: trace_list.cursor == TRACES - 1, what="cursor on the last row")
        assert trace_list.highlighted_trace_id == trace_id_of(1)
        assert trace_list.scroll_offset.y >= TRACES - trace_list.size.height
        await pilot.pause()
        await wait_for(
            pilot,
            lambda: any(f" {name_of(0)} " in line for line in widget_lines(app, trace_list)),
            what="the oldest trace on screen",
        )
        await pilot.press("home")
        await wait_for(pilot, lambda: trace_list.cursor == 0, what="back to the newest")
        await pilot.press("G")
        await wait_for(pilot, lambda: trace_list.cursor == TRACES - 1, what="G to the last row")
        await pilot.press("k")
        await wait_for(
            pilot, lambda: trace_list.highlighted_trace_id == trace_id_of(2), what="k moves up one"
        )

        await pilot.press("slash")
        field = app.query_one("#filter", Input)
        await wait_for(pilot, lambda: field.has_focus, what="the filter field focused")
        began = time.perf_counter()
        await pilot.press(*NEEDLE)
        expected = [name_of(i) for i in reversed(range(TRACES)) if i % EVERY == 7]
        await wait_for(pilot, lambda: len(trace_list.rows) == len(expected), timeout=10, what="filtered rows")
        elapsed = time.perf_counter() - began
        assert [row.name for row in trace_list.rows] == expected
        assert elapsed < FILTER_BUDGET_S * len(NEEDLE), f"typing the filter took {elapsed:.2f} s"
        # The highlighted trace is filtered out: the cursor stays as near as it can (the oldest match),
        # and that row is on screen.
        assert trace_list.cursor == len(expected) - 1
        await wait_for(
            pilot,
            lambda: any(f" {expected[-1]} " in line for line in widget_lines(app, trace_list)),
            what="the highlighted match on screen",
        )

        # One more filter over all 100,000 (summaries built by now): within the budget on its own.
        began = time.perf_counter()
        field.value = name_of(99_007)
        await wait_for(pilot, lambda: len(trace_list.rows) == 1, what="a single match")
        assert time.perf_counter() - began < FILTER_BUDGET_S
        assert trace_list.rows[0].name == name_of(99_007)

        await pilot.press("escape")
        await wait_for(pilot, lambda: len(trace_list.rows) == TRACES, what="the filter cleared")
        assert not field.value

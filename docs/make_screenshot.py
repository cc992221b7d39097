"""Save docs/screenshot.svg: the viewer on sample_runs/, the agent trace open at its failed tool call.

    python docs/make_screenshot.py

Runs the real app headless (`App.run_test`, 160x45), waits for the sample traces to load, selects the
`run_agent` trace, puts the span tree's cursor on the failed `weather` tool call (the `e` key: next error
span) and shows its Exception tab, then saves the screen as SVG. Re-record the samples first with
``SAMPLE_PACE=1 python -m sample_runs.record`` if the format changed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.app import make_app  # noqa: E402
from tui.widgets.span_detail import SpanDetail  # noqa: E402
from tui.widgets.span_tree import SpanTree  # noqa: E402
from tui.widgets.trace_list import TraceList  # noqa: E402

SAMPLES = ROOT / "sample_runs"
DOCS = ROOT / "docs"
SIZE = (160, 45)
TRACE_NAME = "run_agent"
SPAN_NAME = "weather"


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def main() -> Path:
    expected = sum(1 for _ in SAMPLES.glob("*.jsonl"))
    if not expected:
        raise SystemExit(f"no recordings in {SAMPLES}: run `SAMPLE_PACE=1 python -m sample_runs.record`")
    app = make_app(SAMPLES)
    async with app.run_test(size=SIZE) as pilot:
        trace_list = app.query_one(TraceList)
        await wait_for(lambda: any(row.name == TRACE_NAME for row in trace_list.rows), "the agent trace")
        await pilot.pause(0.3)  # let the remaining files land
        trace_id = next(row.trace_id for row in trace_list.rows if row.name == TRACE_NAME)
        while trace_list.highlighted_trace_id != trace_id:
            before = trace_list.cursor
            await pilot.press("j")
            if trace_list.cursor == before:
                raise SystemExit("could not move the trace list cursor to the agent trace")
        tree = app.query_one(SpanTree)
        await wait_for(lambda: tree.trace_id == trace_id, "the agent trace's span tree")
        await pilot.press("e")  # next error span: the failed tool call
        await pilot.pause()
        store_trace = app.store.get(trace_id)
        span = store_trace.get_span(tree.highlighted_span_id or "") if store_trace else None
        if span is None or span.raw_name != SPAN_NAME:
            raise SystemExit(f"expected the cursor on {SPAN_NAME!r}, got {span.raw_name if span else None!r}")
        app.query_one(SpanDetail).active = "exception"
        await pilot.pause(0.3)
        saved = app.save_screenshot(filename="screenshot.svg", path=str(DOCS))
    return Path(saved)


if __name__ == "__main__":
    print(f"saved {asyncio.run(main())}")

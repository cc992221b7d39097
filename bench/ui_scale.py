"""The viewer at scale: with 500,000 traces loaded, how long does a key press take to take effect?

One command: writes a synthetic directory (or uses `--dir`), indexes it once (`open_store`, which also
writes the persistent index), then runs the real `TraceApp` headless (`App.run_test`, 140x45) on it and:

- key -> effect: posts key events to the app as the terminal driver does (`events.Key` messages) — `j`,
  `k`, `pagedown`, `pageup`, `end`, `home`, `G`, `g` in turn — and times each until (1) the list's cursor
  has moved (`TraceList._move_to` ran) and (2) the row under the new cursor has been rendered
  (`TraceList.render_line` for that row: it is on screen). Median / p95 / max.
- filter: `/`, then a needle typed key by key; per key, the time until the list holds the filtered rows
  (`set_rows`) and until a row of the new list is rendered. The first key is the cold case (every summary's
  search text built once); later keys reuse it. Then `escape` back to all rows.
- an asyncio task sleeping 10 ms in a loop records how long the event loop is ever blocked.

With `--live RATE`, a writer (bench/latency.py's, the real SDK) adds RATE spans a second to the same
directory while the keys are pressed, so the list also grows under the cursor.

    python bench/ui_scale.py                       # 500,000 traces, 64 key presses, one filter
    python bench/ui_scale.py --live 10000          # the same while a writer adds 10,000 spans/s
    python bench/ui_scale.py --dir /tmp/bench-traces   # an existing directory (e.g. bench/make_traces.py)

Target (issue 4): a key press takes effect in under 50 ms with 500,000 traces loaded; a filter over
500,000 summaries answers "within a frame or two".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracer import schema  # noqa: E402

SIZE = (140, 45)
TARGET_MS = 50.0
KEYS = ("j", "k", "pagedown", "pageup", "end", "home", "G", "g")
PRESSES = 64
NEEDLE = "refund"
TRACES_PER_FILE = 100_000
BASE_NS = 1_767_225_600 * 10**9
NAMES = ("chat_completion", "rag_query", "agent_run", "summarize_ticket", "classify_intent", "tool_call")
WORDS = (
    "customer order invoice payment shipping refund account policy search document answer user context "
    "delivery address subscription cancel upgrade password reset warranty return exchange discount"
).split()


# -- the synthetic directory -----------------------------------------------------------------------


def write_directory(directory: Path, traces: int, seed: int = 1) -> None:
    """`traces` finished traces in files of TRACES_PER_FILE: each a root span_start, span_end and a
    trace_summary (a name from a small pool, a request preview of a few words, some errors and tags)."""
    rng = random.Random(seed)
    start, end, summary = schema.encode_span_start, schema.encode_span_end, schema.encode_trace_summary
    number = 0
    for file_index in range((traces + TRACES_PER_FILE - 1) // TRACES_PER_FILE):
        lines = [
            schema.encode_process(
                pid=1000 + file_index,
                host="bench",
                argv=["bench"],
                python="3",
                tracer_version="0",
                start_ns=0,
            )
        ]
        for _ in range(min(TRACES_PER_FILE, traces - number)):
            tid = f"{number + 1:032x}"
            root = f"{number + 1:016x}"
            at = BASE_NS + number * 2_000_000_000
            name = NAMES[number % len(NAMES)]
            question = " ".join(rng.choice(WORDS) for _ in range(8))
            request = {"question": question, "user": f"u{number % 977}"}
            status = schema.STATUS_ERROR if number % 20 == 0 else schema.STATUS_OK
            tags = {"env": "prod"} if number % 3 == 0 else {}
            lines.append(start(tid, root, None, name, "AGENT", at, request, {}, None))
            lines.append(end(tid, root, at + 1_500_000_000, status, "", {"answer": question[:30]}, {}))
            lines.append(
                summary(
                    tid,
                    root_span_id=root,
                    name=name,
                    status=status,
                    start_ns=at,
                    end_ns=at + 1_500_000_000,
                    span_count=1,
                    error_count=int(status == schema.STATUS_ERROR),
                    request_preview=f'{{"question":"{question}","user":"u{number % 977}"}}',
                    response_preview=f'{{"answer":"{question[:30]}"}}',
                    tags=tags,
                    metadata={},
                )
            )
            number += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(BASE_NS / 1e9 + file_index))
        (directory / f"{stamp}-bench-{1000 + file_index}-001{schema.FILE_SUFFIX}").write_bytes(
            b"".join(lines)
        )


# -- figures ---------------------------------------------------------------------------------------


def line(label: str, values_ms: list[float]) -> str:
    v = sorted(values_ms)
    if not v:
        return f"{label}: no samples"
    p95 = v[min(len(v) - 1, round(0.95 * (len(v) - 1)))]
    return f"{label}: n={len(v)}  median {statistics.median(v):.1f} ms  p95 {p95:.1f} ms  max {v[-1]:.1f} ms"


def machine_info() -> str:
    import textual

    return (
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}; "
        f"python {platform.python_version()}, textual {textual.__version__}"
    )


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            for text in handle:
                if text.startswith("VmRSS:"):
                    return int(text.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# -- the app ---------------------------------------------------------------------------------------


async def measure(directory: Path, expected_rows: int, presses: int, live_rate: float) -> dict:
    from textual import events
    from textual.widgets import Input

    from tui.app import make_app
    from tui.widgets.trace_list import TraceList

    out: dict = {"key_action": [], "key_render": [], "filter": [], "stall": [], "timeouts": 0}
    app = make_app(directory)
    began = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        trace_list = app.query_one(TraceList)
        while len(trace_list.rows) < expected_rows:
            if time.perf_counter() - began > 300:
                raise SystemExit(f"only {len(trace_list.rows):,} of {expected_rows:,} rows after 300 s")
            await asyncio.sleep(0.05)
        out["open_s"] = time.perf_counter() - began
        out["rows"] = len(trace_list.rows)
        await pilot.pause(1.0)  # let the first screen settle (and the index save after catching up)

        # Hooks: when the cursor moves, and when a row is rendered.
        moved = asyncio.Event()
        rendered = asyncio.Event()
        state = {"moved_at": 0, "rendered_at": 0, "want_row": -2, "rows_at": 0}
        original_move, original_render, original_set_rows = (
            trace_list._move_to,
            trace_list.render_line,
            trace_list.set_rows,
        )

        def move_to(index: int, *, scroll: bool = True) -> None:
            original_move(index, scroll=scroll)
            if not state["moved_at"]:
                state["moved_at"] = time.perf_counter_ns()
                moved.set()

        def render_line(y: int):  # type: ignore[no-untyped-def]
            strip = original_render(y)
            want = state["want_row"]
            if want == -1:  # a cursor move: the row under the moved cursor
                want = trace_list.cursor if state["moved_at"] else -2
            elif want == -3:  # a filter: any row, once the filtered rows are set
                want = trace_list.scroll_offset.y + y if state["rows_at"] else -2
            if trace_list.scroll_offset.y + y == want and not state["rendered_at"]:
                state["rendered_at"] = time.perf_counter_ns()
                rendered.set()
            return strip

        def set_rows(rows) -> None:  # type: ignore[no-untyped-def]
            original_set_rows(rows)
            if not state["rows_at"]:
                state["rows_at"] = time.perf_counter_ns()

        trace_list._move_to = move_to  # type: ignore[method-assign]
        trace_list.render_line = render_line  # type: ignore[method-assign]
        trace_list.set_rows = set_rows  # type: ignore[method-assign]

        running = True

        async def watch_loop() -> None:
            while running:
                t = time.perf_counter_ns()
                await asyncio.sleep(0.01)
                out["stall"].append(max(0, time.perf_counter_ns() - t - 10_000_000) / 1e6)

        stall_task = asyncio.create_task(watch_loop())
        writer = None
        if live_rate:
            spans = int(live_rate * 30)
            command = [sys.executable, str(ROOT / "bench" / "latency.py"), "--writer", str(directory)]
            writer = subprocess.Popen([*command, str(spans), str(live_rate), "10"], stdout=subprocess.DEVNULL)
            await asyncio.sleep(1.0)

        for press in range(presses):
            key = KEYS[press % len(KEYS)]
            char = key if len(key) == 1 else None
            for event in (moved, rendered):
                event.clear()
            state.update(moved_at=0, rendered_at=0, want_row=-1)
            t0 = time.perf_counter_ns()
            app.post_message(events.Key(key, char))
            try:
                await asyncio.wait_for(moved.wait(), 5)
                await asyncio.wait_for(rendered.wait(), 5)
            except asyncio.TimeoutError:
                out["timeouts"] += 1
                continue
            out["key_action"].append((state["moved_at"] - t0) / 1e6)
            out["key_render"].append((state["rendered_at"] - t0) / 1e6)
            await asyncio.sleep(0.05)  # a fast typist's pace, not a flood

        # The filter: `/`, then the needle key by key.
        app.post_message(events.Key("slash", "/"))
        field = app.query_one("#filter", Input)
        while not field.has_focus:
            await asyncio.sleep(0.01)
        for char in NEEDLE:
            state.update(rows_at=0, rendered_at=0, want_row=-3)
            rendered.clear()
            t0 = time.perf_counter_ns()
            app.post_message(events.Key(char, char))
            while not state["rows_at"]:
                await asyncio.sleep(0.001)
            rows_ms = (state["rows_at"] - t0) / 1e6
            try:
                await asyncio.wait_for(rendered.wait(), 10)
                render_ms = (state["rendered_at"] - t0) / 1e6
            except asyncio.TimeoutError:
                render_ms = float("nan")
            out["filter"].append((field.value, len(trace_list.rows), rows_ms, render_ms))
            await asyncio.sleep(0.05)
        state.update(rows_at=0)
        t0 = time.perf_counter_ns()
        app.post_message(events.Key("escape", None))
        while not state["rows_at"]:
            await asyncio.sleep(0.001)
        out["clear_ms"] = (state["rows_at"] - t0) / 1e6
        out["rows_after_clear"] = len(trace_list.rows)
        running = False
        await stall_task
        if writer is not None:
            writer.terminate()
            writer.wait()
        out["rss_mb"] = rss_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=500_000)
    parser.add_argument("--dir", type=Path, help="use this trace directory instead of writing one")
    parser.add_argument("--presses", type=int, default=PRESSES)
    parser.add_argument("--live", type=float, default=0.0, help="a writer adding this many spans a second")
    args = parser.parse_args()
    print(machine_info())
    with tempfile.TemporaryDirectory(prefix="tracetui-ui-scale-") as tmp:
        directory = args.dir
        if directory is None:
            directory = Path(tmp)
            t = time.perf_counter()
            write_directory(directory, args.traces)
            size = sum(p.stat().st_size for p in directory.iterdir())
            print(
                f"wrote {args.traces:,} traces ({size / 2**20:,.0f} MiB) in {time.perf_counter() - t:.1f} s"
            )
        from tui.index import open_store

        t = time.perf_counter()
        store, _ = open_store(directory)
        rows = len(store)
        print(f"indexed {rows:,} traces (and saved the index) in {time.perf_counter() - t:.1f} s")
        del store
        out = asyncio.run(measure(directory, rows, args.presses, args.live))
    print(
        f"app open (from the index) to {out['rows']:,} rows: {out['open_s']:.1f} s; "
        f"RSS {out['rss_mb']:,.0f} MB"
    )
    live = f" while a writer adds {args.live:,.0f} spans/s" if args.live else ""
    print(f"\nkey presses ({', '.join(KEYS)} in turn){live}; {out['timeouts']} timed out:")
    print("  " + line("key -> cursor moved", out["key_action"]))
    print("  " + line("key -> new cursor row rendered", out["key_render"]))
    print("  " + line("event loop stall (10 ms sleeps)", out["stall"]))
    print(f"\nfilter over {out['rows']:,} traces, typed key by key:")
    for value, count, rows_ms, render_ms in out["filter"]:
        print(f"  {value!r:10} -> {count:>8,} rows: rows set {rows_ms:7.1f} ms, rendered {render_ms:7.1f} ms")
    print(f"  escape -> {out['rows_after_clear']:,} rows: {out['clear_ms']:.1f} ms")
    median = statistics.median(out["key_render"]) if out["key_render"] else float("inf")
    verdict = "met" if median < TARGET_MS and not out["timeouts"] else "MISSED"
    print(f"\ntarget: key -> effect under {TARGET_MS:.0f} ms: {verdict} (median {median:.1f} ms)")


if __name__ == "__main__":
    main()

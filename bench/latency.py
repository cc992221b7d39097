"""Viewer latency: how long after a span is written does the viewer have it, and show it?

Two measurements, each against a writer in a separate process that uses the real SDK
(`tracer.start_span`, the background writer with its default `flush_delay_s`) at a steady rate:

(a) write -> store: a `TraceWatcher` + `TraceStore` in this process, as the viewer runs them. For each
    span: `time.time_ns()` right after the batch holding its `span_start` line was ingested, minus the
    `start_ns` in that record.
(b) write -> screen: the real `TraceApp`, headless (`App.run_test`, 140x45), watching the directory.
    For each trace: the moment its row is first in `TraceList.rows` (the app's refresh hands the list
    its rows through `set_rows`, which is wrapped), minus the root span's `start_ns`. While the writer
    runs, a key (`j` / `k`) is pressed every 100 ms, posted to the app as the terminal driver posts
    it: key -> action is the time until the list's cursor action runs. Every tenth press goes through
    `pilot.press` instead, whose round trip adds Textual's test harness wait (it waits for the process
    to go idle, up to 1 s, so under a burst it measures the harness as much as the app). An asyncio task
    sleeping 10 ms in a loop measures how long the event loop is ever blocked.

    python bench/latency.py            # (a) 2,000 spans at 200/s; (b) 200 traces of 5 spans, 20 traces/s
    python bench/latency.py --burst    # both, with the writer at 10,000 spans/s for 5 s (traces of 10)
    python bench/latency.py --load     # tail latency under load: 10,000 spans/s for 30 s, the viewer
                                       # following (b: follow on), write -> store also inside the app
    python bench/latency.py --profile  # (b) under cProfile, top 25 by cumulative time

Target: median under 100 ms (issue 3). Under load (issue 4): write -> store median under 50 ms and p95
under 150 ms, keys taking effect in under 50 ms. The writer and the viewer share the machine, as they
do in real use.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


TARGET_MS = 100.0
LOAD_MEDIAN_MS, LOAD_P95_MS = 50.0, 150.0  # write -> store under load (issue 4)
# A span_start line as our writer writes it: its span id and start_ns, without parsing the line.
_SPAN_START = re.compile(
    rb'\{"kind":"span_start","trace_id":"[0-9a-f]{32}","span_id":"([0-9a-f]{16})"[^\n]*?"start_ns":(\d+)'
)
SIZE = (140, 45)
PRESS_TIMEOUT_S = 10.0  # a key press not handled within this counts as a timeout
PRESS_EVERY_S = 0.1


# -- the writer (child process) --------------------------------------------------------------------


def run_writer(directory: str, spans: int, rate: float, spans_per_trace: int) -> None:
    """Write `spans` spans at `rate` spans a second, in traces of `spans_per_trace` (a root and its
    children). Every span is opened at its own due time, so the span rate is steady; prints a summary."""
    import tracer

    tracer.configure(directory=directory)
    start = time.perf_counter()
    index = 0

    def wait_turn() -> None:
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)

    traces = 0
    while index < spans:
        wait_turn()
        with tracer.start_span(f"request_{traces}", span_type="AGENT") as root:
            root.set_inputs({"n": traces})
            index += 1
            for child in range(min(spans_per_trace, spans - index + 1) - 1):
                wait_turn()
                with tracer.start_span(f"step_{child}", span_type="TOOL"):
                    index += 1
        traces += 1
    elapsed = time.perf_counter() - start
    tracer.flush()
    print(json.dumps({"spans": index, "traces": traces, "elapsed_s": elapsed}))


def start_writer(directory: Path, spans: int, rate: float, spans_per_trace: int) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        __file__,
        "--writer",
        str(directory),
        str(spans),
        str(rate),
        str(spans_per_trace),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def writer_report(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"writer failed with exit code {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


# -- figures ---------------------------------------------------------------------------------------


@dataclass
class Figures:
    values_ms: list[float] = field(default_factory=list)

    def add_ns(self, ns: int) -> None:
        self.values_ms.append(ns / 1e6)

    def line(self, label: str) -> str:
        v = sorted(self.values_ms)
        if not v:
            return f"{label}: no samples"
        p95 = v[min(len(v) - 1, round(0.95 * (len(v) - 1)))]
        return (
            f"{label}: n={len(v):,}  median {statistics.median(v):.1f} ms  p95 {p95:.1f} ms  "
            f"max {v[-1]:.1f} ms"
        )

    @property
    def median(self) -> float:
        return statistics.median(self.values_ms) if self.values_ms else float("nan")

    @property
    def p95(self) -> float:
        v = sorted(self.values_ms)
        return v[min(len(v) - 1, round(0.95 * (len(v) - 1)))] if v else float("nan")


def note_span_starts(chunks: list, latency: dict[bytes, int]) -> None:
    """Record now - start_ns for each span_start in `chunks` (first sighting of each span id)."""
    now = time.time_ns()
    for chunk in chunks:
        for match in _SPAN_START.finditer(chunk.data):
            latency.setdefault(match[1], now - int(match[2]))


def machine_info() -> str:
    import textual
    import watchfiles

    from tui import app as tui_app
    from tui import watcher as tui_watcher

    return (
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}\n"
        f"python {platform.python_version()}, textual {textual.__version__}, "
        f"watchfiles {watchfiles.VERSION}\n"
        f"settings: DEBOUNCE_MS={tui_watcher.DEBOUNCE_MS} STEP_MS={tui_watcher.STEP_MS} "
        f"REFRESH_INTERVAL_S={tui_app.REFRESH_INTERVAL_S}"
    )


# -- (a) write -> store ----------------------------------------------------------------------------


def bench_store(directory: Path, spans: int, rate: float, spans_per_trace: int) -> tuple[Figures, dict]:
    from tui.store import TraceStore
    from tui.tailer import Chunk
    from tui.watcher import TraceWatcher

    store = TraceStore()
    lock = threading.Lock()
    latency: dict[bytes, int] = {}
    watching = threading.Event()

    def on_lines(chunks: list[Chunk]) -> None:
        with lock:
            for chunk in chunks:
                store.ingest(chunk)
        note_span_starts(chunks, latency)

    def on_state(state: str) -> None:
        if state in ("watching", "polling"):
            watching.set()

    watcher = TraceWatcher(directory, on_lines, on_state)
    thread = threading.Thread(target=watcher.run, name="watcher", daemon=True)
    thread.start()
    watching.wait(10)
    report = writer_report(start_writer(directory, spans, rate, spans_per_trace))
    deadline = time.monotonic() + 10
    while len(latency) < report["spans"] and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop()
    thread.join(5)
    figures = Figures()
    for ns in latency.values():
        figures.add_ns(ns)
    report["missing"] = report["spans"] - len(latency)
    return figures, report


# -- (b) write -> screen ---------------------------------------------------------------------------


@dataclass
class ScreenResult:
    rows: Figures = field(default_factory=Figures)
    store: Figures = field(default_factory=Figures)  # write -> store inside the app
    key_action: Figures = field(default_factory=Figures)
    key_round_trip: Figures = field(default_factory=Figures)
    loop_stall: Figures = field(default_factory=Figures)
    refresh: Figures = field(default_factory=Figures)
    report: dict = field(default_factory=dict)


async def bench_screen(
    directory: Path, spans: int, rate: float, spans_per_trace: int, follow: bool = False
) -> ScreenResult:
    from textual import events

    from tui.app import TraceApp
    from tui.widgets.trace_list import TraceList

    result = ScreenResult()
    store_latency: dict[bytes, int] = {}

    class TimedApp(TraceApp):
        def refresh_views(self) -> None:
            began = time.perf_counter_ns()
            super().refresh_views()
            result.refresh.add_ns(time.perf_counter_ns() - began)

        def _on_chunks(self, chunks: list) -> None:
            super()._on_chunks(chunks)
            note_span_starts(chunks, store_latency)

    app = TimedApp(directory, follow=follow)
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 10
        while app.watch_state not in ("watching", "polling") and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        trace_list = app.query_one(TraceList)
        seen: dict[str, int] = {}
        original_set_rows = trace_list.set_rows

        def set_rows(rows: list) -> None:
            original_set_rows(rows)
            now = time.time_ns()
            for row in rows:
                if row.start_ns is not None and row.trace_id not in seen:
                    seen[row.trace_id] = now - row.start_ns

        trace_list.set_rows = set_rows  # type: ignore[method-assign]

        action_at: list[int] = []
        for name in ("action_cursor_down", "action_cursor_up"):
            original = getattr(trace_list, name)

            def timed(original=original) -> None:
                action_at.append(time.perf_counter_ns())
                original()

            setattr(trace_list, name, timed)

        running = True

        async def watch_loop() -> None:
            while running:
                began = time.perf_counter_ns()
                await asyncio.sleep(0.01)
                result.loop_stall.add_ns(max(0, time.perf_counter_ns() - began - 10_000_000))

        stall_task = asyncio.create_task(watch_loop())
        proc = start_writer(directory, spans, rate, spans_per_trace)
        presses = 0
        while proc.poll() is None:
            await asyncio.sleep(PRESS_EVERY_S)
            key = "j" if presses % 2 == 0 else "k"
            presses += 1
            action_at.clear()
            began = time.perf_counter_ns()
            if presses % 10 == 0:  # now and then the test harness's way, which waits for idle
                try:
                    await asyncio.wait_for(pilot.press(key), PRESS_TIMEOUT_S)
                except asyncio.TimeoutError:
                    result.report["press_timeouts"] = result.report.get("press_timeouts", 0) + 1
                result.key_round_trip.add_ns(time.perf_counter_ns() - began)
            else:  # as the terminal driver delivers a key: a Key message posted to the app
                app.post_message(events.Key(key, key))
                deadline = time.monotonic() + PRESS_TIMEOUT_S
                while not action_at and time.monotonic() < deadline:
                    await asyncio.sleep(0.001)
                if not action_at:
                    result.report["press_timeouts"] = result.report.get("press_timeouts", 0) + 1
            if action_at:
                result.key_action.add_ns(action_at[0] - began)
        running = False
        await stall_task
        result.report = {**result.report, **writer_report(proc)}
        deadline = time.monotonic() + 15
        while len(seen) < result.report["traces"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        result.report["missing"] = result.report["traces"] - len(seen)
        result.report["presses"] = presses
        for ns in seen.values():
            result.rows.add_ns(ns)
        for ns in store_latency.values():
            result.store.add_ns(ns)
        result.report["store_missing"] = result.report["spans"] - len(store_latency)
    return result


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        directory, spans, rate, per_trace = sys.argv[2:6]
        run_writer(directory, int(spans), float(rate), int(per_trace))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", action="store_true", help="writer at 10,000 spans/s for 5 s")
    parser.add_argument(
        "--load", action="store_true", help="writer at 10,000 spans/s for 30 s, the viewer following"
    )
    parser.add_argument("--spans", type=int, help="spans for (a) (default 2,000; burst 50,000)")
    parser.add_argument("--rate", type=float, help="spans a second for (a) (default 200; burst 10,000)")
    parser.add_argument("--traces", type=int, help="traces for (b) (default 200; burst 5,000)")
    parser.add_argument("--trace-rate", type=float, help="traces a second for (b) (default 20; burst 1,000)")
    parser.add_argument("--spans-per-trace", type=int, help="spans per trace in (b) (default 5; burst 10)")
    parser.add_argument("--only", choices=["store", "screen"], help="run one of the two measurements")
    parser.add_argument("--profile", action="store_true", help="profile (b) and print the top functions")
    args = parser.parse_args()
    load = args.load
    burst = args.burst or load
    seconds = 30 if load else 5
    store_spans = args.spans or (10_000 * seconds if burst else 2_000)
    store_rate = args.rate or (10_000.0 if burst else 200.0)
    per_trace = args.spans_per_trace or (10 if burst else 5)
    traces = args.traces or (1_000 * seconds if burst else 200)
    trace_rate = args.trace_rate or (1_000.0 if burst else 20.0)

    print(machine_info())
    mode = "load" if load else "burst" if burst else "steady"
    print(f"mode: {mode}; target: median under {TARGET_MS:.0f} ms", end="")
    print(f"; write -> store median < {LOAD_MEDIAN_MS:.0f} ms, p95 < {LOAD_P95_MS:.0f} ms" if load else "")
    misses: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tracetui-latency-") as tmp:
        if args.only in (None, "store"):
            directory = Path(tmp) / "store"
            directory.mkdir()
            figures, report = bench_store(directory, store_spans, store_rate, per_trace if burst else 1)
            print(
                f"\n(a) write -> store: {report['spans']:,} spans in {report['elapsed_s']:.2f} s "
                f"({report['spans'] / report['elapsed_s']:,.0f} spans/s), {report['missing']} never seen"
            )
            print("    " + figures.line("span_start written -> in store"))
            if not figures.median < TARGET_MS:
                misses.append("write -> store")
            if load and not (figures.median < LOAD_MEDIAN_MS and figures.p95 < LOAD_P95_MS):
                misses.append("write -> store under load (median 50 / p95 150 ms)")
        if args.only in (None, "screen"):
            directory = Path(tmp) / "screen"
            directory.mkdir()
            spans = traces * per_trace
            rate = trace_rate * per_trace
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            result = asyncio.run(bench_screen(directory, spans, rate, per_trace, follow=load))
            if profiler:
                profiler.disable()
            report = result.report
            print(
                f"\n(b) write -> screen: {report['traces']:,} traces of {per_trace} spans in "
                f"{report['elapsed_s']:.2f} s ({report['spans'] / report['elapsed_s']:,.0f} spans/s), "
                f"{report['missing']} never shown"
            )
            print("    " + result.store.line("span_start written -> in the app's store"))
            print("    " + result.rows.line("root span_start written -> row in TraceList"))
            if load:
                print(
                    f"    (the list following the newest trace; {report['store_missing']} spans never stored)"
                )
            timeouts = report.get("press_timeouts", 0)
            print(
                f"    responsiveness while writing ({report['presses']} key presses, {timeouts} timed out):"
            )
            print("      " + result.key_action.line("key -> cursor action"))
            print("      " + result.key_round_trip.line("pilot.press round trip"))
            print("      " + result.loop_stall.line("event loop stall (10 ms sleeps)"))
            print("      " + result.refresh.line("refresh_views call"))
            if not result.rows.median < TARGET_MS:
                misses.append("write -> screen")
            if load and not (result.store.median < LOAD_MEDIAN_MS and result.store.p95 < LOAD_P95_MS):
                misses.append("write -> app store under load (median 50 / p95 150 ms)")
            if load and not result.key_action.median < LOAD_MEDIAN_MS:
                misses.append("key -> action under load (50 ms)")
            if profiler:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    print("\nall medians under target" if not misses else f"\nMISSED the target: {', '.join(misses)}")


if __name__ == "__main__":
    main()

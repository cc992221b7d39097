"""Soak: 8 writer processes and a following viewer, for minutes. Nothing lost, memory flat, no exception.

    python bench/soak.py                  # 120 s, 8 writers, 40 traces/s in total (4 spans each)
    python bench/soak.py --seconds 60 --rate 80 --writers 8

Writers: separate processes using the real SDK (`tracer.trace` + `tracer.start_span`, the background
writer with its defaults, and `max_file_bytes` = 1 MiB so files rotate during the run), each opening its
traces at their due times so the total rate is steady. At the end each prints how many traces, spans and
records it produced and how many the writer dropped.

Viewer: what `tui/app.py` runs: a `TraceWatcher` in a thread feeding a `TraceStore` under a lock, and a
"refresh" thread that ten times a second, under the same lock, reads the first 50 rows of `view()` and
parses the newest trace with `get()` (the follow mode). Its RSS (/proc/self/statm) is sampled every
`--sample` seconds.

Checks at the end (after the writers exit and the viewer catches up):
- every record written is in the store: traces, spans (sum of span counts) and lines read equal what
  the writers report; no line skipped; no trace left in progress; nothing dropped by any writer;
- viewer RSS after warm-up (the first quarter of the run): first, last, max, and growth per 1,000 traces
  indexed (the index keeps a small entry per trace, so a little growth per trace is by design);
- no exception: no ERROR log record in the viewer, no thread died, writers exited 0 with empty stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.store import TraceStore  # noqa: E402
from tui.watcher import TraceWatcher  # noqa: E402

SPANS_PER_TRACE = 4

WRITER = textwrap.dedent(
    """
    import json, sys, time
    import tracer
    from tracer.writer import writer

    tracer.configure(directory=sys.argv[1], max_file_bytes=1024 * 1024)
    rate, seconds, index = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])

    @tracer.trace(name="leaf", span_type="TOOL")
    def leaf(i, j):
        return {"i": i, "j": j, "text": "x" * 100}

    @tracer.trace(name="request", span_type="CHAIN")
    def request(i):
        with tracer.start_span("retrieve") as span:
            span.set_attribute("writer", index)
            span.set_outputs([leaf(i, 0), leaf(i, 1)])
        return {"answer": i}

    start = time.monotonic() + index / (rate * 8)  # stagger the writers
    traces = 0
    while True:
        due = start + traces / rate
        if due - start > seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        request(traces)
        traces += 1
    tracer.flush()
    spans = traces * SPANS
    print(json.dumps({"traces": traces, "spans": spans, "records": traces * (2 * SPANS + 1),
                      "dropped": writer.dropped_records}), flush=True)
    """
).replace("SPANS", str(SPANS_PER_TRACE))


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--rate", type=float, default=40.0, help="traces per second, all writers together")
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--dir", type=Path, default=None, help="trace directory (default: a temporary one)")
    args = parser.parse_args()

    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    thread_errors: list[str] = []
    threading.excepthook = lambda hook: thread_errors.append(f"{hook.thread}: {hook.exc_value!r}")

    temporary = tempfile.TemporaryDirectory(prefix="tracetui-soak-") if args.dir is None else None
    directory = args.dir or Path(temporary.name)  # type: ignore[union-attr]
    directory.mkdir(parents=True, exist_ok=True)

    store = TraceStore()
    lock = threading.Lock()
    states: list[str] = []

    def on_chunks(chunks: list) -> None:
        with lock:
            for chunk in chunks:
                store.ingest(chunk)

    watcher = TraceWatcher(directory, on_chunks, states.append)
    watch_thread = threading.Thread(target=watcher.run, name="watcher", daemon=True)
    watch_thread.start()

    stop_refresh = threading.Event()
    refreshes = [0]

    def refresh() -> None:  # what the app's 10 Hz timer does with the store
        seen = -1
        while not stop_refresh.wait(0.1):
            with lock:
                if store.version == seen:
                    continue
                seen = store.version
                view = store.view()
                rows = view[:50]
                if rows:
                    trace = store.get(rows[0].trace_id)
                    if trace is not None:
                        [span.to_json() for span in trace.spans]
                refreshes[0] += 1

    refresh_thread = threading.Thread(target=refresh, name="refresh", daemon=True)
    refresh_thread.start()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRACETUI_DISABLED", None)
    per_writer = args.rate / args.writers
    started = time.monotonic()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory), str(per_writer), str(args.seconds), str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(args.writers)
    ]

    samples: list[tuple[float, int, int]] = []  # (seconds since start, rss, traces indexed)
    while any(w.poll() is None for w in writers):
        with lock:
            count = len(store)
        samples.append((time.monotonic() - started, rss_bytes(), count))
        time.sleep(args.sample)
    outputs = [w.communicate() for w in writers]
    import json

    reports = []
    writer_problems = []
    for writer, (out, err) in zip(writers, outputs, strict=True):
        if writer.returncode != 0 or err.strip():
            writer_problems.append(f"exit {writer.returncode}: {err.strip()[-500:]}")
        if out.strip():
            reports.append(json.loads(out.strip().splitlines()[-1]))
    expected_traces = sum(r["traces"] for r in reports)
    expected_spans = sum(r["spans"] for r in reports)
    expected_records = sum(r["records"] for r in reports)
    dropped = sum(r["dropped"] for r in reports)

    # Let the viewer catch up (events, then the 1 s safety poll), then read what it has.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with lock:
            if len(store) >= expected_traces and store.lines_read >= expected_records:
                break
        time.sleep(0.2)
    time.sleep(1.5)
    samples.append((time.monotonic() - started, rss_bytes(), len(store)))
    stop_refresh.set()
    watcher.stop()
    watch_thread.join(5)
    refresh_thread.join(5)

    with lock:
        summaries = store.summaries()
        got_traces = len(summaries)
        got_spans = sum(s.span_count for s in summaries)
        in_progress = sum(1 for s in summaries if s.status == "IN_PROGRESS")
        files = sorted(directory.glob("*.jsonl"))
        process_lines = len(files)
        lines_read = store.lines_read
        skipped = store.lines_skipped

    warm = [s for s in samples if s[0] >= args.seconds / 4]
    first, last = warm[0], warm[-1]
    peak = max(s[1] for s in warm)
    traces_added = max(1, last[2] - first[2])
    growth_per_1000 = (last[1] - first[1]) / traces_added * 1000
    mib = 2**20
    print(
        f"soak: {args.writers} writers, {args.rate:g} traces/s total ({SPANS_PER_TRACE} spans each), "
        f"{args.seconds:g} s, {len(files)} files (rotation at 1 MiB), {refreshes[0]} refreshes"
    )
    print(
        f"  written:  {expected_traces} traces, {expected_spans} spans, {expected_records} records "
        f"(+{process_lines} process records), dropped by writers: {dropped}"
    )
    print(
        f"  in store: {got_traces} traces, {got_spans} spans, {lines_read} lines read, {skipped} skipped, "
        f"{in_progress} in progress"
    )
    print(
        f"  viewer RSS after warm-up ({args.seconds / 4:g} s): first {first[1] / mib:.1f} MiB, "
        f"last {last[1] / mib:.1f} MiB, max {peak / mib:.1f} MiB; "
        f"{(last[1] - first[1]) / mib:+.1f} MiB over {traces_added} traces "
        f"({growth_per_1000 / 1024:+.1f} KiB per 1,000 traces); "
        f"median {statistics.median(s[1] for s in warm) / mib:.1f} MiB over {len(warm)} samples"
    )
    print(
        f"  errors: {len(errors.records)} logged, {len(thread_errors)} thread exceptions, "
        f"{len(writer_problems)} writer problems; watcher states: {sorted(set(states))}"
    )
    for problem in [*errors.records, *thread_errors, *writer_problems]:
        print("   ", problem[:300])

    ok = (
        got_traces == expected_traces
        and got_spans == expected_spans
        and lines_read == expected_records + process_lines
        and skipped == 0
        and in_progress == 0
        and dropped == 0
        and not errors.records
        and not thread_errors
        and not writer_problems
        and len(reports) == args.writers
    )
    print("PASS" if ok else "FAIL")
    if temporary is not None:
        temporary.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

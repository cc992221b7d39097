"""Per-span overhead of `@tracer.trace`: a 2-span trace called in a loop, against the same loop untraced.

Each call of `outer(question, top_k)` is one trace of two spans: `outer` calls `inner(text, limit)`,
both with two small inputs and a small return value. The traced loop writes through the real writer
into a temporary directory; the final `tracer.flush()` (every record on disk) is inside the timing.

    python bench/span_overhead.py                 # 200,000 spans, median of 5 repetitions
    python bench/span_overhead.py --spans 50000 --repeat 3
    python bench/span_overhead.py --profile       # one cProfile run, top 25 by tottime

Overhead per span = (traced time - untraced time) / spans, in microseconds.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tracer

SPANS_PER_TRACE = 2


def _plain_inner(text: str, limit: int = 3) -> dict[str, object]:
    return {"text": text[:limit], "n": limit}


def _plain_outer(question: str, top_k: int) -> str:
    result = _plain_inner(question, top_k)
    return f"{result['text']}:{result['n']}"


@tracer.trace
def _traced_inner(text: str, limit: int = 3) -> dict[str, object]:
    return {"text": text[:limit], "n": limit}


@tracer.trace
def _traced_outer(question: str, top_k: int) -> str:
    result = _traced_inner(question, top_k)
    return f"{result['text']}:{result['n']}"


def _loop(outer: Callable[[str, int], str], calls: int, flush: bool) -> float:
    """Seconds for `calls` calls of `outer` (and a final flush when tracing)."""
    start = time.perf_counter()
    for i in range(calls):
        outer("what is the answer?", i & 7)
    if flush:
        tracer.flush()
    return time.perf_counter() - start


def _machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.machine()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans per repetition")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (the median is reported)")
    parser.add_argument("--profile", action="store_true", help="profile one traced run instead")
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    args = parser.parse_args(argv)
    calls = max(1, args.spans // SPANS_PER_TRACE)
    spans = calls * SPANS_PER_TRACE

    with tempfile.TemporaryDirectory(prefix="tracetui-bench-") as tmp:
        tracer.configure(directory=tmp)
        _loop(_traced_outer, min(calls, 2_000), flush=True)  # warm up: open the file, start the thread
        _loop(_plain_outer, min(calls, 2_000), flush=False)

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            _loop(_traced_outer, calls, flush=True)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
            return 0

        traced: list[float] = []
        plain: list[float] = []
        for _ in range(args.repeat):
            plain.append(_loop(_plain_outer, calls, flush=False))
            traced.append(_loop(_traced_outer, calls, flush=True))
        written = sum(f.stat().st_size for f in Path(tmp).glob("*.jsonl"))
        tracer.configure(directory=tempfile.gettempdir())  # close our file before the dir goes

    traced_s = statistics.median(traced)
    plain_s = statistics.median(plain)
    per_span_us = (traced_s - plain_s) / spans * 1e6
    best_us = (min(traced) - plain_s) / spans * 1e6
    spans_written = spans * args.repeat + SPANS_PER_TRACE * min(calls, 2_000)
    print(f"machine:          {_machine()}")
    print(f"spans per run:    {spans:,} ({calls:,} traces of {SPANS_PER_TRACE} spans), {args.repeat} runs")
    print(f"untraced loop:    {plain_s * 1e3:9.1f} ms (median)")
    print(f"traced loop:      {traced_s * 1e3:9.1f} ms (median, final flush included)")
    print(f"overhead / span:  {per_span_us:9.2f} µs (median; best run {best_us:.2f} µs)")
    print(f"spans / second:   {spans / traced_s:12,.0f} (traced loop)")
    print(f"bytes written:    {written:,} ({written / spans_written:.0f} per span)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

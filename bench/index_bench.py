"""Index benchmark: how fast the viewer opens a big trace directory, against two references on the same
files in the same run.

    python bench/make_traces.py --out /tmp/bench-traces        # ~1M spans, ~2.4 GB (once)
    python bench/index_bench.py /tmp/bench-traces              # all measurements
    python bench/index_bench.py /tmp/bench-traces --skip-naive # without the (slow, ~6 GB) naive loader

Measured, each in a fresh subprocess (so one's memory does not pollute another's peak RSS):

  (a) plain read: ``for line in f: pass`` over every file, binary (the floor);
  (b) naive loader: ``orjson.loads`` every line and keep it (time, peak RSS);
  (c) our index without the persistent snapshot (`DirectoryTailer.poll_chunks` + `TraceStore.ingest`,
      as `open_store(path, use_index=False)` and the viewer's watcher do): time to first screen (the
      store holds the newest 50 traces), time to full index, records and spans per second, peak RSS;
      plus the real app, headless (`make_app(DIR, use_index=False).run_test()`): time from start until
      the trace list has rows;
  (d) reopen with the persistent index: `open_store(DIR)` once to build and save the snapshot, then
      again in a new process: the second open's time and the snapshot's size;
  (e) ``python cli.py show ID --dir DIR --json > /dev/null`` with the index present (wall time,
      interpreter start included), for the newest and the oldest trace.

The page cache is warmed first (every file read once), so all figures are for a warm cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST_SCREEN_TRACES = 50


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".jsonl") and p.is_file())


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# -- children (each prints one JSON object) ------------------------------------------------------------


def child_plain(directory: Path) -> dict:
    began = time.perf_counter()
    lines = 0
    for path in _files(directory):
        with open(path, "rb") as handle:
            for _line in handle:
                lines += 1
    return {"seconds": time.perf_counter() - began, "lines": lines, "rss_mb": _peak_rss_mb()}


def child_naive(directory: Path) -> dict:
    import orjson

    loads = orjson.loads
    began = time.perf_counter()
    kept = []
    for path in _files(directory):
        with open(path, "rb") as handle:
            for line in handle:
                kept.append(loads(line))
    return {"seconds": time.perf_counter() - began, "records": len(kept), "rss_mb": _peak_rss_mb()}


def child_index(directory: Path) -> dict:
    from tui.store import TraceStore
    from tui.tailer import DirectoryTailer

    base_rss = _peak_rss_mb()
    began = time.perf_counter()
    store = TraceStore()
    tailer = DirectoryTailer(directory)
    first_screen = None
    for chunk in tailer.poll_chunks():
        store.ingest(chunk)
        if first_screen is None and len(store.view()) >= FIRST_SCREEN_TRACES:
            store.view()[:FIRST_SCREEN_TRACES]  # the rows a first screen shows are built
            first_screen = time.perf_counter() - began
    full = time.perf_counter() - began
    spans = sum(store.summary(trace_id).span_count for trace_id in store.trace_ids())
    return {
        "first_screen": first_screen,
        "seconds": full,
        "traces": len(store),
        "records": store.lines_read,
        "spans": spans,
        "rss_mb": _peak_rss_mb(),
        "rss_before_mb": base_rss,
    }


def child_app(directory: Path) -> dict:
    from tui.app import make_app
    from tui.widgets.trace_list import TraceList

    async def run() -> dict:
        app = make_app(directory, use_index=False)
        began = time.perf_counter()
        async with app.run_test(size=(140, 45)):
            trace_list = app.query_one(TraceList)
            while len(trace_list.rows) == 0:
                await asyncio.sleep(0.002)
            first = time.perf_counter() - began
            app.watcher.stop()
        return {"first_screen": first}

    return asyncio.run(run())


def child_reopen(directory: Path) -> dict:
    from tui.index import index_path, open_store

    began = time.perf_counter()
    store, _ = open_store(directory, use_index=True)
    seconds = time.perf_counter() - began
    ids = store.trace_ids()
    path = index_path(directory)
    return {
        "seconds": seconds,
        "traces": len(store),
        "rss_mb": _peak_rss_mb(),
        "snapshot_bytes": path.stat().st_size if path.exists() else None,
        "newest": ids[0] if ids else None,
        "oldest": ids[-1] if ids else None,
    }


CHILDREN = {
    "plain": child_plain,
    "naive": child_naive,
    "index": child_index,
    "app": child_app,
    "reopen": child_reopen,
}


def _run_child(mode: str, directory: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, str(directory), "--child", mode],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- the parent ----------------------------------------------------------------------------------------


def _machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.machine()}; "
        f"load average {load:.2f} at start"
    )


def _warm(directory: Path) -> tuple[int, int]:
    total = 0
    files = _files(directory)
    for path in files:
        with open(path, "rb") as handle:
            while block := handle.read(16 * 2**20):
                total += len(block)
    return len(files), total


def _show_seconds(directory: Path, trace_id: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "show", trace_id, "--dir", str(directory), "--json"],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive orjson loader")
    parser.add_argument("--skip-app", action="store_true", help="leave out the headless app's first screen")
    parser.add_argument("--repeat", type=int, default=1, help="runs of (a) and (c); the best is shown")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    directory: Path = args.directory.resolve()
    if args.child:
        print(json.dumps(CHILDREN[args.child](directory)))
        return

    print(_machine())
    count, size = _warm(directory)
    print(f"{directory}: {count} files, {size:,} bytes ({size / 1e9:.2f} GB), page cache warmed\n")

    plain = min((_run_child("plain", directory) for _ in range(args.repeat)), key=lambda r: r["seconds"])
    print(f"(a) plain read:   {plain['seconds']:.2f} s, {plain['lines']:,} lines", flush=True)
    naive = None
    if not args.skip_naive:
        naive = _run_child("naive", directory)
        print(f"(b) naive loader: {naive['seconds']:.1f} s, peak RSS {naive['rss_mb']:,.0f} MB", flush=True)
    index = min((_run_child("index", directory) for _ in range(args.repeat)), key=lambda r: r["seconds"])
    rate = index["records"] / index["seconds"]
    span_rate = index["spans"] / index["seconds"]
    print(
        f"(c) index:        first screen {index['first_screen']:.3f} s, full {index['seconds']:.2f} s "
        f"({index['traces']:,} traces, {index['spans']:,} spans, {index['records']:,} records; "
        f"{span_rate:,.0f} spans/s, {rate:,.0f} records/s, {size / index['seconds'] / 1e6:,.0f} MB/s), "
        f"peak RSS {index['rss_mb']:,.0f} MB (interpreter + imports {index['rss_before_mb']:.0f} MB)",
        flush=True,
    )
    app = None
    if not args.skip_app:
        app = _run_child("app", directory)
        print(f"    headless app: first rows after {app['first_screen']:.3f} s", flush=True)

    shutil.rmtree(directory / ".tracetui-index", ignore_errors=True)
    build = _run_child("reopen", directory)
    reopen = _run_child("reopen", directory)
    reopen = min(reopen, _run_child("reopen", directory), key=lambda r: r["seconds"])
    print(
        f"(d) reopen:       first open (index + save) {build['seconds']:.2f} s; second open "
        f"{reopen['seconds']:.3f} s, peak RSS {reopen['rss_mb']:,.0f} MB; snapshot "
        f"{(reopen['snapshot_bytes'] or 0) / 2**20:,.1f} MiB",
        flush=True,
    )
    show_new = _show_seconds(directory, reopen["newest"])
    show_old = _show_seconds(directory, reopen["oldest"])
    print(f"(e) show --json:  newest trace {show_new:.2f} s, oldest {show_old:.2f} s (best of 3, wall)\n")

    floor = plain["seconds"]
    rows = [
        ("full index / plain read",
         f"{index['seconds'] / floor:.1f}× ({index['seconds']:.2f} / {floor:.2f} s)",
         "≤ 2×", index["seconds"] <= 2 * floor),
        ("first screen (store)", f"{index['first_screen']:.3f} s", "< 0.5 s", index["first_screen"] < 0.5),
        ("peak RSS (index)", f"{index['rss_mb']:,.0f} MB", "≤ 300 MB", index["rss_mb"] <= 300),
        ("reopen with index", f"{reopen['seconds']:.3f} s", "< 0.3 s", reopen["seconds"] < 0.3),
    ]  # fmt: skip
    if app is not None:
        rows.insert(2, ("first screen (headless app)", f"{app['first_screen']:.3f} s", "< 0.5 s",
                        app["first_screen"] < 0.5))  # fmt: skip
    print(f"| {'measure':<28} | {'result':<28} | {'target':<9} | met |")
    print(f"|{'-' * 30}|{'-' * 30}|{'-' * 11}|-----|")
    for name, result, target, met in rows:
        print(f"| {name:<28} | {result:<28} | {target:<9} | {'yes' if met else 'NO':<3} |")
    if naive is not None:
        print(
            f"\nnaive loader for reference: {naive['seconds']:.1f} s "
            f"({naive['seconds'] / floor:.1f}× the plain read), peak RSS {naive['rss_mb']:,.0f} MB"
        )


if __name__ == "__main__":
    main()

"""Per-span overhead of tracer against OpenTelemetry's SDK and mlflow-tracing, in the same run and loop.

The peers are not project dependencies: run this with a separate environment that has them, and this
repository on the path:

    python -m venv /tmp/benchenv
    /tmp/benchenv/bin/pip install mlflow-tracing opentelemetry-sdk orjson
    PYTHONPATH=. /tmp/benchenv/bin/python bench/peers.py            # 100,000 spans each, median of 5
    PYTHONPATH=. /tmp/benchenv/bin/python bench/peers.py --spans 20000 --repeat 3

Every contender traces the same 2-span trace as `bench/span_overhead.py` (a traced `outer(question,
top_k)` calling a traced `inner(text, limit)`), capturing the inputs and the output of each span and
writing them to a file in a temporary directory; the time to get everything on disk is included.

- tracer: `@tracer.trace`, its background file writer.
- OpenTelemetry SDK: a decorator doing what `@tracer.trace` does with `tracer.start_as_current_span`
  (inputs and outputs as JSON attributes), and a `SpanExporter` writing each span as one orjson JSON
  line; under a `SimpleSpanProcessor` (export on the calling thread) and a `BatchSpanProcessor`
  (export on a background thread; `force_flush` inside the timing).
- mlflow-tracing: `@mlflow.trace`, synchronous trace logging (async logging off). mlflow-tracing has no
  local store that works on its own (the file store is in maintenance mode and refuses traces, SQLite
  needs the full `mlflow` package), so the exporter's last step, sending the finished trace to the
  tracking server, is replaced by appending `trace.to_json()` as a line to a local file. Everything
  else mlflow does per span and per trace runs unchanged.

Overhead per span = (traced loop - untraced loop) / spans. Spans per contender are capped for
mlflow-tracing (`--mlflow-spans`), whose per-span cost is about two orders of magnitude higher.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

SPANS_PER_TRACE = 2
# What a contender's setup returns: the traced `outer`, and a callable that puts everything on disk.
_Setup = tuple[Callable[[str, int], str], Callable[[], Any]]


def _plain_inner(text: str, limit: int = 3) -> dict[str, object]:
    return {"text": text[:limit], "n": limit}


def _plain_outer(question: str, top_k: int) -> str:
    result = _plain_inner(question, top_k)
    return f"{result['text']}:{result['n']}"


def _make_pair(decorate: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[str, int], str]:
    """The benchmark's 2-span trace, with both functions wrapped by `decorate`."""

    @decorate
    def inner(text: str, limit: int = 3) -> dict[str, object]:
        return {"text": text[:limit], "n": limit}

    @decorate
    def outer(question: str, top_k: int) -> str:
        result = inner(question, top_k)
        return f"{result['text']}:{result['n']}"

    return outer


def _time_loop(outer: Callable[[str, int], str], calls: int, flush: Callable[[], Any] | None) -> float:
    start = time.perf_counter()
    for i in range(calls):
        outer("what is the answer?", i & 7)
    if flush is not None:
        flush()
    return time.perf_counter() - start


# -- contenders -------------------------------------------------------------------------------------


def _setup_tracer(directory: Path) -> tuple[Callable[[str, int], str], Callable[[], Any]]:
    import tracer

    tracer.configure(directory=directory)
    return _make_pair(tracer.trace), tracer.flush


class _JsonLinesExporter:
    """An OpenTelemetry `SpanExporter` writing each span as one orjson JSON line (as a file exporter a
    user would write for a local JSON-lines store)."""

    def __init__(self, path: Path) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self._ok = SpanExportResult.SUCCESS
        self._file = open(path, "ab")  # closed in shutdown

    def export(self, spans: Any) -> Any:
        lines = []
        for span in spans:
            context = span.context
            lines.append(
                orjson.dumps(
                    {
                        "trace_id": f"{context.trace_id:032x}",
                        "span_id": f"{context.span_id:016x}",
                        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                        "name": span.name,
                        "start_ns": span.start_time,
                        "end_ns": span.end_time,
                        "status": span.status.status_code.name,
                        "attributes": dict(span.attributes or {}),
                        "events": [
                            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
                            for e in span.events
                        ],
                    },
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            )
        self._file.write(b"".join(lines))
        return self._ok

    def shutdown(self) -> None:
        self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._file.flush()
        return True


def _otel_trace(otel_tracer: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """What `@tracer.trace` does, with the OpenTelemetry API: a span per call, the bound arguments and
    the result recorded as JSON attributes, exceptions recorded."""
    from opentelemetry.trace import Status, StatusCode

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        name = fn.__name__

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with otel_tracer.start_as_current_span(name, record_exception=False) as span:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                span.set_attribute("inputs", orjson.dumps(bound.arguments).decode())
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                    raise
                span.set_attribute("outputs", orjson.dumps(result).decode())
                return result

        return wrapper

    return decorate


def _setup_otel(directory: Path, batch: bool) -> tuple[Callable[[str, int], str], Callable[[], Any]]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider()
    exporter = _JsonLinesExporter(directory / ("otel-batch.jsonl" if batch else "otel-simple.jsonl"))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    otel_tracer = provider.get_tracer("bench")
    return _make_pair(_otel_trace(otel_tracer)), provider.force_flush


def _setup_mlflow(directory: Path) -> tuple[Callable[[str, int], str], Callable[[], Any]]:
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    import mlflow
    from mlflow.tracing.export.mlflow_v3 import MlflowV3SpanExporter

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    # A REST store is created without connecting; nothing is sent to it (see the module docstring).
    mlflow.set_tracking_uri("http://127.0.0.1:9")
    out = open(directory / "mlflow.jsonl", "a")  # lives for the process

    def log_trace_locally(self: Any, trace: Any, prompts: Any = None, workspace: Any = None) -> None:
        out.write(trace.to_json() + "\n")

    MlflowV3SpanExporter._log_trace = log_trace_locally  # type: ignore[method-assign]
    return _make_pair(mlflow.trace), out.flush


# -- main ---------------------------------------------------------------------------------------------


def _machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.machine()}"
    )


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for dist in ("opentelemetry-sdk", "mlflow-tracing", "orjson"):
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            found.append(f"{dist} (missing)")
    return ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000, help="spans per run (tracer, OpenTelemetry)")
    parser.add_argument("--mlflow-spans", type=int, default=4_000, help="spans per run for mlflow-tracing")
    parser.add_argument("--repeat", type=int, default=5, help="runs per contender (the median is reported)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="tracetui-peers-") as tmp:
        directory = Path(tmp)
        contenders: list[tuple[str, Callable[[], _Setup], int]] = [
            ("tracer (@tracer.trace, file writer)", lambda: _setup_tracer(directory / "tracer"), args.spans),
            (
                "OpenTelemetry SDK, SimpleSpanProcessor + orjson JSON-lines exporter",
                lambda: _setup_otel(directory, batch=False),
                args.spans,
            ),
            (
                "OpenTelemetry SDK, BatchSpanProcessor + orjson JSON-lines exporter",
                lambda: _setup_otel(directory, batch=True),
                args.spans,
            ),
            (
                "mlflow-tracing (@mlflow.trace, sync logging)",
                lambda: _setup_mlflow(directory),
                args.mlflow_spans,
            ),
        ]
        results: list[tuple[str, float]] = []
        for label, setup, spans in contenders:
            calls = max(1, spans // SPANS_PER_TRACE)
            outer, flush = setup()
            _time_loop(outer, min(calls, 1_000), flush)  # warm up
            plain, traced = [], []
            for _ in range(args.repeat):
                plain.append(_time_loop(_plain_outer, calls, None))
                traced.append(_time_loop(outer, calls, flush))
            extra_s = statistics.median(traced) - statistics.median(plain)
            per_span = extra_s / (calls * SPANS_PER_TRACE) * 1e6
            results.append((label, per_span))
            print(f"{label:<72} {per_span:9.2f} µs/span  ({calls * SPANS_PER_TRACE:,} spans × {args.repeat})")
            sys.stdout.flush()

    ours = results[0][1]
    print()
    print(f"machine: {_machine()}; {_versions()}")
    for label, per_span in results[1:]:
        print(f"  {label:<70} {per_span / ours:6.1f}× tracer's cost")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""tracetui's tracing SDK: decorate a function, run your program, watch the trace with ``tracetui``.

    import tracer

    @tracer.trace
    def answer(question: str) -> str: ...

Spans are appended as JSON lines to ``./traces`` (or ``$TRACETUI_DIR``, or ``configure(directory=)``).
This package imports the standard library and orjson only: an instrumented program never loads the
viewer's dependencies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from tracer.config import RandomIdGenerator, SequentialIdGenerator, settings
from tracer.context import wrap_context
from tracer.decorator import trace
from tracer.span import (
    LiveSpan,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    SpanType,
    get_current_active_span,
    get_last_active_trace_id,
    start_span,
    update_current_trace,
)
from tracer.version import __version__
from tracer.writer import writer

_UNSET = object()


def configure(
    directory: str | os.PathLike[str] | None = None,
    *,
    enabled: bool | None = None,
    max_value_bytes: int | None = None,
    max_file_bytes: int | None = None,
    flush_delay_s: float | None = None,
    clock: Callable[[], int] | None = None,
    id_generator: RandomIdGenerator | SequentialIdGenerator | None = None,
    redact: bool | None = None,
    redact_pattern: str | None = None,
) -> None:
    """Change tracer settings; arguments left out keep their current value.

    - `directory`: where trace files go (wins over ``$TRACETUI_DIR``; default ``./traces``). Records
      already queued are written to the old directory first.
    - `enabled`: False makes decorated functions run untraced (also ``TRACETUI_DISABLED=1``).
    - `max_value_bytes`: cap on one input/output/attribute value's JSON (default 64 KiB).
    - `max_file_bytes`: a trace file is rotated past this size (default 64 MiB).
    - `flush_delay_s`: how long the background writer gathers a batch (default 0.01 s).
    - `clock`, `id_generator`: a ``() -> int`` nanosecond clock and an id generator, for tests that
      compare records exactly (see `SequentialIdGenerator`).
    - `redact`: False writes secrets as they are (also ``TRACETUI_REDACT=0``); by default the values of
      inputs, attributes and nested dict keys that look like secrets (``api_key``, ``Authorization``,
      ``password``, ``access_token``, ``cookie``, …) are written as ``"[REDACTED]"``.
    - `redact_pattern`: a regex replacing the default one (`tracer.redact.DEFAULT_PATTERN`), searched
      case-insensitively in each key, normalized (``X-ApiKey`` → ``x_api_key``) and as it is. Raises
      `re.error` when it does not compile (nothing is changed then).
    """
    if redact_pattern is not None:
        re.compile(redact_pattern)  # fail before changing anything
    if directory is not None:
        writer.close()
        settings.directory = directory
    if enabled is not None:
        settings.enabled = enabled
    if max_value_bytes is not None:
        settings.max_value_bytes = max_value_bytes
    if max_file_bytes is not None:
        settings.max_file_bytes = max_file_bytes
    if flush_delay_s is not None:
        settings.flush_delay_s = flush_delay_s
    if clock is not None:
        settings.clock = clock
    if id_generator is not None:
        settings.ids = id_generator
    if redact is not None or redact_pattern is not None:
        if redact is not None:
            settings.redact = redact
        if redact_pattern is not None:
            settings.redact_pattern = redact_pattern
        settings.apply_redaction()


def flush() -> None:
    """Write every record produced so far to the trace file now (it otherwise happens within
    ``flush_delay_s`` and at exit)."""
    writer.flush()


__all__ = [
    "LiveSpan",
    "RandomIdGenerator",
    "SequentialIdGenerator",
    "SpanEvent",
    "SpanStatus",
    "SpanStatusCode",
    "SpanType",
    "__version__",
    "configure",
    "flush",
    "get_current_active_span",
    "get_last_active_trace_id",
    "start_span",
    "trace",
    "update_current_trace",
    "wrap_context",
]

"""Small pure formatting helpers shared by `show` and the viewer: durations, times, status marks.

Imports: the standard library and `tracer.schema` only.
"""

from __future__ import annotations

import time

import orjson

from tracer import schema

STATUS_ICONS = {
    schema.STATUS_OK: "✓",
    schema.STATUS_ERROR: "✗",
    schema.TRACE_IN_PROGRESS: "●",
    schema.STATUS_UNSET: "●",
    schema.TRACE_INTERRUPTED: "⚠",  # no end, and its process is gone
}
STATUS_STYLES = {
    schema.STATUS_OK: "green",
    schema.STATUS_ERROR: "bold red",
    schema.TRACE_IN_PROGRESS: "yellow",
    schema.STATUS_UNSET: "yellow",
    schema.TRACE_INTERRUPTED: "bold magenta",
}
INTERRUPTED_TEXT = "interrupted"


def format_duration(ns: int | float | None) -> str:
    """A human duration: 850ns, 12.3µs, 4.56ms, 1.23s, 2m05s, 1h02m."""
    if ns is None:
        return "—"
    if ns < 1_000:
        return f"{ns:.0f}ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f}ms" if ns < 100_000_000 else f"{ns / 1_000_000:.0f}ms"
    seconds = ns / 1e9
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_time(ns: int | None) -> str:
    """Local wall-clock time of a timestamp: `HH:MM:SS.mmm`, with the date when not today."""
    if ns is None:
        return "—"
    seconds = ns / 1e9
    local = time.localtime(seconds)
    millis = int((seconds % 1) * 1000)
    clock = time.strftime("%H:%M:%S", local) + f".{millis:03d}"
    if time.strftime("%Y-%m-%d", local) != time.strftime("%Y-%m-%d", time.localtime()):
        return time.strftime("%Y-%m-%d ", local) + clock
    return clock


def compact_json(value: object) -> str:
    """A value on one line: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def pretty_json(value: object) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)

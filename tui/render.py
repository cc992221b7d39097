"""Static Rich renderings of traces for `tracetui show` and `tracetui ls`.

Every string from a trace goes through `tui.sanitize`. Colour only when stdout is a terminal and
``NO_COLOR`` is unset (Rich's own rules); otherwise plain text a script can grep.

Imports: Rich, the store and the formatting helpers; never Textual.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from tracer import schema
from tui.format import STATUS_ICONS, STATUS_STYLES, compact_json, format_duration, format_time, pretty_json
from tui.sanitize import safe_text
from tui.store import Span, Trace, TraceStore, TraceSummary

_MAX_VALUE_CHARS = 20_000


def make_console() -> Console:
    """A console writing plain text unless stdout is a terminal and NO_COLOR is unset."""
    # highlight=False: Rich's repr highlighter would colour numbers and URLs inside user data.
    plain = bool(os.environ.get("NO_COLOR")) or not sys.stdout.isatty()
    return Console(
        file=sys.stdout,
        highlight=False,
        soft_wrap=False,
        color_system=None if plain else "auto",
        emoji=False,
        markup=False,
    )


def status_text(status: str) -> Text:
    return Text(f"{STATUS_ICONS.get(status, '?')} {status}", style=STATUS_STYLES.get(status, ""))


def print_trace_list(summaries: list[TraceSummary], store: TraceStore) -> None:
    console = make_console()
    if not summaries:
        console.print(Text("no traces"))
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    rows = []
    for summary in summaries:
        request = safe_text(summary.request_preview or "")
        response = safe_text(summary.response_preview or "")
        for preview in (request, response):
            preview.no_wrap, preview.overflow = True, "ellipsis"  # one line, even in a narrow column
        rows.append(
            (
                status_text(summary.status),
                Text(format_time(summary.start_ns)),
                Text(summary.trace_id[:12]),
                safe_text(summary.name),
                Text(format_duration(None if summary.duration_ms is None else summary.duration_ms * 1e6)),
                Text(str(summary.span_count)),
                request,
                response,
            )
        )
    # In a narrow terminal (or 80 columns when piped) the previews give way first; status, time, id
    # and name keep their full width (up to 48), so `tracetui ls | grep NAME` finds the trace.
    names = ("status", "started", "trace id", "name", "duration", "spans", "request", "response")
    for index, column in enumerate(names):
        preview = column in ("request", "response")
        keep = None if preview or index > 3 else min(48, max(len(row[index]) for row in rows))
        table.add_column(column, no_wrap=not preview, overflow="ellipsis", max_width=48, min_width=keep)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _span_label(span: Span) -> Text:
    label = Text()
    label.append_text(safe_text(span.name or span.raw_name, "bold"))
    label.append(" ")
    label.append_text(safe_text(span.span_type, "cyan"))
    label.append(" ")
    if span.interrupted:  # no end will come: its process is gone
        label.append_text(status_text(schema.TRACE_INTERRUPTED))
        label.append(" (its process is gone)", style="dim")
        return label
    label.append(format_duration(span.duration_ns) if not span.running else "running", style="dim")
    label.append(" ")
    status = schema.TRACE_IN_PROGRESS if span.running else span.status
    label.append_text(status_text(status))
    return label


def _value_block(title: str, value: object) -> RenderableType:
    text = value if isinstance(value, str) else pretty_json(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[:_MAX_VALUE_CHARS] + f"\n… ({len(text) - _MAX_VALUE_CHARS:,} more characters; use --json)"
    return Group(
        Text(f"{title}:", style="bold"), Padding(safe_text(text, multiline=True), (0, 0, 0, 2), expand=False)
    )


def _span_details(span: Span) -> list[RenderableType]:
    parts: list[RenderableType] = []
    if span.inputs is not None:
        parts.append(_value_block("inputs", span.inputs))
    if span.outputs is not None:
        parts.append(_value_block("outputs", span.outputs))
    if span.attributes:
        parts.append(_value_block("attributes", span.attributes))
    if span.status_message:
        parts.append(Text("status: ", style="bold").append_text(safe_text(span.status_message, "red")))
    chunks = [e for e in span.events if e.name.startswith(schema.CHUNK_EVENT_PREFIX)]
    if chunks:
        values = [e.attributes.get(schema.CHUNK_VALUE) for e in chunks]
        joined = "".join(v for v in values if isinstance(v, str))
        line = Text(f"stream: {len(chunks)} chunks", style="bold")
        if joined:
            line.append(" → ").append_text(safe_text(joined))
        parts.append(line)
    for event in span.events:
        if event.name.startswith(schema.CHUNK_EVENT_PREFIX):
            continue
        if event.name == schema.EXCEPTION_EVENT:
            stack = event.attributes.get(schema.EXCEPTION_STACKTRACE)
            parts.append(Text("exception:", style="bold red"))
            parts.append(
                Padding(
                    safe_text(stack or compact_json(event.attributes), "red", multiline=True), (0, 0, 0, 2)
                )
            )
        else:
            offset = "" if span.start_ns is None else f" +{format_duration(event.time_ns - span.start_ns)}"
            line = Text("event ", style="bold").append_text(safe_text(event.name))
            line.append(offset, style="dim")
            if event.attributes:
                line.append(" ").append_text(safe_text(compact_json(event.attributes)))
            parts.append(line)
    return parts


def print_trace(trace: Trace) -> None:
    console = make_console()
    summary = trace.summary()
    header = Text()
    header.append_text(status_text(summary.status))
    header.append("  ")
    header.append_text(safe_text(summary.name, "bold"))
    header.append(f"  {trace.trace_id}  started {format_time(summary.start_ns)}", style="dim")
    if summary.duration_ms is not None:
        header.append(f"  took {format_duration(summary.duration_ms * 1e6)}")
    console.print(header)
    if summary.tags:
        console.print(Text("tags: ", style="bold").append_text(safe_text(compact_json(summary.tags))))
    tree = Tree(Text(f"{len(trace.spans)} spans", style="dim"))
    branches: dict[str | None, Tree] = {}
    known = {span.span_id for span in trace.spans}
    for span in trace.spans:
        parent_id = span.parent_id if span.parent_id in known else None
        parent = branches.get(parent_id, tree)
        node = parent.add(Group(_span_label(span), *_span_details(span)))
        branches[span.span_id] = node
    console.print(tree)

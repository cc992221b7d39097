"""Static Rich renderings of traces for `tracetui show` and `tracetui ls`.

Every string from a trace goes through `tui.sanitize`. Colour only when stdout is a terminal and
``NO_COLOR`` is unset (Rich's own rules); otherwise plain text a script can grep.

Imports: Rich, the store and the formatting helpers; never Textual.
"""

from __future__ import annotations

import sys

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from tracer import schema
from tui.format import STATUS_ICONS, STATUS_STYLES, compact_json, format_duration, format_time, pretty_json
from tui.sanitize import safe_text
from tui.store import Span, Trace, TraceStore, TraceSummary


def make_console() -> Console:
    # highlight=False: Rich's repr highlighter would colour numbers and URLs inside user data.
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def status_text(status: str) -> Text:
    return Text(f"{STATUS_ICONS.get(status, '?')} {status}", style=STATUS_STYLES.get(status, ""))


def print_trace_list(summaries: list[TraceSummary], store: TraceStore) -> None:
    console = make_console()
    if not summaries:
        console.print(Text("no traces"))
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in ("status", "started", "trace id", "name", "duration", "spans", "request", "response"):
        table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=48)
    for summary in summaries:
        table.add_row(
            status_text(summary.status),
            Text(format_time(summary.start_ns)),
            Text(summary.trace_id[:12]),
            safe_text(summary.name),
            Text(format_duration(None if summary.duration_ms is None else summary.duration_ms * 1e6)),
            Text(str(summary.span_count)),
            safe_text(summary.request_preview or ""),
            safe_text(summary.response_preview or ""),
        )
    console.print(table)


def _span_label(span: Span) -> Text:
    label = Text()
    label.append_text(safe_text(span.name or span.raw_name, "bold"))
    label.append(" ")
    label.append_text(safe_text(span.span_type, "cyan"))
    label.append(" ")
    label.append(format_duration(span.duration_ns) if not span.running else "running", style="dim")
    label.append(" ")
    status = schema.TRACE_IN_PROGRESS if span.running else span.status
    label.append_text(status_text(status))
    return label


def _value_block(title: str, value: object) -> RenderableType:
    text = value if isinstance(value, str) else pretty_json(value)
    body = safe_text(text, multiline=True)
    body.truncate(20_000)
    return Group(Text(f"{title}:", style="bold"), Text("  ").append_text(body))


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
            parts.append(safe_text(stack or compact_json(event.attributes), "red", multiline=True))
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

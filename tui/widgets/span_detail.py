"""Details of the selected span, in tabs: Inputs, Outputs, Attributes, Events, Exception.

Large values are cut for display (the whole value opens in a scrolling view with `o`), so a 5 MB
attribute never stalls a repaint. Every string from the trace goes through `tui.sanitize`.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from tracer import schema
from tui.format import compact_json, format_duration, pretty_json
from tui.sanitize import clean_block, safe_text
from tui.store import Span

# Shown in full up to this many characters; beyond, cut with a note (the whole value is one key away).
MAX_DISPLAY_CHARS = 20_000
# Syntax highlighting costs grow with size; past this, plain text.
MAX_HIGHLIGHT_CHARS = 8_000
_CELL_CHARS = 200
_FRAME = re.compile(r'^\s*File "(?P<file>.*)", line (?P<line>\d+), in (?P<func>.*)$')

TABS = ("inputs", "outputs", "attributes", "events", "exception")


def value_text(value: Any) -> str:
    """The full text of a value as the detail view shows it: strings as they are, else pretty JSON."""
    return value if isinstance(value, str) else pretty_json(value)


def render_value(value: Any) -> RenderableType:
    if value is None:
        return Text("(none)", style="dim italic")
    text = clean_block(value_text(value))
    note: Text | None = None
    if len(text) > MAX_DISPLAY_CHARS:
        note = Text(
            f"\n… {len(text) - MAX_DISPLAY_CHARS:,} more characters — press o to view the whole value",
            style="bold yellow",
        )
        text = text[:MAX_DISPLAY_CHARS]
    body: RenderableType
    if isinstance(value, str) or len(text) > MAX_HIGHLIGHT_CHARS:
        body = Text(text)
    else:
        body = Syntax(text, "json", theme="ansi_dark", word_wrap=True, background_color="default")
    return Group(body, note) if note is not None else body


def render_exception(event_attributes: dict[str, Any]) -> RenderableType:
    """An exception event as a readable traceback: the error first, then each frame's place and code."""
    exc_type = event_attributes.get(schema.EXCEPTION_TYPE, "Exception")
    message = event_attributes.get(schema.EXCEPTION_MESSAGE, "")
    stack = event_attributes.get(schema.EXCEPTION_STACKTRACE) or ""
    parts: list[RenderableType] = []
    title = Text()
    title.append_text(safe_text(exc_type, "bold red"))
    title.append(": ", style="bold red")
    title.append_text(safe_text(message, "red", multiline=True))
    parts.append(title)
    frames = Text()
    for line in str(stack).splitlines():
        match = _FRAME.match(line)
        if match:
            frames.append("\n")
            frames.append_text(safe_text(match["func"], "bold cyan"))
            frames.append("  ")
            frames.append_text(safe_text(match["file"], "blue"))
            frames.append(f":{match['line']}", style="blue")
        elif line.startswith("    "):
            frames.append("\n    ")
            frames.append_text(safe_text(line.strip(), ""))
        elif line.strip() and not line.startswith("Traceback"):
            frames.append("\n")
            frames.append_text(safe_text(line, "dim"))
    parts.append(frames)
    return Group(*parts)


class SpanDetail(Vertical):
    """Tabs describing one span. `show_span(span)` redraws only when the span changed."""

    DEFAULT_CSS = """
    SpanDetail {
        height: 1fr;
    }
    SpanDetail VerticalScroll {
        background: $surface;
        padding: 0 1;
    }
    SpanDetail DataTable {
        height: auto;
        max-height: 100%;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._span: Span | None = None
        self._signature: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="inputs", id="detail-tabs"):
            with TabPane("Inputs", id="inputs"), VerticalScroll():
                yield Static(id="inputs-body")
            with TabPane("Outputs", id="outputs"), VerticalScroll():
                yield Static(id="outputs-body")
            with TabPane("Attributes", id="attributes"):
                yield DataTable(id="attributes-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Events", id="events"), VerticalScroll():
                yield Static(id="stream-body")
                yield DataTable(id="events-table", cursor_type="row")
            with TabPane("Exception", id="exception"), VerticalScroll():
                yield Static(id="exception-body")

    @property
    def active(self) -> str:
        """The id of the visible tab."""
        return self.query_one(TabbedContent).active

    @active.setter
    def active(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def on_mount(self) -> None:
        self.query_one("#attributes-table", DataTable).add_columns("key", "value")
        self.query_one("#events-table", DataTable).add_columns("offset", "event", "value")

    @property
    def span(self) -> Span | None:
        return self._span

    def show_span(self, span: Span | None) -> None:
        signature = None
        if span is not None:
            signature = (
                span.trace_id,
                span.span_id,
                span.end_ns,
                span.status,
                len(span.events),
                len(span.attributes),
                id(span.inputs),
                id(span.outputs),
                span.started,
            )
        if signature == self._signature and span is self._span:
            return
        self._span = span
        self._signature = signature
        self._render_span(span)

    def current_value(self) -> tuple[str, str] | None:
        """(title, full text) of what the active tab shows, for copying or the full-value view."""
        span = self._span
        if span is None:
            return None
        tab = self.active
        if tab == "inputs":
            return "inputs", value_text(span.inputs)
        if tab == "outputs":
            return "outputs", value_text(span.outputs)
        if tab == "attributes":
            return "attributes", pretty_json(span.attributes)
        if tab == "events":
            chunks = _chunk_values(span)
            if chunks and all(isinstance(c, str) for c in chunks):
                return "stream", "".join(chunks)
            return "events", pretty_json([e.to_json() for e in span.events])
        if tab == "exception":
            stacks = [
                str(e.attributes.get(schema.EXCEPTION_STACKTRACE, ""))
                for e in span.events
                if e.name == schema.EXCEPTION_EVENT
            ]
            return "exception", "\n".join(stacks)
        return None

    def _render_span(self, span: Span | None) -> None:
        inputs = self.query_one("#inputs-body", Static)
        outputs = self.query_one("#outputs-body", Static)
        attributes = self.query_one("#attributes-table", DataTable)
        stream = self.query_one("#stream-body", Static)
        events = self.query_one("#events-table", DataTable)
        exception = self.query_one("#exception-body", Static)
        attributes.clear()
        events.clear()
        if span is None:
            empty = Text("no span selected", style="dim italic")
            for widget in (inputs, outputs, stream, exception):
                widget.update(empty)
            return
        inputs.update(render_value(span.inputs))
        if span.interrupted:
            outputs.update(Text("(interrupted: its process is gone, this span never ended)", "bold magenta"))
        elif span.running:
            outputs.update(Text("(running)", "yellow"))
        else:
            outputs.update(render_value(span.outputs))
        for key, value in sorted(span.attributes.items()):
            attributes.add_row(safe_text(key, "bold"), _cell(value))
        self._render_events(span, stream, events)
        failures = [e for e in span.events if e.name == schema.EXCEPTION_EVENT]
        if failures:
            exception.update(Group(*(render_exception(e.attributes) for e in failures)))
        elif span.status == schema.STATUS_ERROR:
            exception.update(safe_text(span.status_message or "failed", "red"))
        else:
            exception.update(Text("no exception", style="dim italic"))

    def _render_events(self, span: Span, stream: Static, events: DataTable) -> None:
        chunks = _chunk_values(span)
        if chunks:
            header = Text(f"{len(chunks)} stream chunks", style="bold")
            if all(isinstance(c, str) for c in chunks):
                joined = "".join(chunks)[:MAX_DISPLAY_CHARS]
                stream.update(Group(header, safe_text(joined, multiline=True)))
            else:
                stream.update(header)
        else:
            stream.update(Text("no stream chunks", style="dim italic"))
        start = span.start_ns or 0
        for event in span.events[:5_000]:
            if event.name.startswith(schema.CHUNK_EVENT_PREFIX):
                shown: Any = event.attributes.get(schema.CHUNK_VALUE)
            elif event.name == schema.EXCEPTION_EVENT:
                shown = f"{event.attributes.get(schema.EXCEPTION_TYPE)}: " + str(
                    event.attributes.get(schema.EXCEPTION_MESSAGE)
                )
            else:
                shown = event.attributes
            events.add_row(
                Text(f"+{format_duration(max(0, event.time_ns - start))}", style="dim"),
                safe_text(event.name),
                _cell(shown),
            )


def _chunk_values(span: Span) -> list[Any]:
    return [
        e.attributes.get(schema.CHUNK_VALUE)
        for e in span.events
        if e.name.startswith(schema.CHUNK_EVENT_PREFIX)
    ]


def _cell(value: Any) -> Text:
    text = safe_text(compact_json(value))
    text.truncate(_CELL_CHARS, overflow="ellipsis")
    return text

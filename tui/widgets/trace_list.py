"""The trace list: one row per trace, newest first, rendered virtually (only the visible rows).

Rows are `TraceSummary` snapshots handed in by the app (`set_rows`). The widget keeps the cursor on the
same *trace* when rows are inserted above it, so new traces arriving at the top never move what the
user is looking at; with follow on, the cursor jumps to the newest instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tracer import schema
from tui.format import (
    INTERRUPTED_TEXT,
    STATUS_ICONS,
    STATUS_STYLES,
    compact_json,
    format_duration,
    format_time,
)
from tui.sanitize import clean_line, safe_text
from tui.store import TraceSummary

# (title, fixed width or None for a share of the remaining width, share)
_COLUMNS: tuple[tuple[str, int | None, int], ...] = (
    ("", 13, 0),  # status icon and duration / elapsed time / "interrupted"
    ("started", 12, 0),
    ("name", None, 3),
    ("spans", 5, 0),
    ("request", None, 4),
    ("response", None, 4),
    ("tags", None, 2),
)
_GAP = 1


def column_widths(total: int) -> list[int]:
    """Cell widths of the columns for a list `total` cells wide (flexible ones share the rest)."""
    fixed = sum(width for _, width, _ in _COLUMNS if width is not None)
    shares = sum(share for _, width, share in _COLUMNS if width is None)
    spare = max(0, total - fixed - _GAP * (len(_COLUMNS) - 1))
    widths = []
    for _, width, share in _COLUMNS:
        widths.append(width if width is not None else max(4, spare * share // shares))
    return widths


def header_text(total: int) -> Text:
    text = Text(style="bold")
    for (title, _, _), width in zip(_COLUMNS, column_widths(total), strict=True):
        text.append(title.ljust(width)[:width] + " " * _GAP)
    return text


def _fit(text: Text, width: int) -> Text:
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


class TraceList(ScrollView, can_focus=True):
    """Virtual list of traces.

    | Key | Action |
    | --- | --- |
    | up / k, down / j | previous / next trace |
    | page up / page down | a page up / down |
    | home / g, end / G | newest / oldest trace |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first", "Newest", show=False),
        Binding("end,G", "last", "Oldest", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"trace-list--cursor"}

    DEFAULT_CSS = """
    TraceList {
        height: 1fr;
        background: $surface;
    }
    TraceList > .trace-list--cursor {
        background: $accent 30%;
        text-style: bold;
    }
    TraceList:focus > .trace-list--cursor {
        background: $accent 60%;
    }
    """

    cursor = reactive(0, always_update=True, repaint=False)
    """Index of the highlighted row."""

    class TraceHighlighted(Message):
        """The cursor moved to another trace (or to none, when the list is empty)."""

        def __init__(self, trace_id: str | None) -> None:
            self.trace_id = trace_id
            super().__init__()

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._rows: Sequence[TraceSummary] = []
        self._highlighted: str | None = None
        self.follow = False

    # -- public API --------------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[TraceSummary]:
        return self._rows

    @property
    def highlighted_trace_id(self) -> str | None:
        return self._highlighted

    def set_rows(self, rows: Sequence[TraceSummary]) -> None:
        """Show `rows` (newest first), keeping the cursor on the same trace unless following.

        `rows` may be a lazy view of the store (only the visible rows are ever built); one with an
        `index_of(trace_id)` method finds the highlighted trace without a scan.
        """
        previous_id = self._highlighted
        previous_cursor = self.cursor
        self._rows = rows
        self.virtual_size = Size(self.size.width, len(rows))
        if self.follow or previous_id is None:
            target = 0
        else:
            found = self._index_of(previous_id)
            target = found if found is not None else min(previous_cursor, max(0, len(rows) - 1))
        if not self.follow and previous_id is not None and target != previous_cursor:
            # Rows arrived above: scroll by as much, so the highlighted row stays where the eye is.
            self.scroll_to(y=self.scroll_offset.y + (target - previous_cursor), animate=False, immediate=True)
        self._move_to(target, scroll=self.follow)
        self.refresh()

    def select_trace(self, trace_id: str) -> bool:
        index = self._index_of(trace_id)
        if index is None:
            return False
        self._move_to(index)
        return True

    def _index_of(self, trace_id: str) -> int | None:
        index_of = getattr(self._rows, "index_of", None)
        if index_of is not None:
            return index_of(trace_id)
        for i, row in enumerate(self._rows):
            if row.trace_id == trace_id:
                return i
        return None

    # -- rendering ---------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self.rich_style
        try:
            row = self._rows[index]
        except IndexError:  # past the end (or the store shrank under a lazy view until next refresh)
            return Strip.blank(width, base)
        text = self._row_text(row, width)
        if index == self.cursor:
            text.stylize(self.get_component_rich_style("trace-list--cursor"))
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _row_text(self, row: TraceSummary, width: int) -> Text:
        widths = column_widths(width)
        status = row.status
        icon = STATUS_ICONS.get(status, "?")
        style = STATUS_STYLES.get(status, "")
        if status == schema.TRACE_IN_PROGRESS and row.start_ns is not None:
            duration = format_duration(max(0, time.time_ns() - row.start_ns))
        elif status == schema.TRACE_INTERRUPTED:
            duration = INTERRUPTED_TEXT  # its process is gone: no end will come, no clock ticks
        else:
            duration = format_duration(None if row.duration_ms is None else row.duration_ms * 1e6)
        cells = [
            Text(f"{icon} {duration}", style=style),
            Text(format_time(row.start_ns), style="dim"),
            safe_text(row.name, "bold"),
            Text(str(row.span_count)),
            safe_text(row.request_preview or ""),
            safe_text(row.response_preview or ""),
            safe_text(_tags_text(row.tags), "italic"),
        ]
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        gap = " " * _GAP
        for cell, cell_width in zip(cells, widths, strict=True):
            line.append_text(_fit(cell, cell_width))
            line.append(gap)
        line.truncate(max(width, 1), pad=True)
        return line

    # -- cursor --------------------------------------------------------------------------------

    def _move_to(self, index: int, *, scroll: bool = True) -> None:
        count = len(self._rows)
        index = max(0, min(index, count - 1)) if count else 0
        old = self.cursor
        self.cursor = index
        trace_id = self._rows[index].trace_id if count else None
        if old != index:
            self.refresh_line(old - self.scroll_offset.y)
        self.refresh_line(index - self.scroll_offset.y)
        if scroll and count:
            self._scroll_cursor_into_view()
        if trace_id != self._highlighted:
            self._highlighted = trace_id
            self.post_message(self.TraceHighlighted(trace_id))

    def _scroll_cursor_into_view(self) -> None:
        top = self.scroll_offset.y
        height = max(1, self.scrollable_content_region.height)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self._rows):
            self._move_to(index)

    def _on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._rows))

    def action_cursor_up(self) -> None:
        self._move_to(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_to(self.cursor + 1)

    def action_page_up(self) -> None:
        self._move_to(self.cursor - max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self._move_to(self.cursor + max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(len(self._rows) - 1)


def _tags_text(tags: dict[str, object]) -> str:
    if not tags:
        return ""
    return " ".join(f"{clean_line(key)}={clean_line(compact_json(value))}" for key, value in tags.items())


def dim_style() -> Style:
    return Style(dim=True)

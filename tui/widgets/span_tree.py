"""The span tree of one trace: collapsible, with a waterfall of timing bars on the trace's time axis.

`show_trace(trace)` is called whenever the trace may have changed; it adds nodes for new spans and
relabels only the nodes whose span changed, so a running trace updates in place without losing the
user's cursor or collapsed branches.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tracer import schema
from tui.format import INTERRUPTED_TEXT, format_duration
from tui.sanitize import clean_line, safe_text
from tui.store import Span, Trace

BAR_WIDTH = 24
_NAME_WIDTH_MAX = 44
_GUIDE = 4


def _waterfall(span: Span, t0: int, total: int, now_ns: int, width: int = BAR_WIDTH) -> Text:
    """A bar `width` cells wide: where in [t0, t0 + total] the span ran."""
    bar = Text("·" * width, style="dim")
    if span.start_ns is None or total <= 0:
        return bar
    end = span.end_ns if span.end_ns is not None else now_ns
    if span.interrupted:
        end = t0 + total  # no end will come: drawn to the last moment the trace shows
    start_cell = int((span.start_ns - t0) / total * width)
    end_cell = int((end - t0) / total * width + 0.999)
    start_cell = max(0, min(width - 1, start_cell))
    end_cell = max(start_cell + 1, min(width, end_cell))
    if span.interrupted:
        style = "magenta"
    elif span.running:
        style = "yellow"
    elif span.status == schema.STATUS_ERROR:
        style = "red"
    else:
        style = "green"
    bar = Text("·" * start_cell, style="dim")
    bar.append("█" * (end_cell - start_cell), style=style)
    bar.append("·" * (width - end_cell), style="dim")
    return bar


def _last_ns(span: Span, now_ns: int) -> int:
    """The latest moment a span is known to have lasted to: its end; now while it runs; for an
    interrupted span (its process died), its start or last event."""
    if span.end_ns is not None:
        return span.end_ns
    if span.interrupted:
        return max([span.start_ns or 0, *(event.time_ns for event in span.events)])
    return now_ns


def _shown_width(name: str) -> int:
    """Cells a name takes once sanitised (escapes like `\\x1b` are longer than the raw character)."""
    if name.isascii() and name.isprintable():
        return len(name)
    return cell_len(clean_line(name))


class SpanTree(Tree[str]):
    """Spans of the selected trace; node data is the span id.

    | Key | Action |
    | --- | --- |
    | up / k, down / j | previous / next span |
    | enter, space | collapse / expand |
    | left, right | collapse (or go to parent) / expand |
    | + / - | expand all / collapse all |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("left", "collapse_or_parent", "Collapse", show=False),
        Binding("right", "expand_node", "Expand", show=False),
        # Tree's own enter only selects (auto_expand is off, so clicks do not fold): make it fold.
        Binding("enter", "toggle_node", "Toggle", show=False),
        Binding("plus,equals_sign", "expand_all", "Expand all"),
        Binding("minus", "collapse_all", "Collapse all"),
    ]

    DEFAULT_CSS = """
    SpanTree {
        background: $surface;
    }
    """

    class SpanHighlighted(Message):
        """The cursor moved to a span (or off every span)."""

        def __init__(self, trace_id: str | None, span_id: str | None) -> None:
            self.trace_id = trace_id
            self.span_id = span_id
            super().__init__()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("trace", id=id)
        self.show_root = False
        self.guide_depth = _GUIDE
        self.auto_expand = False
        self._trace_id: str | None = None
        # Not `_nodes`: Textual keeps a widget's children there (shadowing it corrupts the DOM).
        self._span_nodes: dict[str, TreeNode[str]] = {}
        self._depth: dict[str, int] = {}
        self._labels: dict[str, tuple[object, ...]] = {}
        self._failed_below: set[str] = set()

    @property
    def trace_id(self) -> str | None:
        return self._trace_id

    @property
    def highlighted_span_id(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def show_trace(self, trace: Trace | None) -> None:
        """Display `trace` (None: nothing), updating in place when it is the one already shown."""
        if trace is None:
            if self._trace_id is not None:
                self._reset(None)
                self.post_message(self.SpanHighlighted(None, None))
            return
        if trace.trace_id != self._trace_id:
            self._reset(trace.trace_id)
        spans = trace.spans
        known = {span.span_id for span in spans}
        added = False
        for span in spans:
            if span.span_id in self._span_nodes:
                continue
            parent_id = span.parent_id if span.parent_id in known else None
            if parent_id is not None and parent_id not in self._span_nodes:
                # Parent starts later than its child (clock skew across threads): attach at the top
                # for now; the next rebuild places it right.
                parent_id = None
            parent_node = self.root if parent_id is None else self._span_nodes[parent_id]
            self._depth[span.span_id] = 0 if parent_id is None else self._depth[parent_id] + 1
            node = parent_node.add(Text(""), data=span.span_id, expand=True, allow_expand=False)
            parent_node.allow_expand = True
            self._span_nodes[span.span_id] = node
            added = True
        self._relabel(trace, spans)
        if added and self.cursor_line < 0 and spans:
            self.move_cursor(self._span_nodes[spans[0].span_id])

    def span_ids_in_order(self) -> list[str]:
        """Span ids in tree (display) order."""
        order: list[str] = []

        def walk(node: TreeNode[str]) -> None:
            for child in node.children:
                if child.data is not None:
                    order.append(child.data)
                walk(child)

        walk(self.root)
        return order

    def select_span(self, span_id: str) -> bool:
        node = self._span_nodes.get(span_id)
        if node is None:
            return False
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        self.move_cursor(node)
        self.scroll_to_node(node, animate=False)
        return True

    # -- internals ---------------------------------------------------------------------------------

    def _reset(self, trace_id: str | None) -> None:
        self.clear()
        self._trace_id = trace_id
        self._span_nodes.clear()
        self._depth.clear()
        self._labels.clear()
        self._failed_below.clear()

    def _relabel(self, trace: Trace, spans: list[Span]) -> None:
        # Running spans grow with the clock; redraw them (and the axis) twice a second, not per frame.
        now_ns = time.time_ns()
        now_ns -= now_ns % 500_000_000
        t0 = min((s.start_ns for s in spans if s.start_ns is not None), default=0)
        t1 = max(
            (_last_ns(s, now_ns) for s in spans if s.start_ns is not None),
            default=t0,
        )
        total = max(1, t1 - t0)
        failed_below: set[str] = set()
        by_id = {span.span_id: span for span in spans}
        for span in spans:
            if span.status == schema.STATUS_ERROR:
                parent = by_id.get(span.parent_id or "")
                while parent is not None and parent.span_id not in failed_below:
                    failed_below.add(parent.span_id)
                    parent = by_id.get(parent.parent_id or "")
        name_width = min(
            _NAME_WIDTH_MAX,
            max((self._indent(s.span_id) + _shown_width(s.name) for s in spans), default=10),
        )
        for span in spans:
            node = self._span_nodes.get(span.span_id)
            if node is None:
                continue
            descendant_failed = span.span_id in failed_below
            key = (
                node.allow_expand,
                span.name,
                span.span_type,
                span.end_ns,
                span.status,
                descendant_failed,
                t0,
                total,
                name_width,
                span.running and now_ns,
                span.interrupted,
            )
            if self._labels.get(span.span_id) == key:
                continue
            self._labels[span.span_id] = key
            node.set_label(self._label(span, descendant_failed, t0, total, now_ns, name_width))

    def _label(
        self, span: Span, descendant_failed: bool, t0: int, total: int, now_ns: int, name_width: int
    ) -> Text:
        if span.interrupted:
            mark = Text("⚠ ", style="bold magenta")
        elif span.running:
            mark = Text("● ", style="yellow")
        elif span.status == schema.STATUS_ERROR:
            mark = Text("✗ ", style="bold red")
        elif descendant_failed:
            mark = Text("! ", style="red")
        else:
            mark = Text("✓ ", style="green")
        label = Text(no_wrap=True, end="")
        label.append_text(mark)
        name = safe_text(span.name, "bold red" if span.status == schema.STATUS_ERROR else "bold")
        name.truncate(max(4, name_width - self._indent(span.span_id)), overflow="ellipsis", pad=True)
        label.append_text(name)
        label.append(" ")
        kind = safe_text(span.span_type, "cyan")
        kind.truncate(10, overflow="ellipsis", pad=True)
        label.append_text(kind)
        label.append(" ")
        if span.interrupted:
            duration = Text(f"{INTERRUPTED_TEXT:>9}", style="magenta")
        elif span.running and span.start_ns is not None:
            duration = Text(f"{format_duration(now_ns - span.start_ns):>8}…", style="yellow")
        else:
            duration = Text(f"{format_duration(span.duration_ns):>9}", style="dim")
        label.append_text(duration)
        label.append(" ")
        label.append_text(_waterfall(span, t0, total, now_ns))
        return label

    def _indent(self, span_id: str) -> int:
        """Cells before a node's label: guides for its depth, plus the expand icon if it has one.
        Names are padded by what is left, so the bars line up in one column."""
        node = self._span_nodes.get(span_id)
        icon = 2 if node is not None and node.allow_expand else 0
        return self._depth.get(span_id, 0) * _GUIDE + icon

    # -- events and actions ------------------------------------------------------------------------

    def _on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        self.post_message(self.SpanHighlighted(self._trace_id, event.node.data))

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.children:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def action_expand_node(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.children and not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_expand_all(self) -> None:
        self.root.expand_all()

    def action_collapse_all(self) -> None:
        for child in self.root.children:
            child.collapse_all()

"""The `tracetui watch` application: a live view of a trace directory.

Data flow: a `TraceWatcher` in a worker thread reads new lines and feeds them into the `TraceStore`
(under a lock). The UI never reads files; a timer ten times a second checks whether the store changed
and, if so, hands the widgets fresh snapshots. Bursts of any size are so coalesced into at most ten
repaints a second, and the UI stays responsive to keys while lines pour in.

`make_app()` builds the app for the CLI and the tests alike.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tracer import schema
from tui.index import load_index, save_index
from tui.screens import HelpScreen, ValueScreen, binding_rows
from tui.store import Trace, TraceStore, TraceSummary
from tui.tailer import Chunk
from tui.watcher import TraceWatcher
from tui.widgets.span_detail import SpanDetail
from tui.widgets.span_tree import SpanTree
from tui.widgets.status_bar import StatusBar
from tui.widgets.trace_list import TraceList, header_text

REFRESH_INTERVAL_S = 0.1


class TraceApp(App[None]):
    """Live trace viewer.

    | Key | Action |
    | --- | --- |
    | tab / shift+tab | next / previous pane |
    | / | filter traces by text (esc clears) |
    | e / E | next / previous error span |
    | y | copy the selected id or value |
    | o | open the whole value of the detail tab |
    | f | follow the newest trace |
    | ? | keys |
    | q | quit |
    """

    TITLE = "tracetui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("e", "next_error", "Next error"),
        Binding("E", "previous_error", "Prev error"),
        Binding("y", "copy", "Copy"),
        Binding("o", "open_value", "Open value"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("question_mark", "help", "Keys"),
    ]

    CSS = """
    #list-pane {
        height: 40%;
        border: round $primary 50%;
    }
    #list-pane:focus-within {
        border: round $accent;
    }
    #filter {
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
    }
    #filter.visible {
        display: block;
    }
    #list-header {
        height: 1;
        padding: 0 0;
        background: $panel;
    }
    #lower {
        height: 1fr;
    }
    #span-tree {
        width: 1fr;
        border: round $primary 50%;
    }
    #span-tree:focus {
        border: round $accent;
    }
    #span-detail {
        width: 1fr;
    }
    """

    def __init__(
        self, path: Path, *, poll: bool = False, follow: bool = False, use_index: bool = True
    ) -> None:
        super().__init__()
        self._index_saved = False
        self.path = path
        self.store = TraceStore()
        self.store_lock = threading.Lock()
        self.watcher = TraceWatcher(
            path, self._on_chunks, self._on_state, poll=poll, on_caught_up=self._on_caught_up
        )
        self.use_index = use_index
        self.watch_state = "starting"
        self._follow = follow
        self._filter = ""
        self._seen_version = -1
        self._selected_trace: str | None = None
        self._selected_span: str | None = None
        self._rows: Sequence[TraceSummary] = []
        self._ticks = 0

    # -- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="list-pane"):
            yield Input(placeholder="filter traces: name, preview, tag, id…", id="filter")
            yield Static(id="list-header")
            yield TraceList(id="trace-list")
        with Horizontal(id="lower"):
            yield SpanTree(id="span-tree")
            yield SpanDetail(id="span-detail")
        yield StatusBar(id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TraceList).follow = self._follow
        self.query_one("#list-pane").border_title = "traces"
        self.query_one(SpanTree).border_title = "spans"
        self.query_one(TraceList).focus()
        self._start_watcher()
        self.set_interval(REFRESH_INTERVAL_S, self.refresh_views)
        self.refresh_views()

    def on_resize(self) -> None:
        self._update_header()

    def on_unmount(self) -> None:
        self.watcher.stop()

    # -- data in (worker thread) -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="watcher", exit_on_error=False)
    def _start_watcher(self) -> None:
        if self.use_index and self.path.is_dir():
            self.watch_state = "opening index"
            restored = load_index(self.watcher.tailer)
            if restored is not None:
                with self.store_lock:
                    self.store = restored
        self.watcher.run()

    def _on_caught_up(self) -> None:
        """Everything on disk has been read once: save the index, so the next open is instant, and
        prepare the filter's search texts, so the first `/` answers at once (both in this thread)."""
        if self._index_saved:
            return
        self._index_saved = True
        if self.use_index:
            with self.store_lock:
                save_index(self.store, self.watcher.tailer)
        # Without the lock: only this thread changes the store, and the UI must not wait seconds.
        self.store.prepare_search()

    def _on_chunks(self, chunks: list[Chunk]) -> None:
        with self.store_lock:
            for chunk in chunks:
                self.store.ingest(chunk)

    def _on_state(self, state: str) -> None:
        self.watch_state = state

    # -- data out (UI thread) ----------------------------------------------------------------------

    def refresh_views(self) -> None:
        """Hand the widgets fresh snapshots if the store changed (and tick running timers)."""
        self._ticks += 1
        store = self.store
        changed = store.version != self._seen_version
        try:
            trace_list = self.query_one(TraceList)
        except NoMatches:
            return  # shutting down: the timer can fire once more after the widgets are gone
        # The watcher holds the store for a few milliseconds per batch: wait that long, but not for a
        # long filter or index save; then skip this frame rather than freeze.
        if not self.store_lock.acquire(timeout=0.02):
            return
        try:
            self._refresh_locked(store, changed, trace_list)
        except NoMatches:
            return  # shutting down: widgets are being removed one by one
        finally:
            self.store_lock.release()
        if (
            not changed
            and self._ticks % 5 == 0
            and any(row.status == schema.TRACE_IN_PROGRESS for row in self._rows[:200])
        ):
            trace_list.refresh()  # elapsed times of running traces tick
        self._update_status()

    def _refresh_locked(self, store: TraceStore, changed: bool, trace_list: TraceList) -> None:
        if changed:
            self._seen_version = store.version
            if self._filter.strip():
                self._apply_filter(self._filter)  # in a worker: see _apply_filter
            else:
                self._rows = self._current_rows()
                trace_list.set_rows(self._rows)
        trace = store.get(self._selected_trace) if self._selected_trace else None
        running = trace is not None and any(span.running for span in trace.spans)
        if changed or running:
            self._show_trace(trace)

    def _current_rows(self) -> Sequence[TraceSummary]:
        """The rows the list shows: every trace, or those matching the filter (call with the lock)."""
        needle = self._filter.strip()
        return self.store.search(needle) if needle else self.store.view()

    def _show_trace(self, trace: Trace | None) -> None:
        """Raises NoMatches once the app is shutting down (callers from timers ignore that)."""
        tree = self.query_one(SpanTree)
        tree.show_trace(trace)
        span_id = self._selected_span
        span = trace.get_span(span_id) if trace is not None and span_id else None
        self.query_one(SpanDetail).show_span(span)

    def _update_header(self) -> None:
        trace_list = self.query_one(TraceList)
        self.query_one("#list-header", Static).update(header_text(max(1, trace_list.size.width)))

    def _update_status(self) -> None:
        store = self.store
        self.query_one(StatusBar).show(
            directory=str(self.path),
            traces=len(store),
            shown=len(self._rows),
            lines=store.lines_read,
            skipped=store.lines_skipped,
            first_skipped=store.first_skipped,
            state=self.watch_state,
            follow=self._follow,
        )

    # -- selection ---------------------------------------------------------------------------------

    @on(TraceList.TraceHighlighted)
    def _trace_highlighted(self, event: TraceList.TraceHighlighted) -> None:
        if event.trace_id == self._selected_trace or not self.query(SpanTree):
            return  # unchanged, or shutting down (the widgets are gone)
        self._selected_trace = event.trace_id
        self._selected_span = None
        try:
            with self.store_lock:
                trace = self.store.get(event.trace_id) if event.trace_id else None
                self._show_trace(trace)
                if trace is not None and trace.root is not None:
                    self._selected_span = trace.root.span_id
                    self.query_one(SpanDetail).show_span(trace.root)
            self._update_header()
        except NoMatches:
            return  # shutting down

    @on(SpanTree.SpanHighlighted)
    def _span_highlighted(self, event: SpanTree.SpanHighlighted) -> None:
        if not self.query(SpanDetail):
            return  # shutting down
        self._selected_span = event.span_id
        with self.store_lock:
            trace = self.store.get(event.trace_id) if event.trace_id else None
            span = trace.get_span(event.span_id) if trace is not None and event.span_id else None
        try:
            self.query_one(SpanDetail).show_span(span)
        except NoMatches:
            return  # shutting down

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._filter = event.value
        self._apply_filter(event.value)

    @work(thread=True, exclusive=True, group="filter", exit_on_error=False)
    def _apply_filter(self, needle: str) -> None:
        """Filter off the UI thread: over hundreds of thousands of traces it takes a few frames, and
        keys typed meanwhile must not wait for it."""
        with self.store_lock:
            rows = self._current_rows()
        self.call_from_thread(self._show_filtered, needle, rows)

    def _show_filtered(self, needle: str, rows: Sequence[TraceSummary]) -> None:
        if needle != self._filter or not self.query(TraceList):
            return  # overtaken by a later key, or shutting down
        self._rows = rows
        self.query_one(TraceList).set_rows(rows)
        self._update_status()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.query_one(TraceList).focus()

    # -- command palette ---------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.action not in ("quit",):
                yield SystemCommand(
                    binding.description,
                    f"key: {binding.key}",
                    partial(self.run_action, binding.action),
                )
        yield SystemCommand("Expand all spans", "key: +", self.query_one(SpanTree).action_expand_all)
        yield SystemCommand("Collapse all spans", "key: -", self.query_one(SpanTree).action_collapse_all)

    # -- actions -----------------------------------------------------------------------------------

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.add_class("visible")
        field.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if field.value:
            field.value = ""
        field.remove_class("visible")
        self.query_one(TraceList).focus()

    def action_toggle_follow(self) -> None:
        self._follow = not self._follow
        trace_list = self.query_one(TraceList)
        trace_list.follow = self._follow
        if self._follow:
            trace_list.action_first()
        self.notify("following the newest trace" if self._follow else "follow off", timeout=2)
        self._update_status()

    def _error_spans(self) -> list[str]:
        tree = self.query_one(SpanTree)
        trace = self.store.get(tree.trace_id) if tree.trace_id else None
        if trace is None:
            return []
        order = tree.span_ids_in_order()
        return [sid for sid in order if (s := trace.get_span(sid)) and s.status == schema.STATUS_ERROR]

    def _jump_error(self, step: int) -> None:
        tree = self.query_one(SpanTree)
        with self.store_lock:
            errors = self._error_spans()
            order = tree.span_ids_in_order()
        if not errors:
            self.notify("no error spans in this trace", timeout=2)
            return
        current = tree.highlighted_span_id
        position = order.index(current) if current in order else -1
        ranked = [order.index(sid) for sid in errors]
        if step > 0:
            after = [i for i in ranked if i > position]
            target = order[after[0] if after else ranked[0]]
        else:
            before = [i for i in ranked if i < position]
            target = order[before[-1] if before else ranked[-1]]
        tree.select_span(target)
        tree.focus()

    def action_next_error(self) -> None:
        self._jump_error(+1)

    def action_previous_error(self) -> None:
        self._jump_error(-1)

    def _selected_text(self) -> tuple[str, str] | None:
        focused = self.focused
        detail = self.query_one(SpanDetail)
        tree = self.query_one(SpanTree)
        if focused is not None and (focused is detail or detail in focused.ancestors):
            return detail.current_value()
        if focused is tree and tree.highlighted_span_id:
            return "span id", tree.highlighted_span_id
        trace_id = self.query_one(TraceList).highlighted_trace_id
        return ("trace id", trace_id) if trace_id else None

    def action_copy(self) -> None:
        selected = self._selected_text()
        if selected is None:
            self.notify("nothing selected to copy", timeout=2)
            return
        what, text = selected
        self.copy_to_clipboard(text)
        self.notify(f"copied {what} ({len(text):,} characters)", timeout=2)

    def action_open_value(self) -> None:
        value = self.query_one(SpanDetail).current_value()
        if value is None:
            self.notify("select a span first", timeout=2)
            return
        self.push_screen(ValueScreen(*value))

    def action_help(self) -> None:
        self.push_screen(
            HelpScreen(
                binding_rows(
                    [
                        ("app", list(self.BINDINGS)),
                        ("trace list", list(TraceList.BINDINGS)),
                        ("span tree", list(SpanTree.BINDINGS)),
                    ]
                )
            )
        )


def make_app(
    path: str | Path, *, poll: bool = False, follow: bool = False, use_index: bool = True
) -> TraceApp:
    """The viewer for a trace directory or file (which need not exist yet). `use_index`: read and
    write the persistent index next to the data (tui/index.py)."""
    return TraceApp(Path(path), poll=poll, follow=follow, use_index=use_index)

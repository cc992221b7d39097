"""One line at the bottom: which directory, how much was read, what was skipped, the watch state."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.sanitize import safe_text
from tui.store import SkippedLine


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
    }
    """

    _last: tuple[object, ...] | None = None

    def show(
        self,
        *,
        directory: str,
        traces: int,
        shown: int,
        lines: int,
        skipped: int,
        first_skipped: SkippedLine | None,
        state: str,
        follow: bool,
    ) -> None:
        key = (directory, traces, shown, lines, skipped, first_skipped, state, follow)
        if key == self._last:
            return  # ten calls a second: repaint only on change
        self._last = key
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append_text(safe_text(directory, "bold"))
        count = f"{traces:,} traces" if shown == traces else f"{shown:,} of {traces:,} traces"
        text.append(f" │ {count} │ {lines:,} lines")
        if skipped:
            text.append(f" │ {skipped:,} skipped", style="bold yellow")
            if first_skipped is not None:
                where = f" (first: {first_skipped.source.rsplit('/', 1)[-1]}:{first_skipped.line})"
                text.append_text(safe_text(where, "yellow"))
        text.append(" │ ")
        text.append_text(safe_text(state, "green" if state in ("watching", "polling") else "yellow"))
        if follow:
            text.append(" │ follow", style="bold cyan")
        self.update(text)

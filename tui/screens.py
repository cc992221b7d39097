"""Modal screens: the key help (generated from the real bindings) and the whole-value view."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static, TextArea

from tui.sanitize import clean_block, safe_text

KeyRow = tuple[str, str, str]  # (where, keys, description)


def binding_rows(sources: list[tuple[str, list[BindingType]]]) -> list[KeyRow]:
    """Rows for the help table from (place, BINDINGS) pairs: what the keys really do."""
    rows: list[KeyRow] = []
    for where, bindings in sources:
        for binding in bindings:
            if isinstance(binding, Binding):
                keys, description, action = binding.key, binding.description, binding.action
            else:
                keys, action, description = binding[0], binding[1], binding[2] if len(binding) > 2 else ""
            shown = ", ".join(_key_name(key) for key in keys.split(","))
            rows.append((where, shown, description or action.replace("_", " ")))
    return rows


_KEY_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "escape": "esc",
    "pageup": "page up",
    "pagedown": "page down",
}


def _key_name(key: str) -> str:
    key = key.strip()
    return _KEY_NAMES.get(key, key)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Vertical {
        width: 80;
        max-height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen DataTable {
        height: auto;
        max-height: 1fr;
    }
    """

    def __init__(self, rows: list[KeyRow]) -> None:
        super().__init__()
        self._rows = rows

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Keys  (esc closes; ctrl+p opens the command palette)", style="bold"))
            yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("where", "key", "action")
        for where, keys, description in self._rows:
            table.add_row(Text(where, style="dim"), Text(keys, style="bold"), Text(description))
        table.focus()


class ValueScreen(ModalScreen[None]):
    """A whole value, however large, in a scrolling read-only text area."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    ValueScreen {
        align: center middle;
    }
    ValueScreen > Vertical {
        width: 95%;
        height: 90%;
        border: thick $accent;
        background: $surface;
    }
    ValueScreen TextArea {
        height: 1fr;
    }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self._title = title
        self._text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(safe_text(f"{self._title} — {len(self._text):,} characters (esc closes)", "bold"))
            # TextArea shows text literally (no markup); control characters are still made visible.
            yield TextArea(clean_block(self._text), read_only=True, soft_wrap=True, show_line_numbers=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

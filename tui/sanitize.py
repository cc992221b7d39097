"""The one way text from a trace file reaches the terminal.

Span names, values, tracebacks — anything read from a trace file — may contain Rich markup (``[bold]``,
``[link=…]``) or terminal escape sequences (``\\x1b[2J``, OSC 8 links, OSC 52 clipboard writes). Textual's
widgets and Rich's console interpret a plain ``str`` as markup, and the terminal interprets escapes.
So every such string goes through `safe_text` (or `clean_line` / `clean_block` where a plain string is
required), which:

- makes C0 controls (but newline and tab in blocks), DEL, C1 controls, and Unicode bidi overrides and
  isolates visible as ``\\xNN`` / ``\\uNNNN`` escapes, so no escape sequence survives;
- returns `rich.text.Text`, which is never parsed as markup.

Imports: the standard library and Rich (no Textual).
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

# C0 except \t and \n, DEL, C1; and the bidi controls that can reorder what a reader sees
# (U+061C, U+200E/F, U+202A-202E, U+2066-2069). Line and paragraph separators too.
_BLOCK_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_LINE_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\x1b"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_line(text: object) -> str:
    """`text` as one line with every control character shown escaped (newlines too)."""
    if not isinstance(text, str):
        text = str(text)
    return _LINE_UNSAFE.sub(_escape, text)


def clean_block(text: object) -> str:
    """`text` with control characters shown escaped, newlines and tabs kept."""
    if not isinstance(text, str):
        text = str(text)
    return _BLOCK_UNSAFE.sub(_escape, text)


def safe_text(text: object, style: str | Style = "", *, multiline: bool = False) -> Text:
    """A `Text` showing `text` literally: never markup, never an escape sequence."""
    return Text(clean_block(text) if multiline else clean_line(text), style=style)

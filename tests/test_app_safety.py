"""Text from trace files reaches the terminal inert: Rich markup is shown literally, and control
characters, ANSI/OSC escape sequences and bidi overrides are shown escaped, in the live viewer (every
pane and screen), in `tracetui show`, and in `tui.sanitize` itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from _pilot import (
    app_of,
    append,
    now_ns,
    run_app,
    screen_segments,
    screen_text,
    show_tab,
    span_end,
    span_start,
    text_of,
    trace_id_of,
    tree_labels,
    wait_for,
)
from rich.console import Console
from rich.text import Text
from textual.widgets import TextArea
from typer.testing import CliRunner

import cli
from tracer import schema
from tui.sanitize import clean_block, clean_line, safe_text
from tui.screens import ValueScreen
from tui.widgets.span_detail import SpanDetail
from tui.widgets.span_tree import SpanTree
from tui.widgets.status_bar import StatusBar
from tui.widgets.trace_list import TraceList

# (raw text as it may appear in a trace file, what the reader must see instead)
PAYLOADS: dict[str, tuple[str, str]] = {
    "markup": ("[bold red]x[/]", "[bold red]x[/]"),
    "link_markup": ("[link=https://evil]click[/link]", "[link=https://evil]click[/link]"),
    "osc52": ("\x1b]52;c;aGVsbG8=\x07", "\\x1b]52;c;aGVsbG8=\\x07"),
    "clear_screen": ("\x1b[2J", "\\x1b[2J"),
    "osc8_link": ("\x1b]8;;https://evil\x07link\x1b]8;;\x07", "\\x1b]8;;https://evil\\x07link\\x1b]8;;\\x07"),
    "bidi": ("abc\u202edef", "abc\\u202edef"),
}

# The same strings inside a JSON value (inputs dict): JSON escapes for C0 controls, the rest as above.
JSON_SHOWN: dict[str, str] = {
    "markup": '"[bold red]x[/]"',
    "link_markup": '"[link=https://evil]click[/link]"',
    "osc52": '"\\u001b]52;c;aGVsbG8=\\u0007"',
    "clear_screen": '"\\u001b[2J"',
    "osc8_link": '"\\u001b]8;;https://evil\\u0007link\\u001b]8;;\\u0007"',
    "bidi": '"abc\\u202edef"',
}

# Anything a terminal could act on: C0 and C1 controls, DEL, bidi embeddings/overrides/isolates.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def assert_screen_inert(app: Any) -> None:
    """No segment on screen carries a control character or a hyperlink that came from the data."""
    for segment in screen_segments(app):
        assert not UNSAFE.search(segment.text), f"raw control character on screen: {segment.text!r}"
        style = segment.style
        assert style is None or not style.link, f"hyperlink on screen: {style.link!r} ({segment.text!r})"


def hostile_trace(path: Path, number: int, raw: str) -> str:
    """A trace whose every user-controlled string is `raw`: names, type, values, keys, tags, events,
    status message and exception. Returns its trace id."""
    tid = trace_id_of(number)
    root, child = f"{number:08x}aaaaaaaa", f"{number:08x}bbbbbbbb"
    t0 = now_ns() - number * 1_000_000
    stack = (
        "Traceback (most recent call last):\n"
        f'  File "/src/{raw}.py", line 7, in {raw}\n'
        f"    call({raw!r})\n"
        f"ValueError: {raw}\n"
    )
    append(
        path,
        span_start(tid, root, raw, t0, inputs=raw, attributes={raw: raw}),
        span_start(tid, child, raw, t0 + 10, parent_id=root, span_type=raw, inputs={raw: [raw]}),
        schema.encode_span_event(
            tid, child, schema.CHUNK_EVENT_PREFIX + "0", t0 + 20, {schema.CHUNK_VALUE: raw}
        ),
        schema.encode_span_event(tid, child, raw, t0 + 25, {raw: raw}),
        schema.encode_span_event(
            tid,
            child,
            schema.EXCEPTION_EVENT,
            t0 + 30,
            {
                schema.EXCEPTION_TYPE: "ValueError",
                schema.EXCEPTION_MESSAGE: raw,
                schema.EXCEPTION_STACKTRACE: stack,
            },
        ),
        span_end(tid, child, t0 + 40, status=schema.STATUS_ERROR, message=raw, outputs=raw),
        schema.encode_trace_update(tid, {schema.TAGS: {raw: raw}, schema.RESPONSE_PREVIEW: raw}),
        span_end(tid, root, t0 + 50, outputs={"out": raw}),
    )
    return tid


# -- the live viewer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(PAYLOADS))
async def test_hostile_strings_render_inert_in_every_pane(tmp_path: Path, kind: str):
    """Markup and escape sequences in names, values, tags, events and exceptions are shown literally in
    the list, tree and every detail tab, and never reach the terminal as markup or escapes."""
    raw, visible = PAYLOADS[kind]
    tid = hostile_trace(tmp_path / "evil.jsonl", 1, raw)
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        tree = app.query_one(SpanTree)
        detail = app.query_one(SpanDetail)
        await wait_for(pilot, lambda: tree.trace_id == tid and len(tree_labels(tree)) == 2)
        await wait_for(pilot, lambda: detail.span is not None and detail.span.parent_id is None)
        # List: the name column is narrow, so the start of the name; the tree: the whole name.
        assert visible[:18] in text_of(app, app.query_one(TraceList))
        root_label, child_label = tree_labels(tree)  # names deduplicated: raw_1 (root), raw_2 (child)
        assert f"{visible}_1" in root_label, root_label
        assert visible[:30] in child_label, child_label
        assert visible in text_of(app, tree)
        assert_screen_inert(app)
        # The root span: string inputs, attributes {raw: raw}.
        assert visible in text_of(app, detail)
        await show_tab(pilot, detail, "attributes")
        # Key and value side by side (the longest payload only fits once: the table scrolls sideways).
        per_row = 2 if 2 * len(visible) + 6 < detail.size.width else 1
        await wait_for(
            pilot,
            lambda: any(line.count(visible) == per_row for line in text_of(app, detail).splitlines()),
            what=f"an attribute row with {visible!r} as key and value",
        )
        assert_screen_inert(app)
        # The child span: JSON inputs, string outputs, a chunk and a custom event, an exception.
        tree.select_span(tree.span_ids_in_order()[1])
        await wait_for(pilot, lambda: detail.span is not None and detail.span.parent_id is not None)
        expected = {
            "inputs": JSON_SHOWN[kind],
            "outputs": visible,
            "events": visible,
            "exception": visible,
        }
        for tab, shown in expected.items():
            await show_tab(pilot, detail, tab)
            await wait_for(pilot, lambda: shown in text_of(app, detail), what=f"{tab} shows {shown!r}")  # noqa: B023
            assert_screen_inert(app)
        exception_lines = text_of(app, detail).splitlines()
        assert any(line.strip().startswith("ValueError:") and visible in line for line in exception_lines)
        assert any(f"/src/{visible}.py:7" in line for line in exception_lines)


async def test_hostile_attribute_rows_render_inert(tmp_path: Path):
    """Attribute keys and values with markup and escapes appear literally in the Attributes table."""
    tid = trace_id_of(2)
    attributes = {
        "markup": "[bold red]x[/]",
        "osc": "\x1b]52;c;aGVsbG8=\x07",
        "[link=https://evil]k[/link]": 1,
    }
    append(
        tmp_path / "a.jsonl",
        span_start(tid, "c" * 16, "attrs", now_ns(), attributes=attributes),
        span_end(tid, "c" * 16, now_ns()),
    )
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        detail = app.query_one(SpanDetail)
        await wait_for(pilot, lambda: detail.span is not None)
        await show_tab(pilot, detail, "attributes")
        await wait_for(pilot, lambda: "markup" in text_of(app, detail))
        rows = text_of(app, detail).splitlines()
        assert any("markup" in row and "[bold red]x[/]" in row for row in rows)
        assert any("osc" in row and "\\x1b]52;c;aGVsbG8=\\x07" in row for row in rows)
        assert any("[link=https://evil]k[/link]" in row for row in rows)
        assert_screen_inert(app)


async def test_every_payload_at_once_on_screen_is_inert(tmp_path: Path):
    """With a trace per payload listed at once, the whole screen stays free of escapes and links."""
    path = tmp_path / "all.jsonl"
    for number, (raw, _) in enumerate(PAYLOADS.values(), 1):
        hostile_trace(path, number, raw)
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        await wait_for(pilot, lambda: len(trace_list.rows) == len(PAYLOADS))
        for _ in PAYLOADS:
            await pilot.press("j")
            await pilot.pause()
            assert_screen_inert(app)
        assert "[bold red]x[/]" in screen_text(app)
        assert "\\x1b[2J" in screen_text(app)
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg


async def test_o_shows_a_hostile_value_escaped(tmp_path: Path):
    """The whole-value screen shows markup literally and control characters escaped."""
    raw = "first [bold red]x[/] line\n\x1b[2J second \x1b]52;c;aGVsbG8=\x07 line\n"
    tid = trace_id_of(3)
    append(
        tmp_path / "v.jsonl",
        span_start(tid, "d" * 16, "value", now_ns(), inputs=raw),
        span_end(tid, "d" * 16, now_ns()),
    )
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: app.query_one(SpanDetail).span is not None)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ValueScreen))
        area = app.screen.query_one(TextArea)
        assert area.text == "first [bold red]x[/] line\n\\x1b[2J second \\x1b]52;c;aGVsbG8=\\x07 line\n"
        await pilot.pause()
        assert "[bold red]x[/]" in screen_text(app)
        assert_screen_inert(app)


async def test_hostile_directory_and_file_names_in_the_status_bar_are_escaped(tmp_path: Path, monkeypatch):
    """The status bar shows a directory or skipped file whose name holds escapes and markup inertly."""
    monkeypatch.chdir(tmp_path)
    directory = Path("d[bold]\x1b[2J")
    append(directory / "bad\x1b]52;c;eA==\x07.jsonl", b"not json\n")
    async with run_app(directory) as pilot:
        app = app_of(pilot)
        bar = app.query_one(StatusBar)
        await wait_for(pilot, lambda: "1 skipped" in text_of(app, bar))
        shown = text_of(app, bar)
        assert shown.lstrip().startswith("d[bold]\\x1b[2J │")
        assert "bad\\x1b]52;c;eA==\\x07.jsonl:1" in shown
        assert_screen_inert(app)


# -- tracetui show ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_show_prints_hostile_strings_inert(tmp_path: Path, kind: str):
    """`tracetui show` prints markup literally and escape sequences escaped, with no raw ESC or BEL."""
    raw, visible = PAYLOADS[kind]
    tid = hostile_trace(tmp_path / "evil.jsonl", 1, raw)
    result = CliRunner().invoke(cli.app, ["show", tid, "--dir", str(tmp_path)], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert not UNSAFE.search(result.stdout.replace("\n", "")), repr(result.stdout)
    assert visible in result.stdout


def test_show_with_color_forced_sends_only_style_escapes(tmp_path: Path, monkeypatch):
    """Even on a colour terminal, `show` emits only SGR colour codes, never the data's own escapes."""
    from tui import render

    raw = "\x1b]52;c;aGVsbG8=\x07\x1b[2J[link=https://evil]x[/link]"
    tid = hostile_trace(tmp_path / "evil.jsonl", 1, raw)
    consoles: list[Console] = []
    original = render.make_console

    def colour_console() -> Console:
        console = original()
        console._force_terminal = True
        console._color_system = Console(force_terminal=True, color_system="truecolor")._color_system
        consoles.append(console)
        return console

    monkeypatch.setattr(render, "make_console", colour_console)
    result = CliRunner().invoke(cli.app, ["show", tid, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert consoles and consoles[0].is_terminal
    without_sgr = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert "\x1b[" in result.stdout  # colours were on
    assert not UNSAFE.search(without_sgr.replace("\n", "")), repr(without_sgr)
    assert "\\x1b]52;c;aGVsbG8=\\x07\\x1b[2J[link=https://evil]x[/link]" in without_sgr
    assert "\x1b]8;" not in result.stdout


# -- tui.sanitize -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "visible"), list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_clean_line_escapes_controls_and_keeps_markup_text(raw: str, visible: str):
    """clean_line turns every control character into a visible escape and leaves markup characters."""
    assert clean_line(raw) == visible


def test_clean_line_escapes_newlines_tabs_and_c1_controls():
    """clean_line keeps text on one line: newline, tab, CR, NUL, DEL and C1 (e.g. CSI \\x9b) escaped."""
    assert clean_line("a\nb\tc\rd\x00e\x7ff\x9bg") == "a\\nb\\tc\\rd\\x00e\\x7ff\\x9bg"
    assert clean_line("\u2066iso\u2069 \u200f") == "\\u2066iso\\u2069 \\u200f"
    assert clean_line("plain ünïcødé ✓ 漢字") == "plain ünïcødé ✓ 漢字"


def test_clean_block_keeps_newlines_and_tabs_but_escapes_the_rest():
    """clean_block keeps newline and tab (multi-line values stay readable) and escapes other controls."""
    assert clean_block("line 1\n\tline 2\x1b[31m\r\n") == "line 1\n\tline 2\\x1b[31m\\r\n"
    assert clean_block("\u202e") == "\\u202e"


def test_clean_functions_accept_non_strings():
    """Non-string values are converted with str() first."""
    assert clean_line(12) == "12"
    assert clean_block(None) == "None"


def test_safe_text_is_never_markup():
    """safe_text returns a Text whose plain text is the cleaned string and that carries no markup spans."""
    text = safe_text("[bold red]x[/] \x1b[2J", "italic")
    assert isinstance(text, Text)
    assert text.plain == "[bold red]x[/] \\x1b[2J"
    assert text.spans == []
    assert str(text.style) == "italic"
    multi = safe_text("a\nb\x07", multiline=True)
    assert multi.plain == "a\nb\\x07"
    assert safe_text("a\nb").plain == "a\\nb"


def test_safe_text_renders_without_escapes_or_links():
    """Rendering safe_text through a colour console yields the literal text, no link, no data escapes."""
    console = Console(force_terminal=True, color_system="truecolor", width=200, file=None)
    for raw, visible in PAYLOADS.values():
        segments = list(console.render(safe_text(raw, "bold")))
        plain = "".join(segment.text for segment in segments).rstrip("\n")
        assert plain == visible
        assert all(segment.style is None or not segment.style.link for segment in segments)

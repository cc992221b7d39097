"""The viewer's keys, pressed through Textual's pilot: moving between traces and panes, collapsing the
span tree, filtering, jumping between errors, copying, the help and full-value screens, and quitting."""

from __future__ import annotations

from pathlib import Path

from _pilot import (
    app_of,
    append,
    now_ns,
    run_app,
    settle,
    simple_trace,
    span_end,
    span_start,
    text_of,
    trace_id_of,
    visible_labels,
    wait_for,
    widget_lines,
)
from textual.widgets import DataTable, Input, TextArea

from tracer import schema
from tui.app import TraceApp
from tui.screens import HelpScreen, ValueScreen
from tui.widgets.span_detail import MAX_DISPLAY_CHARS, SpanDetail
from tui.widgets.span_tree import SpanTree
from tui.widgets.status_bar import StatusBar
from tui.widgets.trace_list import TraceList

T0 = now_ns() - 60_000_000_000


def nested_trace(path: Path) -> str:
    """root → (parent_a → leaf_a1, leaf_a2), (parent_b → leaf_b1); returns the trace id."""
    tid = trace_id_of(0xA1)
    spans = [
        ("root", None),
        ("parent_a", "root"),
        ("leaf_a1", "parent_a"),
        ("leaf_a2", "parent_a"),
        ("parent_b", "root"),
        ("leaf_b1", "parent_b"),
    ]
    lines = []
    for index, (name, parent) in enumerate(spans):
        lines.append(
            span_start(
                tid,
                name.ljust(16, "0"),
                name,
                T0 + index * 1000,
                parent_id=parent.ljust(16, "0") if parent else None,
            )
        )
    for index, (name, _) in enumerate(reversed(spans)):
        lines.append(span_end(tid, name.ljust(16, "0"), T0 + 10_000 + index * 1000))
    append(path, *lines)
    return tid


def sid(name: str) -> str:
    return name.ljust(16, "0")


def shown_names(tree: SpanTree) -> list[str]:
    return [label.split()[1] for label in visible_labels(tree)]


async def focus_tree(pilot) -> SpanTree:
    app = app_of(pilot)
    tree = app.query_one(SpanTree)
    await wait_for(pilot, lambda: tree.highlighted_span_id is not None, what="a span highlighted")
    tree.focus()
    await pilot.pause()
    return tree


# -- moving around ---------------------------------------------------------------------------------------


async def test_j_k_move_between_traces_and_the_tree_follows(tmp_path: Path):
    """j/k (and down/up) move the trace cursor, and the span tree shows the highlighted trace."""
    path = tmp_path / "t.jsonl"
    for number in (1, 2, 3):
        append(path, *simple_trace(trace_id_of(number), f"trace_{number}", T0 + number * 1_000_000))
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        tree = app.query_one(SpanTree)
        await wait_for(pilot, lambda: len(trace_list.rows) == 3)
        assert trace_list.highlighted_trace_id == trace_id_of(3)
        await pilot.press("j", "down")
        await wait_for(pilot, lambda: tree.trace_id == trace_id_of(1))
        await pilot.press("k")
        await wait_for(pilot, lambda: tree.trace_id == trace_id_of(2))
        await pilot.press("up")
        await wait_for(pilot, lambda: tree.trace_id == trace_id_of(3))


async def test_tab_moves_focus_from_the_list_to_the_tree_to_the_details(tmp_path: Path):
    """tab moves focus list → span tree → detail tabs."""
    nested_trace(tmp_path / "t.jsonl")
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: app.query_one(SpanTree).highlighted_span_id is not None)
        assert isinstance(app.focused, TraceList)
        await pilot.press("tab")
        assert isinstance(app.focused, SpanTree)
        await pilot.press("tab")
        detail = app.query_one(SpanDetail)
        assert app.focused is not None and detail in app.focused.ancestors


# -- collapsing -------------------------------------------------------------------------------------------


async def test_left_collapses_and_right_expands_a_branch(tmp_path: Path):
    """left on an expanded span collapses it (then goes to the parent); right expands it again."""
    nested_trace(tmp_path / "t.jsonl")
    async with run_app(tmp_path) as pilot:
        tree = await focus_tree(pilot)
        await wait_for(pilot, lambda: len(visible_labels(tree)) == 6)
        tree.select_span(sid("parent_a"))
        await pilot.press("left")
        assert shown_names(tree) == ["root", "parent_a", "parent_b", "leaf_b1"]
        assert tree.highlighted_span_id == sid("parent_a")
        await pilot.press("left")
        assert tree.highlighted_span_id == sid("root")
        await pilot.press("down", "right")
        assert shown_names(tree) == ["root", "parent_a", "leaf_a1", "leaf_a2", "parent_b", "leaf_b1"]
        await pilot.press("right")
        assert tree.highlighted_span_id == sid("leaf_a1")


async def test_space_and_enter_toggle_a_branch(tmp_path: Path):
    """space and enter each collapse an expanded span and expand a collapsed one."""
    nested_trace(tmp_path / "t.jsonl")
    async with run_app(tmp_path) as pilot:
        tree = await focus_tree(pilot)
        await wait_for(pilot, lambda: len(visible_labels(tree)) == 6)
        tree.select_span(sid("parent_b"))
        await pilot.press("space")
        assert shown_names(tree) == ["root", "parent_a", "leaf_a1", "leaf_a2", "parent_b"]
        await pilot.press("space")
        assert len(visible_labels(tree)) == 6
        await pilot.press("enter")
        assert shown_names(tree) == ["root", "parent_a", "leaf_a1", "leaf_a2", "parent_b"]
        await pilot.press("enter")
        assert len(visible_labels(tree)) == 6


async def test_minus_collapses_all_and_plus_expands_all(tmp_path: Path):
    """- collapses every branch, + expands them all again."""
    nested_trace(tmp_path / "t.jsonl")
    async with run_app(tmp_path) as pilot:
        tree = await focus_tree(pilot)
        await wait_for(pilot, lambda: len(visible_labels(tree)) == 6)
        await pilot.press("minus")
        assert shown_names(tree) == ["root"]
        await pilot.press("plus")
        assert len(visible_labels(tree)) == 6
        tree.root.children[0].collapse()
        await pilot.press("equals_sign")
        assert len(visible_labels(tree)) == 6


async def test_collapsed_branch_stays_collapsed_while_the_trace_updates(tmp_path: Path):
    """A branch the user collapsed stays collapsed when new spans of the same trace arrive."""
    path = tmp_path / "t.jsonl"
    tid = nested_trace(path)
    async with run_app(tmp_path) as pilot:
        tree = await focus_tree(pilot)
        await wait_for(pilot, lambda: len(visible_labels(tree)) == 6)
        tree.select_span(sid("parent_a"))
        await pilot.press("left")
        append(path, span_start(tid, sid("late"), "late", T0 + 50_000, parent_id=sid("root")))
        await wait_for(pilot, lambda: "late" in shown_names(tree), what="new span shown")
        assert shown_names(tree) == ["root", "parent_a", "parent_b", "leaf_b1", "late"]
        assert tree.highlighted_span_id == sid("parent_a")


# -- filter -----------------------------------------------------------------------------------------------


async def test_slash_filter_narrows_the_list_and_escape_clears_it(tmp_path: Path):
    """/ opens a filter that keeps only matching traces (name or preview); esc clears and hides it."""
    path = tmp_path / "t.jsonl"
    append(path, *simple_trace(trace_id_of(1), "alpha_job", T0 + 1, inputs={"q": "x"}))
    append(path, *simple_trace(trace_id_of(2), "beta_job", T0 + 2, inputs={"q": "needle in preview"}))
    append(path, *simple_trace(trace_id_of(3), "gamma_job", T0 + 3))
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        await wait_for(pilot, lambda: len(trace_list.rows) == 3)
        await pilot.press("slash")
        field = app.query_one("#filter", Input)
        assert app.focused is field and field.display
        await pilot.press(*"ALPHA")
        await wait_for(pilot, lambda: [r.name for r in trace_list.rows] == ["alpha_job"])
        assert "1 of 3 traces" in text_of(app, app.query_one(StatusBar))
        field.value = ""
        await pilot.press(*"needle")
        await wait_for(pilot, lambda: [r.name for r in trace_list.rows] == ["beta_job"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(trace_list.rows) == 3, what="filter cleared")
        assert field.value == "" and not field.display
        assert isinstance(app.focused, TraceList)


async def test_filter_applies_to_traces_arriving_later(tmp_path: Path):
    """While a filter is set, newly arriving traces are shown only if they match; enter keeps it."""
    path = tmp_path / "t.jsonl"
    append(path, *simple_trace(trace_id_of(1), "keep_one", T0 + 1))
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        await wait_for(pilot, lambda: len(trace_list.rows) == 1)
        await pilot.press("slash", *"keep", "enter")
        assert isinstance(app.focused, TraceList)
        append(path, *simple_trace(trace_id_of(2), "drop_this", T0 + 2))
        append(path, *simple_trace(trace_id_of(3), "keep_two", T0 + 3))
        await wait_for(pilot, lambda: len(app.store) == 3)
        await wait_for(pilot, lambda: [r.name for r in trace_list.rows] == ["keep_two", "keep_one"])


# -- errors -----------------------------------------------------------------------------------------------


async def test_e_and_shift_e_jump_between_error_spans(tmp_path: Path):
    """e goes to the next error span (wrapping, expanding collapsed branches), E to the previous one."""
    tid = trace_id_of(0xE)
    spans = [
        ("root", None, "OK"),
        ("ok_1", "root", "OK"),
        ("err_1", "root", "ERROR"),
        ("group", "root", "OK"),
        ("err_2", "group", "ERROR"),
        ("ok_2", "root", "OK"),
    ]
    lines = [
        span_start(tid, sid(n), n, T0 + i * 10, parent_id=sid(p) if p else None)
        for i, (n, p, _) in enumerate(spans)
    ]
    lines += [
        span_end(tid, sid(n), T0 + 1000 - i, status=s, message="bad" if s == "ERROR" else "")
        for i, (n, _, s) in enumerate(spans)
    ]
    append(tmp_path / "t.jsonl", *lines)
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        tree = app.query_one(SpanTree)
        detail = app.query_one(SpanDetail)
        await wait_for(pilot, lambda: len(visible_labels(tree)) == 6)
        tree.root.children[0].children[2].collapse()  # "group": err_2 hidden
        await pilot.pause()
        await pilot.press("e")
        assert tree.highlighted_span_id == sid("err_1")
        assert app.focused is tree
        await wait_for(pilot, lambda: detail.span is not None and detail.span.span_id == sid("err_1"))
        await pilot.press("e")
        assert tree.highlighted_span_id == sid("err_2")
        assert "err_2" in shown_names(tree)
        await pilot.press("e")
        assert tree.highlighted_span_id == sid("err_1")
        await pilot.press("E")
        assert tree.highlighted_span_id == sid("err_2")
        await pilot.press("E")
        assert tree.highlighted_span_id == sid("err_1")
        assert detail.span is not None and detail.span.status == schema.STATUS_ERROR


async def test_e_without_errors_leaves_the_cursor(tmp_path: Path):
    """e in a trace without errors says so and does not move the cursor."""
    append(tmp_path / "t.jsonl", *simple_trace(trace_id_of(1), "fine", T0, children=["a", "b"]))
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        tree = await focus_tree(pilot)
        before = tree.highlighted_span_id
        await pilot.press("e")
        assert tree.highlighted_span_id == before
        assert any("no error spans" in str(n.message) for n in app._notifications)


# -- copy -------------------------------------------------------------------------------------------------


async def test_y_copies_the_trace_id_span_id_or_detail_value(tmp_path: Path):
    """y copies the trace id from the list, the span id from the tree, the shown value from the details."""
    tid = nested_trace(tmp_path / "t.jsonl")
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: app.query_one(SpanTree).highlighted_span_id == sid("root"))
        await pilot.press("y")
        assert app.clipboard == tid
        await pilot.press("tab", "down", "y")
        assert app.clipboard == sid("parent_a")
        await pilot.press("tab", "y")
        detail = app.query_one(SpanDetail)
        assert app.focused is not None and detail in app.focused.ancestors
        assert detail.current_value() is not None
        assert app.clipboard == detail.current_value()[1]


async def test_y_in_the_inputs_tab_copies_the_whole_inputs(tmp_path: Path):
    """With the detail pane focused on Inputs, y copies the span's complete inputs as JSON."""
    tid = trace_id_of(5)
    inputs = {"question": "why?", "n": 3}
    append(
        tmp_path / "t.jsonl",
        span_start(tid, sid("q"), "question", T0, inputs=inputs),
        span_end(tid, sid("q"), T0 + 10),
    )
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        detail = app.query_one(SpanDetail)
        await wait_for(pilot, lambda: detail.span is not None)
        await pilot.press("tab", "tab", "y")
        assert '"question": "why?"' in app.clipboard and '"n": 3' in app.clipboard


# -- screens ----------------------------------------------------------------------------------------------


async def test_question_mark_opens_help_listing_the_real_bindings(tmp_path: Path):
    """? opens a help screen with a row for every binding of the app, list and tree; esc closes it."""
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        table = app.screen.query_one(DataTable)
        rows = [tuple(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]
        for binding in TraceApp.BINDINGS:
            assert any(row[0] == "app" and row[2] == binding.description for row in rows), binding
        assert ("app", "/", "Filter") in rows
        assert ("app", "y", "Copy") in rows
        assert ("app", "q", "Quit") in rows
        assert ("span tree", "+, =", "Expand all") in rows
        assert any(row[0] == "trace list" and "j" in row[1] for row in rows)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
        assert app.is_running


async def test_o_opens_the_whole_value_of_a_large_input(tmp_path: Path):
    """A value too large for the detail pane is shown cut with a note; o opens the whole of it."""
    tid = trace_id_of(6)
    big = "".join(f"line {i:05d} of a long document\n" for i in range(2000))
    assert len(big) > MAX_DISPLAY_CHARS
    append(
        tmp_path / "t.jsonl",
        span_start(tid, sid("big"), "big_input", T0, inputs=big),
        span_end(tid, sid("big"), T0 + 10),
    )
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        detail = app.query_one(SpanDetail)
        await wait_for(pilot, lambda: detail.span is not None)
        await wait_for(pilot, lambda: "line 00000" in text_of(app, detail))
        detail.query_one("#inputs-body").parent.scroll_end(animate=False)
        await wait_for(pilot, lambda: "more characters" in text_of(app, detail), what="truncation note")
        assert "line 01999" not in text_of(app, detail)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ValueScreen))
        area = app.screen.query_one(TextArea)
        assert area.text == big
        assert area.read_only
        await wait_for(pilot, lambda: any("inputs" in line for line in widget_lines(app, app.screen)))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ValueScreen))


async def test_q_quits(tmp_path: Path):
    """q exits the app."""
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await settle(pilot, 0.1)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None, what="app exit")
    assert app.return_code == 0

"""The live viewer (tui.app) driven with Textual's pilot against real trace files: traces arriving while it
runs, the span tree, the detail tabs, running spans finishing, malformed lines, and the paths it watches."""

from __future__ import annotations

from pathlib import Path

from _pilot import (
    app_of,
    append,
    now_ns,
    run_app,
    screen_text,
    settle,
    show_tab,
    simple_trace,
    span_end,
    span_start,
    text_of,
    trace_id_of,
    tree_labels,
    wait_for,
    widget_lines,
)

import tracer
from tracer import schema
from tui.widgets.span_detail import SpanDetail
from tui.widgets.span_tree import SpanTree
from tui.widgets.status_bar import StatusBar
from tui.widgets.trace_list import TraceList

# -- instrumented code the SDK tests run ------------------------------------------------------------------


@tracer.trace(span_type="LLM", attributes={"model": "gpt-test", "temperature": 0.25})
def chat(prompt: str) -> str:
    return prompt.upper()


@tracer.trace(name="agent_run", span_type="AGENT")
def agent(question: str) -> str:
    chat(question)
    chat("and again")
    return "done"


@tracer.trace(span_type="LLM")
def stream_words(count: int):
    yield from ["Hel", "lo, ", "str", "eam!"][:count]


def exploding_helper(depth: int) -> None:
    raise ValueError(f"the widget exploded at depth {depth}")


@tracer.trace
def failing_step() -> None:
    exploding_helper(3)


def names(app) -> list[str]:
    return [row.name for row in app.query_one(TraceList).rows]


def joined(lines: list[str]) -> str:
    """Widget lines glued together (so text folded over several rows is found whole)."""
    return "".join(line.strip() for line in lines)


# -- traces arriving ------------------------------------------------------------------------------------


async def test_trace_appended_while_running_appears_at_the_top(tmp_path: Path):
    """A trace appended to a file while the app runs appears in the list, newest first."""
    path = tmp_path / "run.jsonl"
    append(path, *simple_trace(trace_id_of(1), "older_trace", now_ns() - 5_000_000_000))
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: names(app) == ["older_trace"], what="first trace listed")
        append(path, *simple_trace(trace_id_of(2), "newer_trace", now_ns()))
        await wait_for(pilot, lambda: names(app) == ["newer_trace", "older_trace"], what="appended trace")
        await wait_for(pilot, lambda: "newer_trace" in screen_text(app), what="newer_trace on screen")


async def test_sdk_trace_written_while_running_appears(trace_dir: Path):
    """A trace the SDK writes while the app watches its directory shows up with its span count."""
    trace_dir.mkdir(parents=True, exist_ok=True)
    async with run_app(trace_dir) as pilot:
        app = app_of(pilot)
        agent("what is up?")
        tracer.flush()
        await wait_for(pilot, lambda: names(app) == ["agent_run"], what="agent_run listed")
        assert app.query_one(TraceList).rows[0].span_count == 3
        assert app.query_one(TraceList).rows[0].status == schema.STATUS_OK


async def test_newer_trace_does_not_move_the_users_cursor(tmp_path: Path):
    """With follow off, a newer trace arriving at the top leaves the cursor on the trace the user chose."""
    path = tmp_path / "run.jsonl"
    start = now_ns() - 10_000_000_000
    append(path, *simple_trace(trace_id_of(1), "first", start))
    append(path, *simple_trace(trace_id_of(2), "second", start + 1_000_000_000, children=["step"]))
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        await wait_for(pilot, lambda: names(app) == ["second", "first"])
        await pilot.press("j")
        await wait_for(pilot, lambda: trace_list.highlighted_trace_id == trace_id_of(1))
        append(path, *simple_trace(trace_id_of(3), "third", start + 2_000_000_000))
        await wait_for(pilot, lambda: names(app) == ["third", "second", "first"])
        await settle(pilot)
        assert trace_list.highlighted_trace_id == trace_id_of(1)
        assert trace_list.cursor == 2
        assert app.query_one(SpanTree).trace_id == trace_id_of(1)


async def test_follow_moves_the_cursor_to_each_newest_trace(tmp_path: Path):
    """With follow on (`f`), each newer trace arriving becomes the highlighted one."""
    path = tmp_path / "run.jsonl"
    start = now_ns() - 10_000_000_000
    append(path, *simple_trace(trace_id_of(1), "first", start))
    append(path, *simple_trace(trace_id_of(2), "second", start + 1_000_000_000))
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        await wait_for(pilot, lambda: len(trace_list.rows) == 2)
        await pilot.press("j")
        await wait_for(pilot, lambda: trace_list.highlighted_trace_id == trace_id_of(1))
        await pilot.press("f")
        await wait_for(
            pilot, lambda: trace_list.highlighted_trace_id == trace_id_of(2), what="jump to newest"
        )
        await wait_for(pilot, lambda: "follow" in text_of(app, app.query_one(StatusBar)))
        append(path, *simple_trace(trace_id_of(3), "third", start + 2_000_000_000, children=["x"]))
        await wait_for(pilot, lambda: trace_list.highlighted_trace_id == trace_id_of(3), what="follow newest")
        await wait_for(pilot, lambda: app.query_one(SpanTree).trace_id == trace_id_of(3))


# -- the span tree ----------------------------------------------------------------------------------------


async def test_selected_trace_shows_its_span_tree_with_deduplicated_names(trace_dir: Path):
    """Selecting a trace shows its spans as a tree; repeated names read chat_1, chat_2."""
    agent("hi")
    with tracer.start_span("lonely_trace"):
        pass
    tracer.flush()
    async with run_app(trace_dir) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        tree = app.query_one(SpanTree)
        await wait_for(pilot, lambda: len(trace_list.rows) == 2)
        # The newest trace (lonely_trace) is highlighted first; move to the agent run.
        await wait_for(pilot, lambda: any("lonely_trace" in label for label in tree_labels(tree)))
        await pilot.press("j")
        await wait_for(pilot, lambda: any("agent_run" in label for label in tree_labels(tree)))
        labels = tree_labels(tree)
        assert len(labels) == 3
        assert "agent_run" in labels[0] and "AGENT" in labels[0]
        assert "chat_1" in labels[1] and "LLM" in labels[1]
        assert "chat_2" in labels[2]
        root = tree.root.children[0]
        assert [child.label.plain for child in root.children] == labels[1:]
        screen = screen_text(app)
        assert "chat_1" in screen and "chat_2" in screen


async def test_error_span_and_its_ancestors_are_marked(trace_dir: Path):
    """A failed span is marked ✗ and the spans above it show that a descendant failed."""

    @tracer.trace(name="outer")
    def outer() -> None:
        try:
            failing_step()
        except ValueError:
            pass

    outer()
    tracer.flush()
    async with run_app(trace_dir) as pilot:
        tree = app_of(pilot).query_one(SpanTree)
        await wait_for(pilot, lambda: len(tree_labels(tree)) == 2)
        outer_label, failed_label = tree_labels(tree)
        assert failed_label.lstrip().startswith("✗") and "failing_step" in failed_label
        assert outer_label.lstrip().startswith("!") and "outer" in outer_label


# -- the detail tabs --------------------------------------------------------------------------------------


async def _select_span(pilot, name: str) -> None:
    """Highlight the (first) span whose label contains `name`, in the trace already shown."""
    app = app_of(pilot)
    tree = app.query_one(SpanTree)
    await wait_for(pilot, lambda: any(name in label for label in tree_labels(tree)), what=f"span {name}")
    order = tree.span_ids_in_order()
    labels = tree_labels(tree)
    span_id = next(sid for sid, label in zip(order, labels, strict=True) if name in label)
    tree.select_span(span_id)
    detail = app.query_one(SpanDetail)
    await wait_for(pilot, lambda: detail.span is not None and detail.span.span_id == span_id)


async def test_inputs_tab_shows_the_inputs_as_json(trace_dir: Path):
    """The Inputs tab of a span shows its inputs as pretty JSON."""
    chat("tell me about otters")
    tracer.flush()
    async with run_app(trace_dir) as pilot:
        app = app_of(pilot)
        await _select_span(pilot, "chat")
        detail = app.query_one(SpanDetail)
        assert detail.active == "inputs"
        await wait_for(pilot, lambda: '"prompt": "tell me about otters"' in text_of(app, detail))
        await show_tab(pilot, detail, "outputs")
        await wait_for(pilot, lambda: "TELL ME ABOUT OTTERS" in text_of(app, detail))


async def test_attributes_tab_shows_keys_and_values(trace_dir: Path):
    """The Attributes tab lists each attribute as a key/value row."""
    chat("x")
    tracer.flush()
    async with run_app(trace_dir) as pilot:
        app = app_of(pilot)
        await _select_span(pilot, "chat")
        detail = app.query_one(SpanDetail)
        await show_tab(pilot, detail, "attributes")

        def rows() -> list[str]:
            return widget_lines(app, detail)

        await wait_for(pilot, lambda: any("model" in r and "gpt-test" in r for r in rows()), what="model row")
        assert any("temperature" in r and "0.25" in r for r in rows())


async def test_events_tab_shows_chunks_and_the_streamed_text(trace_dir: Path):
    """A traced generator's chunks are listed in the Events tab, and joined into the streamed text."""

    @tracer.trace(name="stream_holder")
    def holder() -> str:
        return "".join(stream_words(4))

    holder()
    tracer.flush()
    async with run_app(trace_dir) as pilot:
        app = app_of(pilot)
        await _select_span(pilot, "stream_words")
        detail = app.query_one(SpanDetail)
        await show_tab(pilot, detail, "events")
        await wait_for(pilot, lambda: "4 stream chunks" in text_of(app, detail))
        lines = widget_lines(app, detail)
        text = "\n".join(lines)
        assert "Hello, stream!" in text
        chunk_rows = [line for line in lines if schema.CHUNK_EVENT_PREFIX in line]
        assert len(chunk_rows) == 4
        assert "Hel" in chunk_rows[0] and "eam!" in chunk_rows[3]
        assert detail.current_value() == ("stream", "Hello, stream!")


async def test_exception_tab_shows_the_traceback_with_the_users_frames(trace_dir: Path):
    """The Exception tab shows the error and a readable traceback naming the user's function and file."""
    try:
        failing_step()
    except ValueError:
        pass
    tracer.flush()
    async with run_app(trace_dir) as pilot:
        app = app_of(pilot)
        await _select_span(pilot, "failing_step")
        detail = app.query_one(SpanDetail)
        await show_tab(pilot, detail, "exception")
        await wait_for(pilot, lambda: "ValueError" in text_of(app, detail))
        text = joined(widget_lines(app, detail))
        assert "the widget exploded at depth 3" in text
        assert "exploding_helper" in text
        assert "failing_step" in text
        assert "test_app_live.py" in text
        assert 'raiseValueError(f"thewidgetexplodedatdepth{depth}")' in text.replace(" ", "")


# -- running spans ----------------------------------------------------------------------------------------


async def test_sdk_span_held_open_shows_running_then_finished(trace_dir: Path):
    """A span the SDK has started but not ended shows as running; when it ends it shows as finished."""
    async with run_app(trace_dir) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        tree = app.query_one(SpanTree)
        with tracer.start_span("long_job") as span:
            span.set_inputs({"n": 1})
            tracer.flush()
            await wait_for(pilot, lambda: [r.name for r in trace_list.rows] == ["long_job"])
            assert trace_list.rows[0].status == schema.TRACE_IN_PROGRESS
            await wait_for(pilot, lambda: tree_labels(tree) and tree_labels(tree)[0].lstrip().startswith("●"))
            assert "…" in tree_labels(tree)[0]
            await settle(pilot, 0.2)
            assert trace_list.rows[0].status == schema.TRACE_IN_PROGRESS
        tracer.flush()
        await wait_for(pilot, lambda: trace_list.rows[0].status == schema.STATUS_OK, what="trace finished")
        await wait_for(pilot, lambda: tree_labels(tree)[0].lstrip().startswith("✓"), what="span finished")


async def test_hand_written_span_start_turns_finished_when_its_end_arrives(tmp_path: Path):
    """span_start records alone show running spans; the matching span_end records finish them live."""
    path = tmp_path / "live.jsonl"
    tid = trace_id_of(7)
    t0 = now_ns()
    append(
        path,
        span_start(tid, "a" * 16, "pipeline", t0, span_type="CHAIN"),
        span_start(tid, "b" * 16, "extract", t0 + 1000, parent_id="a" * 16),
    )
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        trace_list = app.query_one(TraceList)
        tree = app.query_one(SpanTree)
        detail = app.query_one(SpanDetail)
        await wait_for(pilot, lambda: len(tree_labels(tree)) == 2)
        assert all(label.lstrip().startswith("●") for label in tree_labels(tree))
        assert trace_list.rows[0].status == schema.TRACE_IN_PROGRESS
        await show_tab(pilot, detail, "outputs")
        await wait_for(pilot, lambda: "(running)" in text_of(app, detail), what="outputs (running)")
        append(path, span_end(tid, "b" * 16, t0 + 5000))
        await wait_for(pilot, lambda: tree_labels(tree)[1].lstrip().startswith("✓"), what="child finished")
        assert tree_labels(tree)[0].lstrip().startswith("●")
        append(path, span_start(tid, "c" * 16, "load", t0 + 6000, parent_id="a" * 16))
        await wait_for(pilot, lambda: len(tree_labels(tree)) == 3, what="new child appears live")
        append(path, span_end(tid, "c" * 16, t0 + 7000), span_end(tid, "a" * 16, t0 + 9000, outputs="ok"))
        await wait_for(pilot, lambda: trace_list.rows[0].status == schema.STATUS_OK, what="trace finished")
        await wait_for(pilot, lambda: all(lb.lstrip().startswith("✓") for lb in tree_labels(tree)))
        await wait_for(
            pilot, lambda: "(running)" not in text_of(app, detail) and "ok" in text_of(app, detail)
        )


# -- malformed input --------------------------------------------------------------------------------------


async def test_malformed_lines_are_counted_and_skipped(tmp_path: Path):
    """Garbage, truncated JSON and unknown record kinds are skipped, counted in the status bar, and the
    good traces around them still show."""
    path = tmp_path / "mixed.jsonl"
    good = simple_trace(trace_id_of(1), "good_trace", now_ns())
    append(
        path,
        good[0],
        b"this is not json at all\n",
        b'{"kind":"span_start","trace_id":"00000000000000000000000000000001","span_i\n',
        b'{"kind":"from_the_future","trace_id":"00000000000000000000000000000001"}\n',
        *good[1:],
    )
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: names(app) == ["good_trace"])
        await wait_for(pilot, lambda: app.store.lines_skipped == 3)
        status = text_of(app, app.query_one(StatusBar))
        assert "3 skipped" in status
        assert "mixed.jsonl:2" in status
        assert app.query_one(TraceList).rows[0].status == schema.STATUS_OK
        append(path, b"\x00\xff more garbage\n")
        await wait_for(pilot, lambda: "4 skipped" in text_of(app, app.query_one(StatusBar)))
        assert names(app) == ["good_trace"]


async def test_half_written_line_waits_for_its_newline(tmp_path: Path):
    """A record written in two parts is neither skipped nor shown until its newline arrives."""
    path = tmp_path / "slow.jsonl"
    line = span_start(trace_id_of(4), "d" * 16, "slow_writer", now_ns())
    append(path, line[:25])
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: app.watch_state == "watching")
        await settle(pilot, 0.3)
        assert names(app) == [] and app.store.lines_skipped == 0
        append(path, line[25:])
        await wait_for(pilot, lambda: names(app) == ["slow_writer"])
        assert app.store.lines_skipped == 0


# -- what is watched --------------------------------------------------------------------------------------


async def test_directory_that_does_not_exist_yet_is_waited_for(tmp_path: Path):
    """Watching a directory that does not exist is not an error: its traces appear once it is created."""
    later = tmp_path / "not" / "yet"
    async with run_app(later) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: "waiting" in app.watch_state, what="waiting state")
        await wait_for(pilot, lambda: "waiting" in text_of(app, app.query_one(StatusBar)))
        assert app.is_running
        append(later / "run.jsonl", *simple_trace(trace_id_of(1), "late_arrival", now_ns()))
        await wait_for(pilot, lambda: names(app) == ["late_arrival"], timeout=5.0)
        await wait_for(pilot, lambda: app.watch_state == "watching")


async def test_watching_a_single_file_shows_only_that_file(tmp_path: Path):
    """Given a file path, the app follows that file (appends included) and ignores its neighbours."""
    watched = tmp_path / "watched.jsonl"
    other = tmp_path / "other.jsonl"
    append(watched, *simple_trace(trace_id_of(1), "in_watched", now_ns() - 1_000_000))
    append(other, *simple_trace(trace_id_of(2), "in_other", now_ns()))
    async with run_app(watched) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: names(app) == ["in_watched"])
        append(watched, *simple_trace(trace_id_of(3), "appended_to_watched", now_ns()))
        append(other, *simple_trace(trace_id_of(4), "appended_to_other", now_ns()))
        await wait_for(pilot, lambda: names(app) == ["appended_to_watched", "in_watched"])
        await settle(pilot)
        assert names(app) == ["appended_to_watched", "in_watched"]


async def test_file_truncated_while_tailed_is_read_again(tmp_path: Path):
    """A file truncated and rewritten while the app tails it is read again from its start."""
    path = tmp_path / "rewritten.jsonl"
    append(path, *simple_trace(trace_id_of(1), "before_truncation", now_ns() - 1_000_000, children="abcdef"))
    async with run_app(tmp_path) as pilot:
        app = app_of(pilot)
        await wait_for(pilot, lambda: names(app) == ["before_truncation"])
        read_before = app.store.lines_read
        shorter = simple_trace(trace_id_of(2), "after", now_ns())
        assert len(b"".join(shorter)) < path.stat().st_size
        with open(path, "r+b") as handle:
            handle.truncate(0)
            handle.write(b"".join(shorter))
        await wait_for(pilot, lambda: "after" in names(app), what="rewritten file's trace")
        assert app.store.lines_read == read_before + len(shorter)
        assert app.store.lines_skipped == 0

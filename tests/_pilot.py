"""Helpers for the pilot tests of the viewer: waiting on the live app, reading its screen, and writing
trace records by hand.

Data reaches the app through a watcher thread and a 0.1 s refresh timer, so a test never asserts right
after writing: it waits (`wait_for`) until the app shows what it should, or fails saying what it waited on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from rich.segment import Segment
from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import TabPane, Tree

from tracer import schema
from tui.app import TraceApp, make_app

SIZE = (140, 45)


@contextlib.asynccontextmanager
async def run_app(path: Path, *, poll: bool = False, follow: bool = False) -> AsyncIterator[Pilot[Any]]:
    """`make_app(path).run_test(size=SIZE)`, stopping the watcher thread however the test ends (a
    crashed app would otherwise leave it running and hang the interpreter at exit)."""
    app = make_app(path, poll=poll, follow=follow)
    try:
        async with app.run_test(size=SIZE) as pilot:
            yield pilot
    finally:
        app.watcher.stop()


def app_of(pilot: Pilot[Any]) -> TraceApp:
    app = pilot.app
    assert isinstance(app, TraceApp)
    return app


async def wait_for(
    pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 5.0, what: str = ""
) -> None:
    """Let the app run until `predicate()` is true; fail after `timeout` seconds naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (LookupError, AttributeError):
            pass  # e.g. a widget or row not there yet
        if time.monotonic() > deadline:
            label = what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for: {label}")
        await pilot.pause(0.05)


async def settle(pilot: Pilot[Any], seconds: float = 0.3) -> None:
    """Let a few refresh ticks pass (for asserting that something did *not* happen)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await pilot.pause(0.05)
    await asyncio.sleep(0)


async def show_tab(pilot: Pilot[Any], detail: Widget, tab: str) -> None:
    """Switch the span detail to `tab` and wait until that pane (and only it) is on screen."""
    detail.active = tab  # type: ignore[attr-defined]

    def shown() -> bool:
        panes = list(detail.query(TabPane))
        return all((pane.id == tab) == (pane.region.area > 0) for pane in panes)

    await wait_for(pilot, shown, what=f"the {tab} tab on screen")
    await pilot.pause()


def screen_segments(app: App[Any]) -> list[Segment]:
    """Every segment the current screen would send to the terminal (text and style)."""
    strips = app.screen._compositor.render_strips()
    return [segment for strip in strips for segment in strip]


def screen_text(app: App[Any]) -> str:
    """The current screen as plain text, one line per terminal row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def widget_lines(app: App[Any], widget: Widget) -> list[str]:
    """The screen rows covered by `widget`, cropped to it, as plain text."""
    region = widget.region
    strips = app.screen._compositor.render_strips()
    return [strip.crop(region.x, region.right).text for strip in strips[region.y : region.bottom]]


def text_of(app: App[Any], widget: Widget) -> str:
    """What `widget` shows on screen now, as plain text (rows joined by newlines)."""
    return "\n".join(widget_lines(app, widget))


def tree_labels(tree: Tree[Any]) -> list[str]:
    """The plain labels of every node of `tree` (collapsed branches too), depth first."""
    labels: list[str] = []

    def walk(node: Any) -> None:
        for child in node.children:
            labels.append(child.label.plain)
            walk(child)

    walk(tree.root)
    return labels


def visible_labels(tree: Tree[Any]) -> list[str]:
    """The labels of the nodes currently shown (inside expanded branches), top to bottom."""
    labels = []
    line = 0
    while (node := tree.get_node_at_line(line)) is not None:
        labels.append(node.label.plain)
        line += 1
    return labels


def append(path: Path, *lines: bytes) -> None:
    """Append raw lines (each already ending in a newline) to `path`, creating it if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(b"".join(lines))


def now_ns() -> int:
    return time.time_ns()


def span_start(
    trace_id: str,
    span_id: str,
    name: str,
    start_ns: int,
    *,
    parent_id: str | None = None,
    span_type: str = "UNKNOWN",
    inputs: Any = None,
    attributes: Any = None,
) -> bytes:
    return schema.encode_span_start(
        trace_id, span_id, parent_id, name, span_type, start_ns, inputs, attributes or {}, None
    )


def span_end(
    trace_id: str,
    span_id: str,
    end_ns: int,
    *,
    status: str = schema.STATUS_OK,
    message: str = "",
    outputs: Any = None,
    attributes: Any = None,
) -> bytes:
    return schema.encode_span_end(trace_id, span_id, end_ns, status, message, outputs, attributes or {})


def simple_trace(
    trace_id: str,
    name: str,
    start_ns: int,
    *,
    children: Iterable[str] = (),
    inputs: Any = None,
    outputs: Any = None,
) -> list[bytes]:
    """Records of a finished trace: a root span `name` with one finished child per name in `children`."""
    root = trace_id[:8] + "00000000"
    lines = [span_start(trace_id, root, name, start_ns, inputs=inputs)]
    at = start_ns
    for index, child in enumerate(children, 1):
        span_id = f"{trace_id[:8]}{index:08x}"
        lines.append(span_start(trace_id, span_id, child, at + 1_000, parent_id=root))
        lines.append(span_end(trace_id, span_id, at + 2_000))
        at += 2_000
    lines.append(span_end(trace_id, root, at + 1_000, outputs=outputs))
    return lines


def trace_id_of(number: int) -> str:
    return f"{number:032x}"

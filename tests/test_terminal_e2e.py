"""End to end in a real terminal: `tracetui watch` runs inside tmux, an instrumented program runs in
another process, and the program's trace shows up on the terminal screen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")

PROGRAM = """
import sys
import tracer

@tracer.trace(span_type="TOOL")
def lookup(key):
    return key.upper()

@tracer.trace(name=sys.argv[1], span_type="AGENT")
def main(question):
    return lookup(question)

main("where are the otters?")
"""


class Tmux:
    """One tmux server on a private socket, so tests never touch the user's sessions."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.socket = f"tracetui-test-{tag}"
        self.session = f"watch-{tag}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, check=check, timeout=10
        )

    def start(self, command: list[str], env: dict[str, str]) -> None:
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        # COLUMNS/LINES (set in some test runners) would override the pane's real size.
        shell = f"cd {shlex.quote(str(ROOT))} && exec env -u COLUMNS -u LINES {exports} {shlex.join(command)}"
        self.run("new-session", "-d", "-s", self.session, "-x", "160", "-y", "45", shell)

    def screen(self) -> str:
        result = self.run("capture-pane", "-p", "-t", self.session, check=False)
        return result.stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session, check=False).returncode == 0

    def kill(self) -> None:
        self.run("kill-server", check=False)
        # The server leaves its socket behind when its last session ended on its own (q).
        directory = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (directory / self.socket).unlink(missing_ok=True)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    terminal = Tmux()
    try:
        yield terminal
    finally:
        terminal.kill()


def wait_for_screen(tmux: Tmux, predicate, timeout: float, what: str) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux.screen()
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; screen was:\n{screen}")


def test_watch_in_a_terminal_shows_a_trace_written_by_another_process(tmp_path: Path, tmux: Tmux):
    """`tracetui watch DIR` in tmux shows the root name of a trace another process writes; q quits."""
    traces = tmp_path / "traces"  # does not exist yet: the viewer waits for it
    env = {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    tmux.start([sys.executable, "-m", "cli", "watch", str(traces)], env)
    wait_for_screen(tmux, lambda s: "traces" in s and "Quit" in s, 15, "the viewer to start")

    marker = f"otter_e2e_{uuid.uuid4().hex[:6]}"
    program = tmp_path / "instrumented.py"
    program.write_text(PROGRAM)
    result = subprocess.run(
        [sys.executable, str(program), marker],
        env={**os.environ, "TRACETUI_DIR": str(traces), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert list(traces.glob("*.jsonl")), "the program wrote no trace file"

    screen = wait_for_screen(tmux, lambda s: marker in s, 15, f"{marker!r} on screen")
    # The newest (only) trace is selected: its span tree shows the child span too.
    screen = wait_for_screen(tmux, lambda s: "lookup" in s, 5, "the child span in the tree")
    assert "1 traces" in screen, screen

    tmux.run("send-keys", "-t", tmux.session, "q")
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), "q did not quit the viewer"

"""The SDK and the pure reader stay light: importing them never loads the viewer's dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("textual", "rich", "watchfiles", "typer")


def _loaded_after(statement: str) -> set[str]:
    """Top-level package names in sys.modules after running `statement` in a fresh interpreter."""
    report = "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    code = f"import sys, json\n{statement}\n{report}"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_import_tracer_loads_none_of_the_viewer_dependencies():
    """`import tracer` leaves textual, rich, watchfiles and typer out of sys.modules."""
    loaded = _loaded_after("import tracer")
    assert "tracer" in loaded and "orjson" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_using_tracer_loads_none_of_the_viewer_dependencies(tmp_path):
    """Tracing a call, flushing and exiting still loads none of textual, rich, watchfiles, typer."""
    statement = (
        "import tracer\n"
        f"tracer.configure(directory={str(tmp_path)!r})\n"
        "@tracer.trace\n"
        "def f(x):\n"
        "    with tracer.start_span('inner'):\n"
        "        return x\n"
        "f(1)\n"
        "tracer.flush()"
    )
    loaded = _loaded_after(statement)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert list(tmp_path.glob("*.jsonl")), "the program should have written a trace file"


@pytest.mark.parametrize("module", ["tui.store", "tui.tailer"])
def test_reader_modules_do_not_load_textual(module):
    """The pure reader modules import without Textual (nor Rich, watchfiles or typer)."""
    loaded = _loaded_after(f"import {module}")
    assert "tui" in loaded
    assert "textual" not in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))

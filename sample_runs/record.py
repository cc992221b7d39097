"""Record the sample runs again: ``python -m sample_runs.record``.

Deletes the old ``.jsonl`` recordings in this folder, then runs each example program in its own
process with ``TRACETUI_DIR`` pointing here (and real-time pauses, so the timings look like a real run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS = ["agent", "pipeline", "threads", "failing", "async_fanout"]


def main() -> None:
    for old in HERE.glob("*.jsonl"):
        old.unlink()
    env = {**os.environ, "TRACETUI_DIR": str(HERE), "SAMPLE_PACE": os.environ.get("SAMPLE_PACE", "1")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    for program in PROGRAMS:
        print(f"recording sample_runs.{program}")
        subprocess.run([sys.executable, "-m", f"sample_runs.{program}"], env=env, check=True)
    print(f"done: {len(list(HERE.glob('*.jsonl')))} trace files in {HERE}")


if __name__ == "__main__":
    main()

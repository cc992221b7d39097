"""What `tracetui demo` runs: the sample programs one after another, slowly, in a loop if asked."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loop", action="store_true", help="run again and again until killed")
    args = parser.parse_args()
    os.environ.setdefault("SAMPLE_PACE", "1")
    from sample_runs import agent, async_fanout, failing, pipeline, threads

    while True:
        agent.main()
        time.sleep(1)
        pipeline.main()
        time.sleep(1)
        try:
            failing.process_invoice('{"lines": [{"price": 3.5 "qty": 1}]}')
        except json.JSONDecodeError:
            pass
        time.sleep(1)
        threads.main()
        asyncio.run(async_fanout.fan_out("Compare Rust and Go in one sentence."))
        if not args.loop:
            break
        time.sleep(2)


if __name__ == "__main__":
    main()

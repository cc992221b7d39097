"""Sleeping in sample programs, scaled by $SAMPLE_PACE (0 records instantly; 1 is real time)."""

from __future__ import annotations

import asyncio
import os
import time

PACE = float(os.environ.get("SAMPLE_PACE", "1"))


def pause(seconds: float) -> None:
    if PACE > 0:
        time.sleep(seconds * PACE)


async def apause(seconds: float) -> None:
    if PACE > 0:
        await asyncio.sleep(seconds * PACE)

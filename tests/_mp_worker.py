"""A traced function for `multiprocessing` tests: importable by name in a spawned child."""

from __future__ import annotations

import os

import tracer


@tracer.trace(name="square")
def square(x: int) -> tuple[int, int]:
    with tracer.start_span("inner") as span:
        span.set_attribute("x", x)
    return x * x, os.getpid()

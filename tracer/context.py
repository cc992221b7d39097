"""Carrying the current span into threads and executors.

`contextvars` do not cross into threads by themselves (asyncio tasks copy them; threads do not), so a
span opened in a worker thread would start a new trace. MLflow's documented remedy works unchanged
(``executor.submit(contextvars.copy_context().run, fn, *args)``); `wrap_context` packages it.

Imports: the standard library only.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def wrap_context(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` bound to the caller's current context, so spans it opens nest under the current span.

    Each call runs in its own copy of that context: one wrapped function can be run by many threads
    at once (``executor.map(tracer.wrap_context(work), items)``), which a single shared
    `contextvars.Context` would refuse.
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    return run_in_context

"""Process-wide tracer settings: where traces go, size caps, and the clock and ids (swappable in tests).

`configure()` is the public entry point. Settings are read on the hot path as plain attributes of one
module-level object, so changing them is cheap and takes effect for the next span.

Imports: the standard library only.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from tracer import redact
from tracer.values import DEFAULT_MAX_VALUE_BYTES

ENV_DIR = "TRACETUI_DIR"
ENV_DISABLED = "TRACETUI_DISABLED"
DEFAULT_DIR = "traces"
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
# How long the background writer waits after the first pending record before writing the batch: short
# enough that a live viewer sees a span start well within 100 ms, long enough to batch a burst.
DEFAULT_FLUSH_DELAY_S = 0.01

_getrandbits = random.getrandbits


class RandomIdGenerator:
    """OpenTelemetry-sized ids: 32 hex digits for a trace, 16 for a span, never all zeros.

    `int.to_bytes(...).hex()` gives the same zero-padded lowercase hex as ``f"{n:016x}"`` in about
    half the time (this runs once per span). `random` reseeds itself in a forked child, so parent and
    child do not repeat each other's ids.
    """

    def trace_id(self) -> str:
        return (_getrandbits(128) or 1).to_bytes(16, "big").hex()

    def span_id(self) -> str:
        return (_getrandbits(64) or 1).to_bytes(8, "big").hex()


class SequentialIdGenerator:
    """Deterministic ids (1, 2, 3, … in hex) for tests that compare records exactly."""

    def __init__(self) -> None:
        self._trace = 0
        self._span = 0

    def trace_id(self) -> str:
        self._trace += 1
        return f"{self._trace:032x}"

    def span_id(self) -> str:
        self._span += 1
        return f"{self._span:016x}"


class Settings:
    """The live settings. Read them through `tracer.config.settings`; change them with `configure`."""

    __slots__ = (
        "_directory",
        "enabled",
        "max_value_bytes",
        "max_file_bytes",
        "flush_delay_s",
        "clock",
        "ids",
        "redact",
        "redact_pattern",
    )

    def __init__(self) -> None:
        self._directory: Path | None = None
        self.enabled: bool = os.environ.get(ENV_DISABLED, "").lower() not in ("1", "true", "yes")
        self.max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
        self.max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
        self.flush_delay_s: float = DEFAULT_FLUSH_DELAY_S
        self.clock: Callable[[], int] = time.time_ns
        self.ids: RandomIdGenerator | SequentialIdGenerator = RandomIdGenerator()
        # Secrets redaction (see `tracer.redact`): on unless TRACETUI_REDACT=0. The redactor in force is
        # `tracer.redact.active`; change both through `configure` (or `apply_redaction`).
        self.redact: bool = redact.enabled_from_env()
        self.redact_pattern: str = redact.DEFAULT_PATTERN
        self.apply_redaction()

    def apply_redaction(self) -> None:
        """Put `redact` / `redact_pattern` in force. Raises `re.error` for a bad pattern."""
        redact.install(self.redact, self.redact_pattern)

    def reset(self) -> None:
        """Back to the defaults (and the environment), as at import time. For tests."""
        self.__init__()  # type: ignore[misc]

    @property
    def directory(self) -> Path:
        """An explicit `configure(directory=...)` wins over $TRACETUI_DIR, which wins over ./traces.

        Resolved to an absolute path on first use, so a later `os.chdir` does not split a run in two.
        """
        if self._directory is None:
            self._directory = Path(os.environ.get(ENV_DIR) or DEFAULT_DIR).absolute()
        return self._directory

    @directory.setter
    def directory(self, value: str | os.PathLike[str] | None) -> None:
        self._directory = None if value is None else Path(value).absolute()


settings = Settings()

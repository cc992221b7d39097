"""Is the process that wrote a trace file still running? Used to mark unfinished spans as interrupted.

A file's PROCESS record names its writer by `pid`, `host` and `start_ns` (when its writer started). A
writer is *gone* when its host is this machine's (as `tracer.writer` records it: `socket.gethostname()`)
and no process with its pid exists (`os.kill(pid, 0)` raises ProcessLookupError; PermissionError means
it exists). On Linux, /proc tells more: a zombie (exited, not yet reaped) is gone, and so is a writer
whose pid was reused (the process holding it now started clearly after the record's `start_ns`).

Limits: a writer on another host, or a record without pid/host, is never judged gone (we cannot tell):
its spans stay "running". A pid reused within `_REUSE_SLACK_NS` of the writer's start, or reused on a
system without /proc, is taken for the writer.

Answers are cached per (host, pid, start_ns) for `ttl_s` (the viewer asks several times a second);
*gone* is final (a dead writer does not come back), so only *alive* answers are asked again.

Pure Python: the standard library only.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from tracer.writer import host_name

DEFAULT_TTL_S = 2.0
# btime has a resolution of one second and the clock may have been stepped: only a start this much
# later than the writer's own start counts as another process holding the pid.
_REUSE_SLACK_NS = 3_000_000_000


def this_host() -> str:
    """The host name as `tracer.writer` records it (the writer's own function: the two must agree)."""
    return host_name()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists here (one we may not signal still counts as alive)."""
    if pid <= 0:
        return True  # 0 / negatives address process groups: never evidence of death
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError as exc:
        return exc.errno != errno.ESRCH
    return True


_boot_ns: int | None = None


def _boot_time_ns() -> int | None:
    global _boot_ns
    if _boot_ns is None:
        try:
            with open("/proc/stat", "rb") as handle:
                for line in handle:
                    if line.startswith(b"btime "):
                        _boot_ns = int(line.split()[1]) * 1_000_000_000
                        break
        except (OSError, ValueError):
            return None
    return _boot_ns


def process_state(pid: int) -> tuple[str, int | None] | None:
    """(state letter, start time in ns since the epoch or None) of process `pid`, from /proc (Linux);
    None if /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        # Field 3 is the state, field 22 the start time in clock ticks since boot. The command name
        # (field 2) may hold spaces and parentheses, so fields are counted after its last ")".
        fields = stat[stat.rindex(b")") + 2 :].split()
        state = fields[0].decode("ascii", "replace")
        ticks = int(fields[19])
        hertz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    boot = _boot_time_ns()
    return state, None if boot is None else boot + ticks * 1_000_000_000 // hertz


class Liveness:
    """Cached answers to "is the writer of this process record gone?"."""

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        host: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.host = host if host is not None else this_host()
        self.clock = clock
        self._alive_until: dict[tuple[str, int, int | None], float] = {}
        self._gone: set[tuple[str, int, int | None]] = set()
        self.checks = 0  # how many times a process was actually looked at (for tests)

    def gone(self, host: str | None, pid: int | None, start_ns: int | None = None) -> bool:
        """True only when the writer surely no longer runs (same host, pid dead or reused)."""
        if host is None or pid is None or host != self.host:
            return False  # unknown: treated as alive
        key = (host, pid, start_ns)
        if key in self._gone:
            return True
        now = self.clock()
        until = self._alive_until.get(key)
        if until is not None and now < until:
            return False
        self.checks += 1
        if _is_gone(pid, start_ns):
            self._gone.add(key)
            self._alive_until.pop(key, None)
            return True
        if len(self._alive_until) > 10_000:
            self._alive_until.clear()
        self._alive_until[key] = now + self.ttl_s
        return False


def _is_gone(pid: int, start_ns: int | None) -> bool:
    if pid == os.getpid():
        return False
    if not pid_alive(pid):
        return True
    state = process_state(pid)
    if state is None:
        return False
    letter, started = state
    if letter in ("Z", "X"):
        return True  # exited, not yet reaped by its parent
    if start_ns is not None and started is not None and started > start_ns + _REUSE_SLACK_NS:
        return True  # the pid now belongs to a process started after our writer: ours is gone
    return False

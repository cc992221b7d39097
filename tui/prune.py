"""`tracetui prune`: deleting whole old segment files from a trace directory, safely.

This module owns the prune policy: parsing `--older-than` durations and `--max-size` sizes, choosing
which `.jsonl` segment files to delete (`plan_prune`), deciding which of those a live writer may still
hold open and must be kept, deleting the rest with their sidecar index files (`execute`), and the
report `tracetui prune` prints (`run`).

What is a candidate: only regular files ending in `.jsonl` directly in the directory (symlinks and
subdirectories are never followed or touched). Age is the file's mtime (its last write).

Safety — a selected file is kept when any of these says a writer may still use it:

1. Open handles (Linux): every readable ``/proc/<pid>/fd/*`` is checked against the file's inode.
   Processes whose descriptors cannot be read are simply not seen (that is what rule 2 is for).
2. Its first record (the `process` header): if its host is this host and its pid is alive
   (``os.kill(pid, 0)``; PermissionError counts as alive), the file is kept — unless the same writer
   (same host, pid and start time) has since rotated to a later segment *and* rule 1 could read that
   pid's descriptors and found none on this file: our writer never reopens a segment it rotated away
   from, so a long-running process's old segments can still be pruned.
3. Doubt (the header is unreadable, or it names another host whose processes we cannot check): the
   file is deleted only when rule 1 is available and shows no open handle (for another host rule 1
   says nothing, so only age counts) and the file has been idle at least the `--older-than` age, or
   `DOUBT_MIN_IDLE_S` when only `--max-size` was given.

Imports: the standard library and `tracer.schema` only — never Textual, Rich or typer (the CLI wraps
this module; the viewer never needs it).
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tracer import schema
from tui.liveness import pid_alive, this_host

# A file whose writer cannot be checked is deleted by the size rule alone only after this much idleness.
DOUBT_MIN_IDLE_S = 3600.0
# Sidecar index files another component may keep next to the data: `.tracetui-index/<segment>.idx`.
SIDECAR_DIR = ".tracetui-index"
SIDECAR_SUFFIX = ".idx"
# The process header is one short line; a first line longer than this is treated as unreadable.
_HEADER_MAX_BYTES = 1 << 20
_PROC = Path("/proc")
# `<UTC timestamp>-<host>-<pid>-<seq>.jsonl` (the host part never contains "-", see tracer.writer).
_SEGMENT_NAME = re.compile(r"^\d{8}T\d{6}-.+-(?P<pid>\d+)-(?P<seq>\d+)\.jsonl$")


class PruneError(ValueError):
    """A bad argument: an unparsable duration or size, a missing directory, no rule given."""


# -- argument parsing -----------------------------------------------------------------------------------

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]+)\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``30m``, ``12h``, ``7d``, ``2w`` (also ``s``; decimals allowed)."""
    match = _DURATION.match(text)
    unit = match.group("unit").lower() if match else ""
    if not match or unit not in _DURATION_UNITS:
        raise PruneError(
            f"bad duration {text!r}: use a number and a unit s, m, h, d or w (e.g. 30m, 12h, 7d, 2w)"
        )
    return float(match.group("num")) * _DURATION_UNITS[unit]


def parse_size(text: str) -> int:
    """Bytes in a size such as ``500MB``, ``2GB`` (powers of 1000) or ``1.5GiB`` (powers of 1024).

    A bare number is bytes. ``K``/``M``/``G`` alone are refused as ambiguous (say ``GB`` or ``GiB``).
    """
    match = _SIZE.match(text)
    unit = (match.group("unit").lower() or "b") if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise PruneError(
            f"bad size {text!r}: use a number and a unit B, KB, MB, GB, TB (powers of 1000) or "
            "KiB, MiB, GiB, TiB (powers of 1024), e.g. 500MB, 2GB, 1.5GiB"
        )
    return int(float(match.group("num")) * _SIZE_UNITS[unit])


def format_size(size: int) -> str:
    """``812 B``, ``4.0 KiB``, ``1.5 GiB``: binary units, one decimal."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


# -- the plan -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One `.jsonl` file directly in the directory, as seen when the plan was made."""

    path: Path
    size: int
    mtime: float
    dev: int
    ino: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Plan:
    directory: Path
    segments: list[Segment]  # every segment in the directory, oldest first
    delete: list[Segment] = field(default_factory=list)  # oldest first
    kept: list[tuple[Segment, str]] = field(default_factory=list)  # selected by a rule, kept for safety
    max_size: int | None = None

    @property
    def total_before(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def total_after(self) -> int:
        return self.total_before - sum(s.size for s in self.delete)


@dataclass
class Result:
    deleted: list[Segment] = field(default_factory=list)
    sidecars: list[Path] = field(default_factory=list)
    failed: list[tuple[Segment, str]] = field(default_factory=list)


def list_segments(directory: Path) -> list[Segment]:
    """The regular `.jsonl` files directly in `directory` (no symlinks, no subdirectories), oldest first."""
    segments = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.endswith(schema.FILE_SUFFIX):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            segments.append(Segment(Path(entry.path), st.st_size, st.st_mtime, st.st_dev, st.st_ino))
    segments.sort(key=lambda s: (s.mtime, s.name))
    return segments


@dataclass
class OpenFiles:
    """Rule 1: who holds which inode open, from /proc (Linux only)."""

    available: bool = False  # /proc/<pid>/fd could be read at all
    holders: dict[tuple[int, int], set[int]] = field(default_factory=dict)  # (dev, ino) -> pids
    readable_pids: set[int] = field(default_factory=set)  # pids whose descriptors were all seen


def scan_open_files(targets: Iterable[tuple[int, int]], proc: Path = _PROC) -> OpenFiles:
    """Which processes hold any of `targets` ((dev, ino) pairs) open. Permission errors are ignored."""
    wanted = set(targets)
    result = OpenFiles(available=(proc / "self" / "fd").is_dir())
    if not result.available:
        return result
    try:
        pids = [int(name) for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        result.available = False
        return result
    for pid in pids:
        fd_dir = proc / str(pid) / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # not ours to see (EACCES), or the process just exited
        result.readable_pids.add(pid)
        for fd in fds:
            try:
                st = os.stat(fd_dir / fd)  # follows the magic link to the open file itself
            except OSError:
                continue  # closed meanwhile
            key = (st.st_dev, st.st_ino)
            if key in wanted:
                result.holders.setdefault(key, set()).add(pid)
    return result


@dataclass(frozen=True)
class Header:
    host: str
    pid: int
    start_ns: int | None


def read_header(path: Path) -> Header | None:
    """The file's first (`process`) record, or None if it cannot be read or is not one."""
    try:
        with open(path, "rb") as f:
            line = f.readline(_HEADER_MAX_BYTES)
    except OSError:
        return None
    if not line.endswith(b"\n"):
        return None  # empty, being written, or absurdly long
    try:
        record = schema.decode(line)
    except schema.SchemaError:
        return None
    pid, host, start_ns = record.get(schema.PID), record.get(schema.HOST), record.get(schema.START_NS)
    if record[schema.KIND] != schema.PROCESS or type(pid) is not int or type(host) is not str:
        return None
    return Header(host, pid, start_ns if type(start_ns) is int else None)


def _seq(segment: Segment) -> int | None:
    match = _SEGMENT_NAME.match(segment.name)
    return int(match.group("seq")) if match else None


class _Safety:
    """Decides, per selected file, whether it may be deleted (see the module docstring)."""

    def __init__(self, segments: list[Segment], older_than: float | None, now: float) -> None:
        self.open = scan_open_files((s.dev, s.ino) for s in segments)
        self.host = this_host()
        self.now = now
        self.doubt_idle = older_than if older_than is not None else DOUBT_MIN_IDLE_S
        self.segments = segments
        self._headers: dict[Path, Header | None] = {}
        self._verdicts: dict[Path, str | None] = {}

    def header(self, segment: Segment) -> Header | None:
        if segment.path not in self._headers:
            self._headers[segment.path] = read_header(segment.path)
        return self._headers[segment.path]

    def keep_reason(self, segment: Segment) -> str | None:
        """None if `segment` may be deleted, else why it is kept."""
        if segment.path not in self._verdicts:
            self._verdicts[segment.path] = self._judge(segment)
        return self._verdicts[segment.path]

    def _judge(self, segment: Segment) -> str | None:
        holders = self.open.holders.get((segment.dev, segment.ino))
        if holders:
            return f"open in pid {', '.join(map(str, sorted(holders)))}"
        header = self.header(segment)
        idle = self.now - segment.mtime
        if header is None or header.host != self.host:
            if header is None and not self.open.available:
                return "no process header, and open files cannot be checked on this system"
            if idle < self.doubt_idle:
                what = "no readable process header" if header is None else f"written on host {header.host}"
                return f"{what}, and modified less than {_format_seconds(self.doubt_idle)} ago"
            return None
        if not pid_alive(header.pid):
            return None
        if self._rotated_away(segment, header) and header.pid in self.open.readable_pids:
            return None  # its writer moved on to a later segment and holds no handle on this one
        return f"writer pid {header.pid} is still running"

    def _rotated_away(self, segment: Segment, header: Header) -> bool:
        seq = _seq(segment)
        if seq is None or header.start_ns is None:
            return False
        for other in self.segments:
            other_seq = _seq(other)
            if other is segment or other_seq is None or other_seq <= seq:
                continue
            if self.header(other) == header:  # same host, pid and writer start: the same writer
                return True
        return False


def _format_seconds(seconds: float) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def plan_prune(
    directory: Path,
    *,
    older_than: float | None = None,
    max_size: int | None = None,
    now: float | None = None,
) -> Plan:
    """Which segments to delete: those older than `older_than` seconds, plus the oldest others until the
    directory's `.jsonl` total is at most `max_size` bytes — minus any a live writer may hold open.
    """
    if older_than is None and max_size is None:
        raise PruneError("nothing to do: give --older-than and/or --max-size")
    if not directory.is_dir():
        raise PruneError(f"{directory} is not a directory")
    now = time.time() if now is None else now
    segments = list_segments(directory)
    plan = Plan(directory, segments, max_size=max_size)
    safety = _Safety(segments, older_than, now)
    chosen: set[Path] = set()

    def consider(segment: Segment) -> bool:
        reason = safety.keep_reason(segment)
        if reason is None:
            chosen.add(segment.path)
            return True
        if all(kept is not segment for kept, _ in plan.kept):
            plan.kept.append((segment, reason))
        return False

    if older_than is not None:
        cutoff = now - older_than
        for segment in segments:
            if segment.mtime < cutoff:
                consider(segment)
    if max_size is not None:
        total = plan.total_before - sum(s.size for s in segments if s.path in chosen)
        for segment in segments:
            if total <= max_size:
                break
            if segment.path not in chosen and consider(segment):
                total -= segment.size
    plan.delete = [s for s in segments if s.path in chosen]
    return plan


# -- deleting -------------------------------------------------------------------------------------------


def sidecars_of(segment: Segment) -> list[Path]:
    """Existing regular sidecar files of `segment`: `.tracetui-index/<name>.idx` or `<stem>.idx`."""
    index_dir = segment.path.parent / SIDECAR_DIR
    try:
        if not stat.S_ISDIR(os.lstat(index_dir).st_mode):
            return []
    except OSError:
        return []
    found = []
    for name in {segment.name + SIDECAR_SUFFIX, segment.path.stem + SIDECAR_SUFFIX}:
        candidate = index_dir / name
        try:
            if stat.S_ISREG(os.lstat(candidate).st_mode):
                found.append(candidate)
        except OSError:
            continue
    return sorted(found)


def execute(plan: Plan) -> Result:
    """Delete the plan's segments (each only if it is still the same file) and their sidecars."""
    result = Result()
    for segment in plan.delete:
        try:
            st = os.lstat(segment.path)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (segment.dev, segment.ino):
                result.failed.append((segment, "replaced since the plan was made; left alone"))
                continue
            os.unlink(segment.path)
        except FileNotFoundError:
            continue  # already gone: nothing to free, nothing to report
        except OSError as exc:
            result.failed.append((segment, exc.strerror or str(exc)))
            continue
        result.deleted.append(segment)
        for sidecar in sidecars_of(segment):
            try:
                os.unlink(sidecar)
            except OSError:
                continue
            result.sidecars.append(sidecar)
    return result


Echo = Callable[..., None]


def _print(message: str, err: bool = False) -> None:
    import sys

    print(message, file=sys.stderr if err else sys.stdout)


def run(
    directory: Path,
    *,
    older_than: str | None,
    max_size: str | None,
    dry_run: bool = False,
    echo: Echo = _print,
    now: float | None = None,
) -> int:
    """The `tracetui prune` command: plan, delete (unless `dry_run`), report. Returns the exit code.

    Raises `PruneError` for bad arguments (the CLI turns it into exit code 1 with the message).
    """
    age = parse_duration(older_than) if older_than is not None else None
    limit = parse_size(max_size) if max_size is not None else None
    plan = plan_prune(directory, older_than=age, max_size=limit, now=now)
    verb = "would delete" if dry_run else "deleted"
    if dry_run:
        result = Result(deleted=list(plan.delete), sidecars=[p for s in plan.delete for p in sidecars_of(s)])
    else:
        result = execute(plan)
    for segment in result.deleted:
        echo(f"{verb} {segment.name}  {format_size(segment.size)}")
    for sidecar in result.sidecars:
        echo(f"{verb} {sidecar.parent.name}/{sidecar.name}")
    for segment, reason in plan.kept:
        echo(f"kept {segment.name}  {format_size(segment.size)}  ({reason})")
    freed = sum(s.size for s in result.deleted)
    remaining = plan.total_before - freed
    files = "file" if len(result.deleted) == 1 else "files"
    echo(
        f"{verb} {len(result.deleted)} {files}, {format_size(freed)}; "
        f"{format_size(remaining)} of trace files {'would remain' if dry_run else 'remain'} in {directory}"
    )
    if limit is not None and remaining > limit:
        echo(
            f"tracetui: still above --max-size {max_size}: the remaining files are in use or too recent "
            "to be sure they are not",
            err=True,
        )
    for segment, reason in result.failed:
        echo(f"tracetui: could not delete {segment.path}: {reason}", err=True)
    return 1 if result.failed else 0

"""Appending encoded records to this process's trace file, without ever raising into user code.

Hot path: `write(line)` appends the bytes to an in-memory deque (thread-safe, no lock) and, if no batch
is pending, wakes a background thread. That thread waits `flush_delay_s` to gather a burst, then writes
the whole batch with one ``os.write`` on an ``O_APPEND`` descriptor. Lines are whole records, so a batch
never splits one; each process owns its file, so processes never interleave.

Durability: a record reaches the kernel (visible to readers, surviving SIGKILL of this process) within
about `flush_delay_s` of being produced; `flush()` does it synchronously, and runs at exit.

Failures (directory missing or read-only, disk full, file deleted under us) are logged once per failure
episode through the ``tracer`` logger; the affected records are dropped and the next batch tries again,
reopening the file (so a deleted directory is recreated, and the writer recovers when the fault goes).

After ``fork()`` the child starts its own file and forgets the parent's unwritten records (the parent
still writes them), so the two never interleave or duplicate.

Imports: the standard library, orjson (through schema) and `tracer.config`.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import socket
import sys
import threading
import time
from pathlib import Path

from tracer import schema
from tracer.config import settings
from tracer.version import __version__

logger = logging.getLogger("tracer")

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)


def _make_directory(directory: Path) -> None:
    """Create `directory` if need be, and every missing parent, all 0700 (files are created 0600): a
    trace holds what the program saw. `Path.mkdir(parents=True)` would give the parents the default
    mode. Raises OSError as `mkdir` does."""
    if not directory.is_dir():
        for parent in reversed(directory.parents):
            if not parent.exists():
                parent.mkdir(mode=0o700, exist_ok=True)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def host_name() -> str:
    """This machine's name as process records carry it (readers compare against this same function)."""
    try:
        return socket.gethostname() or "localhost"
    except Exception:
        return "localhost"


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "_", text)[:64] or "host"


class Writer:
    """One per process. See the module docstring for the guarantees."""

    def __init__(self) -> None:
        # Queued records, appended whole (one `extend` each: atomic under the GIL, so lines never
        # interleave). A bytearray rather than a queue of line objects: each line is copied in and freed
        # at once, so a batch is one buffer instead of thousands of ~700-byte heap objects that live for
        # `flush_delay_s` and are freed together by the writer thread — which made glibc return the heap
        # top to the kernel and fault it back in on every batch (about 1 µs per span).
        self._pending = bytearray()
        self._armed = False
        self._wake = threading.Event()
        self._lock = threading.Lock()  # serialises file access: flusher thread vs flush()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._host = host_name()
        self._fd: int | None = None
        self._path: Path | None = None
        self._inode: tuple[int, int] | None = None
        self._file_bytes = 0
        self._seq = 0
        self._started_ns = time.time_ns()
        self._failing = False  # inside a failure episode: warned already, stay quiet
        self._dangling = False  # a partial line may end the file: start the next write on a new line
        self.dropped_records = 0
        self._atexit_registered = False

    # -- public ------------------------------------------------------------------------------------

    def write(self, line: bytes) -> None:
        """Queue one encoded record (a whole line). Never blocks on IO, never raises.

        `tracer.span` inlines this on its hot path (``_pending.extend`` bound once, then `_arm` when
        not armed); `_pending` is therefore never replaced, only emptied.
        """
        self._pending.extend(line)
        if not self._armed:
            self._arm()

    def _arm(self) -> None:
        """Make sure the background thread runs and will write what is queued."""
        self._armed = True
        if self._thread is None:
            self._start_thread()
        self._wake.set()

    def flush(self) -> None:
        """Write every queued record now. Never raises."""
        with self._lock:
            self._write_pending()

    @property
    def path(self) -> Path | None:
        """The file currently written to (None before the first write)."""
        return self._path

    def close(self) -> None:
        """Flush and close the file; a later `write` opens a new one."""
        with self._lock:
            self._write_pending()
            self._close_fd()

    # -- background thread -------------------------------------------------------------------------

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._run, name="tracer-writer", daemon=True)
        self._thread = thread
        thread.start()
        if not self._atexit_registered:
            self._atexit_registered = True
            atexit.register(self._at_exit)
            # A `multiprocessing` child started by fork ends with os._exit, which skips atexit but runs
            # threading's exit hooks (inherited through fork): flush there too, or its last batch is lost.
            register = getattr(threading, "_register_atexit", None)
            if register is not None:
                try:
                    register(self._at_exit)
                except RuntimeError:  # already shutting down: atexit still flushes
                    pass

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(settings.flush_delay_s)
            self._wake.clear()
            self._armed = False
            with self._lock:
                self._write_pending()

    def _at_exit(self) -> None:
        # The daemon thread may be mid-write at shutdown; wait for it briefly rather than race it.
        if self._lock.acquire(timeout=2.0):
            try:
                self._write_pending()
            finally:
                self._lock.release()

    # -- file handling (called with the lock held) -------------------------------------------------

    def _write_pending(self) -> None:
        pending = self._pending
        if not pending:
            return
        # Copy, then drop what was copied: the span code may append between the two (each call is
        # atomic under the GIL, and only this method, under `_lock`, consumes), and `pending` must
        # never be exported (a memoryview) while it may be resized.
        batch = bytes(pending)
        del pending[: len(batch)]
        try:
            fd = self._ensure_file()
            data = b"\n" + batch if self._dangling else batch
            self._write_all(fd, data)
            self._file_bytes += len(data)
            self._dangling = False
            if self._failing:
                self._failing = False
                # INFO, not WARNING: a fault costs the user exactly one warning; this closes it.
                logger.info(
                    "tracer: writing traces to %s works again (%d records were lost)",
                    self._path,
                    self.dropped_records,
                )
        except OSError as exc:
            self.dropped_records += batch.count(b"\n")  # one record a line
            self._dangling = True
            self._close_fd()
            if not self._failing:
                self._failing = True
                logger.warning(
                    "tracer: cannot write traces to %s (%s); the program continues, traces are "
                    "dropped until writing works again",
                    settings.directory,
                    exc,
                )
            return
        if self._file_bytes >= settings.max_file_bytes:
            self._close_fd()  # the next batch opens the next segment

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def _ensure_file(self) -> int:
        fd = self._fd
        if fd is not None and self._still_ours():
            return fd
        self._close_fd()
        directory = settings.directory
        _make_directory(directory)
        self._seq += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = directory / f"{stamp}-{_file_safe(self._host)}-{self._pid}-{self._seq:03d}{schema.FILE_SUFFIX}"
        fd = os.open(path, _OPEN_FLAGS, 0o600)
        stat = os.fstat(fd)
        self._fd, self._path, self._inode = fd, path, (stat.st_dev, stat.st_ino)
        self._file_bytes = stat.st_size
        self._dangling = False
        header = schema.encode_process(
            pid=self._pid,
            host=self._host,
            argv=list(sys.argv),
            python=sys.version.split()[0],
            tracer_version=__version__,
            start_ns=self._started_ns,
        )
        self._write_all(fd, header)
        self._file_bytes += len(header)
        return fd

    def _still_ours(self) -> bool:
        # Deleted, moved or replaced under us (a cleanup script, `rm -rf traces`): writing to the old
        # descriptor would silently go nowhere, so reopen by path.
        try:
            stat = os.stat(self._path) if self._path is not None else None
        except OSError:
            return False
        return stat is not None and (stat.st_dev, stat.st_ino) == self._inode

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None
        self._inode = None

    # -- fork ----------------------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        self._pending.clear()  # emptied, not replaced: `tracer.span` holds its bound `append`
        self._armed = False
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None
        self._path = None
        self._inode = None
        self._pid = os.getpid()
        self._seq = 0
        self._started_ns = time.time_ns()
        self._failing = False
        self._dangling = False
        self.dropped_records = 0


writer = Writer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=writer._after_fork_in_child)

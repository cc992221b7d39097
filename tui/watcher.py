"""Following a trace directory as it changes: a plain thread that calls back with new lines.

`TraceWatcher.run()` (blocking, meant for a worker thread) waits for the directory to exist, reads what
is already there, then waits on filesystem events (watchfiles: inotify / FSEvents / ReadDirectoryChanges)
and reads the new lines after each batch of events. With `poll=True`, or where the OS gives no events,
watchfiles polls instead. A periodic wake-up re-reads anyway, as a safety net for missed events.

It knows nothing of widgets: it reports through two callbacks, `on_chunks(chunks)` and `on_state(text)`.

Imports: the standard library, watchfiles and `tui.tailer`; no Textual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import watchfiles

from tui.tailer import Chunk, DirectoryTailer

# How long watchfiles gathers a burst of events before reporting it, and how often it checks. Low:
# the viewer's write-to-screen latency budget is 100 ms and the writer itself batches for 10 ms.
DEBOUNCE_MS = 30
STEP_MS = 10
# Wake up and re-read at least this often even without events.
SAFETY_POLL_MS = 1000
POLL_DELAY_MS = 100
# Deliver at most about this much at a time, so the UI shows progress through a huge backlog.
BATCH_BYTES = 4 * 1024 * 1024


class TraceWatcher:
    """Reads new trace lines from `path` (a directory or a file) until `stop()` is called."""

    def __init__(
        self,
        path: Path,
        on_chunks: Callable[[list[Chunk]], None],
        on_state: Callable[[str], None] = lambda state: None,
        *,
        poll: bool = False,
        on_caught_up: Callable[[], None] = lambda: None,
    ) -> None:
        self.path = path
        self.poll_mode = poll
        self._on_chunks = on_chunks
        self._on_state = on_state
        self._on_caught_up = on_caught_up
        self._stop = threading.Event()
        self.tailer = DirectoryTailer(path)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def read_now(self) -> int:
        """Read and deliver everything new; returns the number of bytes delivered."""
        count = 0
        batch: list[Chunk] = []
        batch_bytes = 0
        for gone in self.tailer.files_gone:
            batch.append(Chunk(gone, 0, b"", True))
        self.tailer.files_gone.clear()
        backlog = self.tailer.unread_bytes()
        large = backlog > 4 * BATCH_BYTES
        for chunk in self.tailer.poll_chunks():
            if self._stop.is_set():
                break  # quitting mid-index: leave the rest
            batch.append(chunk)
            batch_bytes += chunk.size
            if batch_bytes >= BATCH_BYTES:
                self._on_chunks(batch)
                count += batch_bytes
                batch, batch_bytes = [], 0
                if large:
                    done = min(count, backlog)
                    self._on_state(
                        f"indexing {done / 2**20:,.0f} of {backlog / 2**20:,.0f} MiB ({done / backlog:.0%})"
                    )
        if batch:
            self._on_chunks(batch)
            count += batch_bytes
        return count

    def run(self) -> None:
        while not self._stop.is_set():
            if not self.path.exists():
                self._on_state(f"waiting for {self.path} to appear")
                self._stop.wait(0.25)
                continue
            self.read_now()
            if not self._stop.is_set():
                self._on_caught_up()
            self._watch()

    def _watch(self) -> None:
        is_file = self.path.is_file()
        target = self.path.parent if is_file else self.path
        only = str(self.path)
        mode = "polling" if self.poll_mode else "watching"
        self._on_state(mode)
        try:
            for changes in watchfiles.watch(
                target,
                watch_filter=(lambda change, name: name == only) if is_file else None,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=self._stop,
                rust_timeout=SAFETY_POLL_MS,
                yield_on_timeout=True,
                force_polling=True if self.poll_mode else None,
                poll_delay_ms=POLL_DELAY_MS,
                recursive=False,
                raise_interrupt=False,
            ):
                del changes  # which files changed does not matter: the tailer checks them all
                self.read_now()
                if not self.path.exists():
                    return  # deleted: go back to waiting for it
        except Exception as exc:  # the watched directory vanished, or the OS refused a watch
            self._on_state(f"watch interrupted ({type(exc).__name__}); retrying")
            self._stop.wait(0.5)

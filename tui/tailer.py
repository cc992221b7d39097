"""Which trace files exist, how far each has been read, and the complete lines added since.

`DirectoryTailer.poll()` returns the new complete lines of every trace file under a directory (or of one
file). A line is returned only once its newline has arrived: a half-written last line waits in the
file's `FileCursor`. A file truncated (size below the offset) or replaced (new inode) is read again from
the start; a deleted file is forgotten. What triggers a poll — a watchfiles event, a timer — is the
caller's business.

Pure Python: no Textual, no watchfiles.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from tracer import schema

# Files are read in chunks of this size, so memory stays bounded whatever the file's size.
READ_CHUNK_BYTES = 16 * 1024 * 1024
# A single line longer than this is not a record any writer of ours produces: it is skipped (as one
# malformed line) rather than buffered without bound.
MAX_LINE_BYTES = 64 * 1024 * 1024

Line = tuple[str, int, bytes]  # (source file, 1-based line number, line without newline)


class Chunk(NamedTuple):
    """Whole lines of one file: `data` ends with a newline and starts at byte `offset`."""

    source: str
    offset: int
    first_line: int  # 1-based number of the first line in `data`
    data: bytes
    reset: bool = False  # the file was truncated or replaced: forget what was read from it before


@dataclass
class FileCursor:
    path: Path
    inode: tuple[int, int] | None = None
    offset: int = 0
    line_number: int = 0
    partial: bytes = b""
    discarding: bool = False  # inside an over-long line: drop bytes until its newline

    def reset(self, inode: tuple[int, int] | None) -> None:
        self.inode = inode
        self.offset = 0
        self.line_number = 0
        self.partial = b""
        self.discarding = False


class DirectoryTailer:
    """Follows the trace files of one directory (or one file). Not thread-safe: one caller polls."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cursors: dict[Path, FileCursor] = {}
        self.files_reset = 0  # truncations and replacements seen (a user may want to know)
        self.oversized_lines = 0
        self.files_gone: list[str] = []  # deleted files not yet reported (the caller drains it)

    def files(self) -> list[Path]:
        """The trace files as they are now, oldest name first (names start with a UTC timestamp)."""
        path = self.path
        try:
            if path.is_file():
                return [path]
            return sorted(p for p in path.iterdir() if p.name.endswith(schema.FILE_SUFFIX) and p.is_file())
        except OSError:
            return []

    def cursors(self) -> list[FileCursor]:
        """Where reading stands in each file (for the persistent index)."""
        return list(self._cursors.values())

    def set_cursors(self, cursors: list[FileCursor]) -> None:
        """Go on from saved positions (the persistent index vouches that they are still valid)."""
        self._cursors = {cursor.path: cursor for cursor in cursors}

    def unread_bytes(self) -> int:
        """How many bytes the next poll has to read (for progress reports)."""
        total = 0
        for path in self.files():
            cursor = self._cursors.get(path)
            try:
                size = path.stat().st_size
            except OSError:
                continue
            total += max(0, size - (cursor.offset if cursor is not None else 0))
        return total

    def poll(self) -> Iterator[Line]:
        """The complete lines appended to any file since the last poll, one by one."""
        for chunk in self.poll_chunks():
            number = chunk.first_line
            lines = chunk.data.split(b"\n")
            lines.pop()
            for line in lines:
                yield chunk.source, number, line
                number += 1

    def poll_chunks(self) -> Iterator[Chunk]:
        """The complete lines appended since the last poll, as chunks of whole lines with the byte
        offset they start at; newest file first (so a viewer fills its first screen first). A chunk
        with `reset` set starts a file over: what was read from it before is gone."""
        current = self.files()
        present = set(current)
        for gone in [p for p in self._cursors if p not in present]:
            del self._cursors[gone]
            self.files_gone.append(str(gone))
        for path in reversed(current):
            cursor = self._cursors.get(path)
            if cursor is None:
                cursor = self._cursors[path] = FileCursor(path)
            yield from self._read(cursor)

    def _read(self, cursor: FileCursor) -> Iterator[Chunk]:
        try:
            with open(cursor.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                inode = (stat.st_dev, stat.st_ino)
                reset = False
                if cursor.inode != inode or stat.st_size < cursor.offset:
                    if cursor.inode is not None:
                        self.files_reset += 1
                        reset = True
                    cursor.reset(inode)
                if stat.st_size == cursor.offset:
                    if reset:
                        yield Chunk(str(cursor.path), 0, 1, b"", True)
                    return
                handle.seek(cursor.offset)
                while True:
                    data = handle.read(READ_CHUNK_BYTES)
                    if not data:
                        return
                    yield from self._split(cursor, data, reset)
                    reset = False
        except OSError:
            return  # deleted between listing and opening, or unreadable: try again next poll

    def _split(self, cursor: FileCursor, data: bytes, reset: bool) -> Iterator[Chunk]:
        source = str(cursor.path)
        # Bytes before `data` not yet handed out: the partial line (or a discarded over-long one).
        pending_start = cursor.offset - len(cursor.partial)
        cursor.offset += len(data)
        last = data.rfind(b"\n")
        if cursor.discarding:
            if last < 0:
                return
            # The over-long line ends here: report it as one malformed line, then go on after it.
            first = data.find(b"\n")
            cursor.discarding = False
            cursor.line_number += 1
            self.oversized_lines += 1
            yield Chunk(source, cursor.offset - len(data), cursor.line_number, b"\x00oversized line\n", reset)
            reset = False
            data = data[first + 1 :]
            pending_start = cursor.offset - len(data)
            last = data.rfind(b"\n")
        if last < 0:
            if len(cursor.partial) + len(data) > MAX_LINE_BYTES:
                cursor.partial = b""
                cursor.discarding = True
            else:
                cursor.partial += data
            if reset:
                yield Chunk(source, 0, 1, b"", True)
            return
        whole = data[: last + 1]
        if cursor.partial:
            whole = cursor.partial + whole
        cursor.partial = data[last + 1 :]
        first_line = cursor.line_number + 1
        cursor.line_number += whole.count(b"\n")
        yield Chunk(source, pending_start, first_line, whole, reset)

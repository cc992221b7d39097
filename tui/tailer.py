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

from tracer import schema

# Files are read in chunks of this size, so memory stays bounded whatever the file's size.
READ_CHUNK_BYTES = 16 * 1024 * 1024
# A single line longer than this is not a record any writer of ours produces: it is skipped (as one
# malformed line) rather than buffered without bound.
MAX_LINE_BYTES = 64 * 1024 * 1024

Line = tuple[str, int, bytes]  # (source file, 1-based line number, line without newline)


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

    def files(self) -> list[Path]:
        """The trace files as they are now, oldest name first (names start with a UTC timestamp)."""
        path = self.path
        try:
            if path.is_file():
                return [path]
            return sorted(p for p in path.iterdir() if p.name.endswith(schema.FILE_SUFFIX) and p.is_file())
        except OSError:
            return []

    def poll(self) -> Iterator[Line]:
        """The complete lines appended to any file since the last poll."""
        current = self.files()
        present = set(current)
        for gone in [p for p in self._cursors if p not in present]:
            del self._cursors[gone]
        for path in current:
            cursor = self._cursors.get(path)
            if cursor is None:
                cursor = self._cursors[path] = FileCursor(path)
            yield from self._read(cursor)

    def _read(self, cursor: FileCursor) -> Iterator[Line]:
        try:
            with open(cursor.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                inode = (stat.st_dev, stat.st_ino)
                if cursor.inode != inode or stat.st_size < cursor.offset:
                    if cursor.inode is not None:
                        self.files_reset += 1
                    cursor.reset(inode)
                if stat.st_size == cursor.offset:
                    return
                handle.seek(cursor.offset)
                while True:
                    data = handle.read(READ_CHUNK_BYTES)
                    if not data:
                        return
                    cursor.offset += len(data)
                    yield from self._split(cursor, data)
        except OSError:
            return  # deleted between listing and opening, or unreadable: try again next poll

    def _split(self, cursor: FileCursor, data: bytes) -> Iterator[Line]:
        source = str(cursor.path)
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            cursor.line_number += 1
            if cursor.discarding:
                cursor.discarding = False
                self.oversized_lines += 1
                yield source, cursor.line_number, b"\x00oversized line"
            elif cursor.partial:
                line = cursor.partial + data[start:end]
                cursor.partial = b""
                yield source, cursor.line_number, line
            else:
                yield source, cursor.line_number, data[start:end]
            start = end + 1
        rest = data[start:]
        if rest and not cursor.discarding:
            if len(cursor.partial) + len(rest) > MAX_LINE_BYTES:
                cursor.partial = b""
                cursor.discarding = True
            else:
                cursor.partial += rest

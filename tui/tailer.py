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
    """Whole lines of one file, starting at byte `offset`: `data[:size]` (it ends with a newline).

    `end` is -1 when all of `data` is whole lines; otherwise whole lines stop there and the rest is the
    start of a line that is read again with the next chunk (cutting `data` would copy megabytes).
    """

    source: str
    offset: int
    data: bytes
    reset: bool = False  # the file was truncated or replaced: forget what was read from it before
    end: int = -1

    @property
    def size(self) -> int:
        return len(self.data) if self.end < 0 else self.end


@dataclass
class FileCursor:
    path: Path
    inode: tuple[int, int] | None = None
    offset: int = 0  # the first byte not handed out yet (a line start, or inside an over-long line)
    partial: bytes = b""  # the start of a line longer than a read, kept until its newline arrives
    partial_start: int = 0
    discarding: bool = False  # inside a line over MAX_LINE_BYTES: drop bytes until its newline

    def reset(self, inode: tuple[int, int] | None) -> None:
        self.inode = inode
        self.offset = 0
        self.partial = b""
        self.partial_start = 0
        self.discarding = False


class DirectoryTailer:
    """Follows the trace files of one directory (or one file). Not thread-safe: one caller polls."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cursors: dict[Path, FileCursor] = {}
        self.files_reset = 0  # truncations and replacements seen (a user may want to know)
        self.oversized_lines = 0
        self.files_gone: list[str] = []  # deleted files not yet reported (the caller drains it)
        self._line_numbers: dict[str, int] = {}  # for `poll` only

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
        """The complete lines appended to any file since the last poll, one by one, numbered."""
        for chunk in self.poll_chunks():
            if chunk.reset:
                self._line_numbers.pop(chunk.source, None)
            number = self._line_numbers.get(chunk.source, 0)
            lines = chunk.data[: chunk.size].split(b"\n")
            lines.pop()
            for line in lines:
                number += 1
                yield chunk.source, number, line
            self._line_numbers[chunk.source] = number

    def poll_chunks(self) -> Iterator[Chunk]:
        """The complete lines appended since the last poll, as chunks of whole lines with the byte
        offset they start at; newest file first (so a viewer fills its first screen first). A chunk
        with `reset` set starts a file over: what was read from it before is gone."""
        current = self.files()
        present = set(current)
        for gone in [p for p in self._cursors if p not in present]:
            del self._cursors[gone]
            self.files_gone.append(str(gone))
            self._line_numbers.pop(str(gone), None)
        for path in reversed(current):
            cursor = self._cursors.get(path)
            if cursor is None:
                cursor = self._cursors[path] = FileCursor(path)
            yield from self._read(cursor)

    def _read(self, cursor: FileCursor) -> Iterator[Chunk]:
        source = str(cursor.path)
        try:
            with open(cursor.path, "rb", buffering=0) as handle:
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
                        yield Chunk(source, 0, b"", True)
                    return
                handle.seek(cursor.offset)
                while True:
                    data = handle.read(READ_CHUNK_BYTES)
                    if not data:
                        if reset:
                            yield Chunk(source, 0, b"", True)
                        return
                    at = cursor.offset
                    cursor.offset += len(data)
                    at_eof = len(data) < READ_CHUNK_BYTES  # a short read: nothing more in the file
                    if cursor.discarding or cursor.partial:
                        for chunk in self._long_line(cursor, data, at, reset):
                            reset = False
                            yield chunk
                        if cursor.discarding or cursor.partial:
                            if at_eof:
                                return
                            continue
                        cut = cursor.offset - at  # the long line ended here: go on after it
                        data, at = data[cut:], at + cut
                        cursor.offset = at + len(data)
                        if not data:
                            if at_eof:
                                return
                            continue
                    last = data.rfind(b"\n")
                    if last < 0:
                        if at_eof:
                            cursor.offset = at  # a line still being written: read it again later
                            if reset:
                                yield Chunk(source, 0, b"", True)
                            return
                        cursor.partial, cursor.partial_start = data, at  # a line longer than a read
                        if len(data) > MAX_LINE_BYTES:
                            cursor.partial, cursor.discarding = b"", True
                        continue
                    whole = last + 1
                    yield Chunk(source, at, data, reset, -1 if whole == len(data) else whole)
                    reset = False
                    if whole < len(data):
                        cursor.offset = at + whole  # the unfinished line is read again next time
                        if at_eof:
                            return
                        handle.seek(cursor.offset)
        except OSError:
            return  # deleted between listing and opening, or unreadable: try again next poll

    def _long_line(self, cursor: FileCursor, data: bytes, at: int, reset: bool) -> Iterator[Chunk]:
        """Continue a line longer than one read. Sets `cursor.offset` just after it once it ends."""
        source = str(cursor.path)
        newline = data.find(b"\n")
        if cursor.discarding:
            if newline < 0:
                return
            cursor.discarding = False
            cursor.offset = at + newline + 1
            self.oversized_lines += 1
            yield Chunk(source, at, b"\x00oversized line\n", reset)  # one malformed line, reported
            return
        if newline < 0:
            if len(cursor.partial) + len(data) > MAX_LINE_BYTES:
                cursor.partial = b""
                cursor.discarding = True
            else:
                cursor.partial += data
            return
        line = cursor.partial + data[: newline + 1]
        start = cursor.partial_start
        cursor.partial = b""
        cursor.offset = at + newline + 1
        yield Chunk(source, start, line, reset)

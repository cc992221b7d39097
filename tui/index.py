"""The persistent index: a snapshot of the trace store kept next to the data, so that opening an
unchanged (or only appended-to) directory again does not read every file again.

Layout: ``DIR/.tracetui-index/index.v2`` (one JSON document, written atomically). It records, for each
trace file, how far it was indexed (offset and line number, whole lines only), its inode, and a hash of
the bytes just before that offset; and the store's index (see `TraceStore.snapshot`).

On load, every file must still be the same file (same inode, at least as long, same bytes before the
recorded offset) and every indexed file must still exist: then the snapshot is used and reading goes on
from the recorded offsets. Anything else — a file truncated, replaced or deleted, a snapshot from another
version, unreadable, corrupt — and the snapshot is ignored: the directory is indexed from scratch and the
snapshot rewritten. A directory the viewer cannot write to simply gets no snapshot.

Pure Python: the standard library, orjson, the store and the tailer; no Textual.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from tui.store import TraceStore
from tui.tailer import DirectoryTailer, FileCursor

INDEX_DIR = ".tracetui-index"
INDEX_NAME = "index.v2"
INDEX_VERSION = 2
# How many bytes before a file's indexed offset are hashed to tell an appended file from a rewritten one.
_TAIL_BYTES = 4096


def index_path(directory: Path) -> Path:
    return directory / INDEX_DIR / INDEX_NAME


def _tail_hash(path: Path, offset: int) -> str:
    with open(path, "rb") as handle:
        start = max(0, offset - _TAIL_BYTES)
        handle.seek(start)
        return hashlib.blake2b(handle.read(offset - start), digest_size=16).hexdigest()


def save_index(store: TraceStore, tailer: DirectoryTailer) -> bool:
    """Write the snapshot for `tailer`'s directory; False (silently) if it cannot be written."""
    directory = tailer.path
    if not directory.is_dir():
        return False  # a single file being watched: no sidecar
    files = []
    try:
        for cursor in tailer.cursors():
            complete = cursor.partial_start if cursor.partial else cursor.offset
            if cursor.inode is None or cursor.discarding:
                continue
            files.append(
                {
                    "name": cursor.path.name,
                    "inode": list(cursor.inode),
                    "offset": complete,
                    "tail": _tail_hash(cursor.path, complete),
                }
            )
        document = {"version": INDEX_VERSION, "files": files, "store": store.snapshot(str(directory))}
        data = orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
        target = index_path(directory)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".index-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
        return True
    except (OSError, ValueError, TypeError):
        return False


def load_index(tailer: DirectoryTailer) -> TraceStore | None:
    """The store saved for `tailer`'s directory, with the tailer's cursors set to go on reading after
    what it holds; None when there is no usable snapshot (the caller then indexes from scratch)."""
    directory = tailer.path
    try:
        document = orjson.loads(index_path(directory).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    try:
        if document.get("version") != INDEX_VERSION:
            return None
        cursors: list[FileCursor] = []
        for item in document["files"]:
            path = directory / item["name"]
            stat = os.stat(path)
            inode = (stat.st_dev, stat.st_ino)
            offset = int(item["offset"])
            if list(inode) != item["inode"] or stat.st_size < offset:
                return None  # replaced or truncated since
            if _tail_hash(path, offset) != item["tail"]:
                return None  # same inode, different bytes: rewritten in place
            cursors.append(FileCursor(path, inode, offset))
        store = TraceStore.restore(document["store"], str(directory))
    except (OSError, KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None
    tailer.set_cursors(cursors)
    return store


def open_store(path: Path, *, use_index: bool = True) -> tuple[TraceStore, DirectoryTailer]:
    """A store for `path` brought up to date, and the tailer that follows it from there.

    Uses the saved snapshot when it is valid (reading only what was appended since), and saves a new
    snapshot when reading added anything.
    """
    tailer = DirectoryTailer(path)
    store = load_index(tailer) if use_index and path.is_dir() else None
    if store is None:
        store = TraceStore()
    read = 0
    for chunk in tailer.poll_chunks():
        store.ingest(chunk)
        read += len(chunk.data) or 1
    if use_index and read:
        save_index(store, tailer)
    return store, tailer


def snapshot_files(document: dict[str, Any]) -> list[str]:
    """The file names a snapshot covers (for diagnostics and tests)."""
    return [item["name"] for item in document.get("files", [])]

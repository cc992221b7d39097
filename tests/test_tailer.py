"""DirectoryTailer (tui.tailer) against real files: complete lines only, and the right thing when files
appear, grow, shrink, are replaced or vanish."""

from __future__ import annotations

import os
from pathlib import Path

from tui import tailer as tailer_module
from tui.tailer import DirectoryTailer


def lines_of(tailer: DirectoryTailer) -> list[tuple[str, int, bytes]]:
    return list(tailer.poll())


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_complete_lines_come_with_file_and_1_based_line_numbers(tmp_path: Path):
    """Each complete line is returned once, without its newline, with its source file and line number."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"one\ntwo\n\nfour\n")
    tailer = DirectoryTailer(tmp_path)
    assert lines_of(tailer) == [(str(path), 1, b"one"), (str(path), 2, b"two"), (str(path), 3, b""),
                                (str(path), 4, b"four")]  # fmt: skip
    assert lines_of(tailer) == []


def test_partial_last_line_is_held_until_its_newline_arrives(tmp_path: Path):
    """A line written in two parts is returned whole, once, after the write that ends it."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"first":1}\n{"sec')
    tailer = DirectoryTailer(tmp_path)
    assert lines_of(tailer) == [(str(path), 1, b'{"first":1}')]
    assert lines_of(tailer) == []
    append(path, b"ond")
    assert lines_of(tailer) == []
    append(path, b'":2}\n{"third":3}\n')
    assert lines_of(tailer) == [(str(path), 2, b'{"second":2}'), (str(path), 3, b'{"third":3}')]


def test_appended_lines_continue_the_line_numbering(tmp_path: Path):
    """Lines appended after a poll come in the next poll, numbered after the ones already read."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"1\n2\n")
    tailer = DirectoryTailer(tmp_path)
    assert [n for _, n, _ in lines_of(tailer)] == [1, 2]
    append(path, b"3\n4\n5\n")
    assert [(n, line) for _, n, line in lines_of(tailer)] == [(3, b"3"), (4, b"4"), (5, b"5")]


def test_new_files_are_picked_up(tmp_path: Path):
    """A trace file created after the first poll is read from its start by the next poll."""
    first = tmp_path / "20240101T000000-a-1-001.jsonl"
    first.write_bytes(b"a1\n")
    tailer = DirectoryTailer(tmp_path)
    assert lines_of(tailer) == [(str(first), 1, b"a1")]
    second = tmp_path / "20240101T000001-b-2-001.jsonl"
    second.write_bytes(b"b1\nb2\n")
    append(first, b"a2\n")
    assert sorted(lines_of(tailer)) == [
        (str(first), 2, b"a2"),
        (str(second), 1, b"b1"),
        (str(second), 2, b"b2"),
    ]


def test_truncated_file_is_read_again_from_the_start(tmp_path: Path):
    """A file that shrinks below what was read is read again from line 1."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"old line one\nold line two\n")
    tailer = DirectoryTailer(tmp_path)
    assert len(lines_of(tailer)) == 2
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(b"new\n")
    assert lines_of(tailer) == [(str(path), 1, b"new")]
    assert tailer.files_reset == 1


def test_truncated_file_drops_a_held_partial_line(tmp_path: Path):
    """After a truncation the half line held from the old content is not glued to the new content."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"complete\nhalf-of-an-old-line")
    tailer = DirectoryTailer(tmp_path)
    assert lines_of(tailer) == [(str(path), 1, b"complete")]
    path.write_bytes(b"fresh\n")  # opened with "wb": truncated, then shorter content
    assert lines_of(tailer) == [(str(path), 1, b"fresh")]


def test_replaced_file_is_read_again(tmp_path: Path):
    """A file replaced by another (new inode, os.replace) is read from its start, even if larger."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"old 1\nold 2\n")
    tailer = DirectoryTailer(tmp_path)
    assert len(lines_of(tailer)) == 2
    staging = tmp_path / "staging.tmp"
    staging.write_bytes(b"new 1\nnew 2\nnew 3\n")
    os.replace(staging, path)
    assert lines_of(tailer) == [(str(path), 1, b"new 1"), (str(path), 2, b"new 2"), (str(path), 3, b"new 3")]
    assert tailer.files_reset == 1


def test_deleted_file_is_forgotten_without_error(tmp_path: Path):
    """A deleted file yields nothing and no error; a new file of the same name is read from line 1."""
    keep = tmp_path / "keep.jsonl"
    gone = tmp_path / "gone.jsonl"
    keep.write_bytes(b"k\n")
    gone.write_bytes(b"g1\ng2\n")
    tailer = DirectoryTailer(tmp_path)
    assert len(lines_of(tailer)) == 3
    gone.unlink()
    append(keep, b"k2\n")
    assert lines_of(tailer) == [(str(keep), 2, b"k2")]
    assert tailer.files() == [keep]
    gone.write_bytes(b"again\n")
    assert lines_of(tailer) == [(str(gone), 1, b"again")]


def test_files_other_than_jsonl_are_ignored(tmp_path: Path):
    """Only *.jsonl files in the directory are read; other files and subdirectories are not."""
    (tmp_path / "notes.txt").write_bytes(b"not a trace\n")
    (tmp_path / "a.jsonl.tmp").write_bytes(b"half written\n")
    (tmp_path / "dir.jsonl").mkdir()
    (tmp_path / "dir.jsonl" / "inner.jsonl").write_bytes(b"nested\n")
    trace = tmp_path / "a.jsonl"
    trace.write_bytes(b"yes\n")
    tailer = DirectoryTailer(tmp_path)
    assert lines_of(tailer) == [(str(trace), 1, b"yes")]
    assert tailer.files() == [trace]


def test_files_are_read_newest_name_first(tmp_path: Path):
    """Files come newest name first (names begin with a UTC timestamp), so a viewer shows the newest
    traces while older files are still being read."""
    names = [
        "20240103T000000-x-1-001.jsonl",
        "20240101T000000-x-1-001.jsonl",
        "20240102T000000-x-1-001.jsonl",
    ]
    for name in names:
        (tmp_path / name).write_bytes(name.encode() + b"\n")
    read = [line.decode() for _, _, line in lines_of(DirectoryTailer(tmp_path))]
    assert read == sorted(names, reverse=True)


def test_a_path_that_is_a_single_file_is_followed(tmp_path: Path):
    """Given one file (whatever its suffix) instead of a directory, the tailer follows that file."""
    path = tmp_path / "one-trace.log"
    path.write_bytes(b"x\ny")
    (tmp_path / "other.jsonl").write_bytes(b"other\n")
    tailer = DirectoryTailer(path)
    assert lines_of(tailer) == [(str(path), 1, b"x")]
    append(path, b"\n")
    assert lines_of(tailer) == [(str(path), 2, b"y")]


def test_nonexistent_directory_yields_nothing_until_it_appears(tmp_path: Path):
    """A directory that does not exist yields nothing, without error, and is read once created."""
    directory = tmp_path / "not-yet"
    tailer = DirectoryTailer(directory)
    assert lines_of(tailer) == []
    assert tailer.files() == []
    directory.mkdir()
    (directory / "a.jsonl").write_bytes(b"now\n")
    assert lines_of(tailer) == [(str(directory / "a.jsonl"), 1, b"now")]


def test_crlf_and_binary_content_pass_through_unchanged(tmp_path: Path):
    """Lines split on \\n only; other bytes (\\r, invalid UTF-8, NUL) go on for the store to judge."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"a\r\n\xff\x00\n")
    assert lines_of(DirectoryTailer(tmp_path)) == [(str(path), 1, b"a\r"), (str(path), 2, b"\xff\x00")]


def test_lines_spanning_read_chunks_are_whole_and_numbered(tmp_path: Path, monkeypatch):
    """With reads smaller than a line, lines split across chunk boundaries still come out whole."""
    monkeypatch.setattr(tailer_module, "READ_CHUNK_BYTES", 3)
    path = tmp_path / "a.jsonl"
    content = b"first line\nx\n\nthe fourth line\nfifth"
    path.write_bytes(content)
    tailer = DirectoryTailer(tmp_path)
    assert [(n, line) for _, n, line in lines_of(tailer)] == [
        (1, b"first line"), (2, b"x"), (3, b""), (4, b"the fourth line")
    ]  # fmt: skip
    append(path, b" and more\n")
    assert [(n, line) for _, n, line in lines_of(tailer)] == [(5, b"fifth and more")]


def test_an_over_long_line_is_replaced_by_one_marker_line(tmp_path: Path, monkeypatch):
    """A line longer than MAX_LINE_BYTES is not buffered: one non-JSON marker takes its place and number."""
    monkeypatch.setattr(tailer_module, "MAX_LINE_BYTES", 10)
    monkeypatch.setattr(tailer_module, "READ_CHUNK_BYTES", 4)
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"short\n" + b"L" * 50)
    tailer = DirectoryTailer(tmp_path)
    assert [(n, line) for _, n, line in lines_of(tailer)] == [(1, b"short")]
    append(path, b"L" * 50 + b"\nafter\n")
    result = [(n, line) for _, n, line in lines_of(tailer)]
    assert [n for n, _ in result] == [2, 3]
    assert result[1] == (3, b"after")
    assert not result[0][1].startswith(b"{") and len(result[0][1]) < 50
    assert tailer.oversized_lines == 1

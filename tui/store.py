"""The trace store: records in, traces out. The one reader behind `show`, `ls` and the viewer.

Lines are fed in as they are read (`ingest_line`), in any order across files: a span's end may arrive
before its start, a child before its parent, a trace's summary before its spans. The store keeps what it
has and answers from it: trace summaries newest first, one trace with its spans, one span's details.
Malformed lines and records of unknown kinds are skipped and counted, never raised.

Pure Python: imports `tracer.schema` and the standard library, never Textual or Rich, so it is tested
without a terminal and used by the CLI's plain JSON output.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import orjson

from tracer import schema
from tui.liveness import Liveness
from tui.tailer import Chunk, DirectoryTailer

PREVIEW_MAX_CHARS = 1000


@dataclass
class ProcessInfo:
    """Who wrote a file: from its first (PROCESS) record."""

    pid: int | None
    host: str | None
    argv: list[str]
    python: str | None
    tracer_version: str | None
    schema_version: int | None
    start_ns: int | None = None  # when its writer started (tells a reused pid from the writer's)


@dataclass
class Event:
    name: str
    time_ns: int
    attributes: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "time_ns": self.time_ns, "attributes": self.attributes}


@dataclass
class Span:
    """One span as read back. `started` is False while only its later records have arrived."""

    trace_id: str
    span_id: str
    parent_id: str | None = None
    raw_name: str = ""
    name: str = ""  # deduplicated within the trace (`name_1`, `name_2`, …); set by `Trace.spans`
    span_type: str = "UNKNOWN"
    start_ns: int | None = None
    end_ns: int | None = None
    status: str = schema.STATUS_UNSET
    status_message: str = ""
    inputs: Any = None
    outputs: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    location: dict[str, Any] | None = None
    source: str | None = None  # the file its start record came from
    started: bool = False
    # No end, and the process that wrote its start is gone (set by the store: `TraceStore.get`).
    interrupted: bool = False

    @property
    def running(self) -> bool:
        """No end yet, and its process may still end it (not `interrupted`)."""
        return self.end_ns is None and not self.interrupted

    @property
    def duration_ns(self) -> int | None:
        if self.start_ns is None or self.end_ns is None:
            return None
        return self.end_ns - self.start_ns

    def to_json(self) -> dict[str, Any]:
        return {
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "name": self.name or self.raw_name,
            "raw_name": self.raw_name,
            "span_type": self.span_type,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "status": {"code": self.status, "message": self.status_message},
            "inputs": self.inputs,
            "outputs": self.outputs,
            "attributes": self.attributes,
            "events": [event.to_json() for event in self.events],
            "location": self.location,
            "interrupted": self.interrupted,
        }


@dataclass
class TraceSummary:
    """What the trace list shows of one trace."""

    trace_id: str
    name: str
    status: str
    start_ns: int | None
    end_ns: int | None
    span_count: int
    error_count: int
    request_preview: str | None
    response_preview: str | None
    tags: dict[str, Any]

    @property
    def duration_ms(self) -> float | None:
        if self.start_ns is None or self.end_ns is None:
            return None
        return (self.end_ns - self.start_ns) / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "name": self.name,
            "status": self.status,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_ms": self.duration_ms,
            "span_count": self.span_count,
            "error_count": self.error_count,
            "request_preview": self.request_preview,
            "response_preview": self.response_preview,
            "tags": self.tags,
        }


def _preview(value: Any) -> str | None:
    if value is None:
        return None
    try:
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
    except TypeError:  # nested deeper than orjson writes (255), though it reads up to 1024
        text = "…"
    if len(text) > PREVIEW_MAX_CHARS:
        text = text[: PREVIEW_MAX_CHARS - 3] + "..."
    return text


class Trace:
    """All that is known of one trace: its spans, trace-level updates, and its summary record."""

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self._spans: dict[str, Span] = {}
        self.tags: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}
        self.request_preview: str | None = None
        self.response_preview: str | None = None
        self.summary_record: dict[str, Any] | None = None
        self._ordered: list[Span] | None = None  # cache of `spans`, dropped on every change
        self._summary: TraceSummary | None = None  # cache of `summary()`, dropped on every record
        self.changes = 0  # records applied so far (the store re-checks liveness when this moves)
        self.liveness_checked: tuple[int, float] | None = None  # (changes, when) of the last check

    def span(self, span_id: str) -> Span:
        """The span with this id, created empty if its start record has not arrived yet."""
        span = self._spans.get(span_id)
        if span is None:
            span = self._spans[span_id] = Span(self.trace_id, span_id)
        self._ordered = None
        return span

    def get_span(self, span_id: str) -> Span | None:
        return self._spans.get(span_id)

    @property
    def spans(self) -> list[Span]:
        """Started spans in start order, each with its deduplicated display `name`."""
        if self._ordered is None:
            spans = sorted(
                (s for s in self._spans.values() if s.started),
                key=lambda s: (s.start_ns or 0, s.span_id),
            )
            counts: dict[str, int] = {}
            for span in spans:
                counts[span.raw_name] = counts.get(span.raw_name, 0) + 1
            seen: dict[str, int] = {}
            for span in spans:
                if counts[span.raw_name] > 1:
                    seen[span.raw_name] = seen.get(span.raw_name, 0) + 1
                    span.name = f"{span.raw_name}_{seen[span.raw_name]}"
                else:
                    span.name = span.raw_name
            self._ordered = spans
        return self._ordered

    @property
    def root(self) -> Span | None:
        """The span without a parent (or whose parent never arrived), earliest first."""
        spans = self.spans
        for span in spans:
            if span.parent_id is None:
                return span
        ids = {s.span_id for s in spans}
        for span in spans:
            if span.parent_id not in ids:
                return span
        return None

    def children(self, span_id: str | None) -> list[Span]:
        return [s for s in self.spans if s.parent_id == span_id]

    def summary(self) -> TraceSummary:
        # Cached: the viewer asks for every trace's summary on each refresh, and most have not changed.
        if self._summary is None:
            self._summary = self._make_summary()
        return self._summary

    def _make_summary(self) -> TraceSummary:
        record = self.summary_record
        root = self.root
        spans = self.spans
        if record is not None:
            return TraceSummary(
                trace_id=self.trace_id,
                name=record.get(schema.NAME) or "",
                status=record.get(schema.STATUS) or schema.STATUS_UNSET,
                start_ns=record.get(schema.START_NS),
                end_ns=record.get(schema.END_NS),
                span_count=max(_int(record.get(schema.SPAN_COUNT)), len(spans)),
                error_count=_int(record.get(schema.ERROR_COUNT)),
                request_preview=_str_or_none(record.get(schema.REQUEST_PREVIEW)),
                response_preview=_str_or_none(record.get(schema.RESPONSE_PREVIEW)),
                tags={**self.tags, **_dict(record.get(schema.TAGS))},
            )
        if root is None:
            status = schema.TRACE_IN_PROGRESS
        elif root.end_ns is None:
            status = schema.TRACE_INTERRUPTED if root.interrupted else schema.TRACE_IN_PROGRESS
        else:
            status = root.status if root.status != schema.STATUS_UNSET else schema.STATUS_OK
        return TraceSummary(
            trace_id=self.trace_id,
            name=root.raw_name if root else "",
            status=status,
            start_ns=root.start_ns if root else None,
            end_ns=root.end_ns if root else None,
            span_count=len(spans),
            error_count=sum(1 for s in spans if s.status == schema.STATUS_ERROR),
            request_preview=self.request_preview
            if self.request_preview is not None
            else _preview(root.inputs if root else None),
            response_preview=self.response_preview
            if self.response_preview is not None
            else _preview(root.outputs if root else None),
            tags=dict(self.tags),
        )

    def apply(self, record: dict[str, Any], source: str) -> None:
        """Take one decoded record of this trace (any kind, in any order)."""
        kind = record[schema.KIND]
        self._summary = None  # any record may change what the summary says
        self.changes += 1
        if kind == schema.SPAN_START:
            span = self.span(record[schema.SPAN_ID])
            span.parent_id = _str_or_none(record.get(schema.PARENT_ID))
            span.raw_name = record[schema.NAME]
            span.span_type = _str_or_none(record.get(schema.SPAN_TYPE)) or "UNKNOWN"
            span.start_ns = record[schema.START_NS]
            if span.inputs is None:  # an end record's inputs (set later) win over the start's
                span.inputs = record.get(schema.INPUTS)
            # Attributes from the end record (already here if it came first) win over the start's.
            span.attributes = {**_dict(record.get(schema.ATTRIBUTES)), **span.attributes}
            location = record.get(schema.LOCATION)
            span.location = location if isinstance(location, dict) else None
            span.source = source
            span.started = True
        elif kind == schema.SPAN_END:
            span = self.span(record[schema.SPAN_ID])
            span.end_ns = record[schema.END_NS]
            span.status = record[schema.STATUS]
            span.status_message = _str_or_none(record.get(schema.STATUS_MESSAGE)) or ""
            span.interrupted = False
            span.outputs = record.get(schema.OUTPUTS)
            if schema.INPUTS in record:
                span.inputs = record[schema.INPUTS]
            span.attributes.update(_dict(record.get(schema.ATTRIBUTES)))
        elif kind == schema.SPAN_EVENT:
            span = self.span(record[schema.SPAN_ID])
            event = Event(record[schema.NAME], record[schema.TIME_NS], _dict(record.get(schema.ATTRIBUTES)))
            events = span.events
            events.append(event)
            if len(events) > 1 and events[-2].time_ns > event.time_ns:
                events.sort(key=lambda e: e.time_ns)
        elif kind == schema.TRACE_UPDATE:
            self.tags.update(_dict(record.get(schema.TAGS)))
            self.metadata.update(_dict(record.get(schema.METADATA)))
            if isinstance(record.get(schema.REQUEST_PREVIEW), str):
                self.request_preview = record[schema.REQUEST_PREVIEW]
            if isinstance(record.get(schema.RESPONSE_PREVIEW), str):
                self.response_preview = record[schema.RESPONSE_PREVIEW]
        elif kind == schema.TRACE_SUMMARY:
            self.summary_record = record

    def to_json(self) -> dict[str, Any]:
        """The trace as `tracetui show --json` prints it (documented in docs/format.md)."""
        summary = self.summary()
        return {
            "trace_id": self.trace_id,
            "name": summary.name,
            "status": summary.status,
            "start_ns": summary.start_ns,
            "end_ns": summary.end_ns,
            "duration_ms": summary.duration_ms,
            "request_preview": summary.request_preview,
            "response_preview": summary.response_preview,
            "tags": summary.tags,
            "metadata": {**self.metadata, **_dict((self.summary_record or {}).get(schema.METADATA))},
            "spans": [span.to_json() for span in self.spans],
        }


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass
class SkippedLine:
    source: str
    line: int
    reason: str


# -- routing lines by their first bytes ---------------------------------------------------------------
# The format puts `kind` then `trace_id` first (see tracer/schema.py), so where things sit in a line is
# known once the kind is read. The positions are derived from the schema's own encoder, not spelled here.
_PREFIX = b'{"kind":"'
_TID_SEP = b'","trace_id":"'
_TID_LEN = 32
_SAMPLE_START = schema.encode_span_start("a" * 32, "b" * 16, None, "n", "t", 0, None, None, None)
_SAMPLE_END = schema.encode_span_end("a" * 32, "b" * 16, 0, schema.STATUS_ERROR, "", None, {})
_TID_END_START = _SAMPLE_START.index(b"a" * 32) + 32  # where the trace id ends in a span_start line
_TID_END_END = _SAMPLE_END.index(b"a" * 32) + 32
# In span_start: a null parent (a root span) sits at a fixed distance after the trace id.
_ROOT_MARK = b',"parent_id":null'
_ROOT_AT = _SAMPLE_START.index(_ROOT_MARK) - _TID_END_START
# In span_start and span_end: where the span id sits relative to the end of the trace id.
_SPAN_ID_AT = _SAMPLE_START.index(b"b" * 16) - _TID_END_START
_ERROR_MARK = b'"status":"' + schema.STATUS_ERROR.encode() + b'"'
_KIND_CODES = {kind.encode(): kind for kind in schema.KINDS}
_SPAN_BOUNDS = (schema.SPAN_START, schema.SPAN_END)
_KNOWN_HEADS = frozenset(_KIND_CODES) | {b""}


_HEAD = re.compile(rb'\{"kind":"([a-z_]+)","trace_id":"([0-9a-f]{32})"')


def _scan(data: bytes, end: int) -> tuple[list[int], list[bytes], list[bytes], list[int]]:
    """For each line of `data[:end]` (which ends with a newline): where it starts (plus a final entry: the
    end), its kind and trace id (empty when it does not start the way ours do), and the numbers of the
    lines that do not end with "}" (cut short, or not ours). One pass; only line heads are copied."""
    find = data.find
    match = _HEAD.match
    starts: list[int] = []
    kinds: list[bytes] = []
    tids: list[bytes] = []
    suspicious: list[int] = []
    add_start, add_kind, add_tid = starts.append, kinds.append, tids.append
    position = 0
    number = 0
    while True:
        newline = find(b"\n", position, end)
        if newline < 0:
            break
        add_start(position)
        head = match(data, position, newline)
        if head is None:
            add_kind(b"")
            add_tid(b"")
        else:
            kind, tid = head.groups()
            add_kind(kind)
            add_tid(tid)
        if data[newline - 1] != 0x7D:  # "}"
            suspicious.append(number)
        number += 1
        position = newline + 1
    add_start(position)
    return starts, kinds, tids, suspicious


def _any_between(sorted_numbers: list[int], low: int, high: int) -> bool:
    at = bisect.bisect_left(sorted_numbers, low)
    return at < len(sorted_numbers) and sorted_numbers[at] <= high


def _route(line: bytes) -> tuple[str, bytes, int] | None:
    """(kind, trace id bytes, where the trace id ends) of a line as our writer writes it, else None."""
    if not line.startswith(_PREFIX):
        return None
    quote = line.find(b'"', 9)
    kind = _KIND_CODES.get(line[9:quote])
    if kind is None or kind == schema.PROCESS or line[quote : quote + 14] != _TID_SEP:
        return None
    tid_end = quote + 14 + _TID_LEN
    if line[tid_end : tid_end + 1] != b'"':
        return None
    tid = line[quote + 14 : tid_end]
    if not tid.isascii() or b"\\" in tid:
        return None  # not our hex ids (an escape, or bytes that may not even be UTF-8): let `decode` judge
    return kind, tid, tid_end


class TraceEntry:
    """What the index knows of one trace without having parsed its spans: where its records are, and
    enough to list it (from its summary record, or its root span and counters while it runs)."""

    __slots__ = (
        "trace_id",
        "ranges",
        "records",
        "root_span_id",
        "name",
        "start_ns",
        "end_ns",
        "root_status",
        "span_count",
        "error_count",
        "request_preview",
        "response_preview",
        "root_request",
        "root_response",
        "tags",
        "summary_record",
        "summary_at",
        "summary",
        "search_text",
        "early_ends",
        "root_source",
    )

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self.ranges: dict[int, list[int]] = {}  # file number -> [first byte, end byte) of its records
        self.records: list[dict[str, Any]] | None = None  # records fed without a file location
        self.root_span_id: str | None = None
        self.name = ""
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.root_status: str | None = None
        self.span_count = 0
        self.error_count = 0
        self.request_preview: str | None = None  # set by trace_update records
        self.response_preview: str | None = None
        self.root_request: str | None = None  # from the root span's inputs / outputs
        self.root_response: str | None = None
        self.tags: dict[str, Any] = _NO_TAGS  # replaced by a dict of its own on the first tag
        # The summary record, slimmed to what the list shows (previews cut to INDEX_PREVIEW_CHARS; the
        # whole record is at `summary_at`, (file number, byte offset), when it came from a file).
        self.summary_record: dict[str, Any] | None = None
        self.summary_at: tuple[int, int] | None = None
        self.summary: TraceSummary | None = None  # cached; dropped when anything changes
        self.search_text: str | None = None  # what `TraceStore.search` matches, made with `summary`
        # Span ends read before the root's start (its start is in an older file, which is read later):
        # span id -> (end_ns, status, outputs preview), until the root is known.
        self.early_ends: dict[str, tuple[Any, Any, str | None]] | None = None
        # The file the root span's start came from: its PROCESS record tells whether the root can still
        # end (`TraceStore.summary` marks the trace INTERRUPTED when that process is gone).
        self.root_source: str | None = None

    def note(self, record: dict[str, Any], source: str | None = None) -> None:
        """Take what the list needs from a parsed record of this trace (read from file `source`)."""
        kind = record[schema.KIND]
        self.summary = None
        if kind == schema.SPAN_START:
            if record.get(schema.PARENT_ID) is None:
                self.root_span_id = record[schema.SPAN_ID]
                self.root_source = source
                self.name = record[schema.NAME]
                self.start_ns = record[schema.START_NS]
                if self.summary_record is None:  # else not needed (see TRACE_SUMMARY below)
                    self.root_request = _cut(_preview(record.get(schema.INPUTS)))
                early = self.early_ends
                if early is not None:
                    self.early_ends = None
                    if self.root_span_id in early:
                        self.end_ns, self.root_status, response = early[self.root_span_id]
                        if self.summary_record is None:
                            self.root_response = response
        elif kind == schema.SPAN_END:
            span_id = record[schema.SPAN_ID]
            if span_id == self.root_span_id:
                self.end_ns = record[schema.END_NS]
                self.root_status = record[schema.STATUS]
                if self.summary_record is None:
                    self.root_response = _cut(_preview(record.get(schema.OUTPUTS)))
            elif self.root_span_id is None:
                if self.early_ends is None:
                    self.early_ends = {}
                self.early_ends[span_id] = (
                    record[schema.END_NS],
                    record[schema.STATUS],
                    _cut(_preview(record.get(schema.OUTPUTS))),
                )
        elif kind == schema.TRACE_UPDATE:
            tags = _dict(record.get(schema.TAGS))
            if tags:
                self.tags = {**self.tags, **tags}
            if isinstance(record.get(schema.REQUEST_PREVIEW), str):
                self.request_preview = _cut(record[schema.REQUEST_PREVIEW])
            if isinstance(record.get(schema.RESPONSE_PREVIEW), str):
                self.response_preview = _cut(record[schema.RESPONSE_PREVIEW])
        elif kind == schema.TRACE_SUMMARY:
            self.summary_record = _slim_summary(record)
            root_span_id = record.get(schema.ROOT_SPAN_ID)
            if isinstance(root_span_id, str):
                self.root_span_id = root_span_id
            # The summary record now answers for the list (`make_summary`): the root's previews are no
            # longer read. Dropped, they cost neither memory nor space in the persistent index.
            self.root_request = self.root_response = None

    def make_summary(self, interrupted: bool = False) -> TraceSummary:
        """The list's row; `interrupted`: the root has no end and its process is gone."""
        record = self.summary_record
        if record is not None:
            return summary_from_record(self.trace_id, record, self.span_count, self.tags)
        if self.root_status is None:
            status = schema.TRACE_INTERRUPTED if interrupted else schema.TRACE_IN_PROGRESS
        else:
            status = self.root_status if self.root_status != schema.STATUS_UNSET else schema.STATUS_OK
        return TraceSummary(
            trace_id=self.trace_id,
            name=self.name,
            status=status,
            start_ns=self.start_ns,
            end_ns=self.end_ns if self.root_status is not None else None,
            span_count=self.span_count,
            error_count=self.error_count,
            request_preview=self.request_preview if self.request_preview is not None else self.root_request,
            response_preview=self.response_preview
            if self.response_preview is not None
            else self.root_response,
            tags=dict(self.tags),
        )

    def sort_key(self) -> tuple[int, str]:
        record = self.summary_record
        start = record.get(schema.START_NS) if record is not None else self.start_ns
        return (start if type(start) is int else -1, self.trace_id)


class TraceStore:
    """Traces indexed from trace files (or fed line by line), parsed only when asked for.

    Feeding: `ingest_chunk` takes whole lines read from a file at a known offset: each line is routed
    by its first bytes (`_route`) and only remembered as part of its trace's byte range; the one or two
    records a trace needs for the list (its summary, its root span) are parsed. `ingest_line` takes a
    line without a location (tests, other sources) and parses it at once.

    Asking: `summaries()` (newest first) and `view()` answer from the index; `get(trace_id)` parses
    that trace's records from its byte ranges and keeps it in a small LRU, so the trace a viewer shows
    is parsed once and then updated in place as its new lines arrive.
    """

    LOADED_TRACES = 64

    def __init__(self) -> None:
        self._entries: dict[str, TraceEntry] = {}
        self._order: list[tuple[int, str]] = []  # (start_ns, trace_id) ascending: newest last
        self._order_keys: dict[str, tuple[int, str]] = {}
        self._loaded: OrderedDict[str, Trace] = OrderedDict()
        self._files: list[str] = []
        self._file_numbers: dict[str, int] = {}
        self._line_counts: list[int] = []  # lines indexed so far, per file
        self._counted_bad: set[tuple[int, int]] = set()  # (file, offset) of lines found bad on load
        self.processes: dict[str, ProcessInfo] = {}
        self.liveness = Liveness()  # is a file's writer still running? (cached, see tui/liveness.py)
        self.lines_read = 0
        self.lines_skipped = 0
        self.first_skipped: SkippedLine | None = None
        self.version = 0  # bumped on every change, so views can tell whether to redraw
        self._search_cache: tuple[int, int, tuple[list[str], list[str]]] | None = None

    # -- feeding -----------------------------------------------------------------------------------

    def ingest_lines(self, lines: Iterable[tuple[str, int, bytes]]) -> None:
        for source, lineno, line in lines:
            self.ingest_line(line, source, lineno)

    def ingest_line(self, line: bytes, source: str = "<memory>", lineno: int = 0) -> None:
        """Take one line with no file location (without or with its newline): parsed at once.
        Bad lines are counted, never raised."""
        self.lines_read += 1
        if not line.strip():
            return
        try:
            record = schema.decode(line)
        except schema.SchemaError as exc:
            self._skip(source, lineno, str(exc))
            return
        self._take_record(record, source, None)
        self.version += 1

    def ingest_chunk(self, source: str, offset: int, data: bytes, end: int = -1) -> None:
        """Index whole lines read from `source` starting at byte `offset`: `data[:end]` (all of `data`
        when `end` is -1), which ends with a newline. Chunks of one file must come in file order: the
        store numbers their lines.

        Work is done per *run* of consecutive lines of one trace (a writer appends a trace's records
        mostly together), not per line: the lines' kinds and trace ids are read by one regular
        expression pass in C, runs are found with `groupby`, and only a run's few interesting lines (its
        summary, trace updates; root span and errors while the trace has no summary) are looked at.
        """
        number = self._file_number(source)
        starts, kinds, tids, suspicious = _scan(data, len(data) if end < 0 else end)
        count = len(kinds)
        self.lines_read += count
        first_line = self._line_counts[number] + 1
        self._line_counts[number] += count

        def line_at(i: int) -> bytes:
            return data[starts[i] : starts[i + 1] - 1]

        moved: dict[str, TraceEntry] = {}
        loaded = self._loaded
        entries = self._entries
        unknown = set(kinds) - _KNOWN_HEADS  # kinds from a newer writer: their runs go line by line
        for tid_bytes, group in itertools.groupby(range(count), tids.__getitem__):
            run = list(group)
            first, last = run[0], run[-1]
            trace_id = tid_bytes.decode() if tid_bytes else ""
            run_kinds = kinds[first : last + 1]
            if (
                not tid_bytes
                or (loaded and trace_id in loaded)
                or (suspicious and _any_between(suspicious, first, last))
                or (unknown and not unknown.isdisjoint(run_kinds))
            ):
                for i in run:
                    self._index_line(line_at(i), source, number, first_line + i, offset + starts[i], moved)
                continue
            entry = entries.get(trace_id)
            if entry is None:
                entry = entries[trace_id] = TraceEntry(trace_id)
            start = offset + starts[first]
            end = offset + starts[last + 1]
            span = entry.ranges.get(number)
            if span is None:
                entry.ranges[number] = [start, end]
            else:
                span[0], span[1] = min(span[0], start), max(span[1], end)
            entry.span_count += run_kinds.count(b"span_start")
            entry.summary = None
            moved[trace_id] = entry
            for special in (b"trace_update", b"trace_summary"):
                if special in run_kinds:
                    for at, kind in enumerate(run_kinds):
                        if kind == special:
                            i = first + at
                            self._note_line(
                                entry, line_at(i), source, number, first_line + i, offset + starts[i]
                            )
            if entry.summary_record is not None:
                continue  # the summary answers for the list: no need to look at the spans
            for at, kind in enumerate(run_kinds):
                if kind == b"span_start" or kind == b"span_end":
                    i = first + at
                    self._note_span_bound(
                        entry, line_at(i), kind, source, number, first_line + i, offset + starts[i]
                    )
        self._place_many(moved.values())
        self.version += 1

    def _note_line(
        self, entry: TraceEntry, line: bytes, source: str, number: int, lineno: int, start: int
    ) -> dict[str, Any] | None:
        """Parse one line of `entry` and take what the list needs from it; None if it is bad."""
        try:
            record = schema.decode(line)
        except schema.SchemaError as exc:
            self._skip(source, lineno, str(exc))
            self._counted_bad.add((number, start))  # so `get` does not count it again
            return None
        entry.note(record, source)
        if record[schema.KIND] == schema.TRACE_SUMMARY:
            entry.summary_at = (number, start)
        return record

    def _note_span_bound(
        self, entry: TraceEntry, line: bytes, kind: bytes, source: str, number: int, lineno: int, start: int
    ) -> None:
        """A span_start / span_end line of a trace with no summary yet: the root's start and end (for
        name, time, status, previews) are parsed; other spans' ends are only checked for errors."""
        tid_end = line.index(b'"', 9) + 14 + _TID_LEN
        if kind == b"span_start":
            if line.startswith(_ROOT_MARK, tid_end + _ROOT_AT):
                self._note_line(entry, line, source, number, lineno, start)
            return
        if line.find(_ERROR_MARK, tid_end, tid_end + 80) >= 0:
            entry.error_count += 1
        root = entry.root_span_id
        at = tid_end + _SPAN_ID_AT
        # With the root unknown yet, any end may be the root's (kept in `early_ends`).
        if root is None or line[at : at + 16] == root.encode():
            self._note_line(entry, line, source, number, lineno, start)

    def _index_line(
        self, line: bytes, source: str, number: int, lineno: int, start: int, moved: dict[str, TraceEntry]
    ) -> None:
        """One line, the careful way: for lines that are not ours, cut short, or of a trace open in a
        viewer (whose every record is applied to the parsed trace as it arrives)."""
        end = start + len(line) + 1
        route = _route(line) if line.endswith(b"}") else None
        if route is None:
            self._slow_line(line, source, number, lineno, start, end)
            return
        kind, tid_bytes, _ = route
        trace_id = tid_bytes.decode()
        entry = self._entries.get(trace_id)
        if entry is None:
            entry = self._entries[trace_id] = TraceEntry(trace_id)
        span = entry.ranges.get(number)
        if span is None:
            entry.ranges[number] = [start, end]
        else:
            span[0], span[1] = min(span[0], start), max(span[1], end)
        entry.summary = None
        moved[trace_id] = entry
        trace = self._loaded.get(trace_id)
        if trace is None:
            if kind == schema.SPAN_START:
                entry.span_count += 1
                if entry.summary_record is None:
                    self._note_span_bound(entry, line, b"span_start", source, number, lineno, start)
            elif kind == schema.SPAN_END:
                if entry.summary_record is None:
                    self._note_span_bound(entry, line, b"span_end", source, number, lineno, start)
            elif kind != schema.SPAN_EVENT:
                self._note_line(entry, line, source, number, lineno, start)
            return
        try:
            record = schema.decode(line)
        except schema.SchemaError as exc:
            self._skip(source, lineno, str(exc))
            self._counted_bad.add((number, start))
            return
        if kind == schema.SPAN_START:
            entry.span_count += 1
        elif kind == schema.SPAN_END and record[schema.STATUS] == schema.STATUS_ERROR:
            entry.error_count += 1
        if kind in (schema.TRACE_UPDATE, schema.TRACE_SUMMARY) or (
            entry.summary_record is None
            and kind != schema.SPAN_EVENT
            and (record.get(schema.PARENT_ID) is None if kind == schema.SPAN_START else True)
        ):
            entry.note(record, source)
        trace.apply(record, source)

    def _file_number(self, source: str) -> int:
        number = self._file_numbers.get(source)
        if number is None:
            number = self._file_numbers[source] = len(self._files)
            self._files.append(source)
            self._line_counts.append(0)
        return number

    def ingest(self, chunk: Chunk) -> None:
        """Take a chunk from the tailer (a reset chunk first forgets what its file said before)."""
        if chunk.reset:
            self.forget_source(chunk.source)
        if chunk.data:
            self.ingest_chunk(chunk.source, chunk.offset, chunk.data, chunk.end)

    def forget_source(self, source: str) -> None:
        """A file was deleted, truncated or replaced: drop the traces it held. (A trace that also has
        records in other files keeps them; its counters may then be high until it is reopened.)"""
        number = self._file_numbers.get(source)
        if number is None:
            return
        for trace_id, entry in list(self._entries.items()):
            if entry.ranges.pop(number, None) is None:
                continue
            self._loaded.pop(trace_id, None)
            if not entry.ranges and not entry.records:
                del self._entries[trace_id]
                key = self._order_keys.pop(trace_id, None)
                if key is not None:
                    at = bisect.bisect_left(self._order, key)
                    if at < len(self._order) and self._order[at] == key:
                        del self._order[at]
        self._counted_bad = {bad for bad in self._counted_bad if bad[0] != number}
        self._line_counts[number] = 0
        self.processes.pop(source, None)
        self.version += 1

    # -- persistence (see tui/index.py) -------------------------------------------------------------

    # Entry fields saved in the snapshot, one column each (columns load faster than one object per
    # trace, and do not repeat key names).
    _ENTRY_FIELDS = (
        "root_span_id",
        "name",
        "start_ns",
        "end_ns",
        "root_status",
        "span_count",
        "error_count",
        "request_preview",
        "response_preview",
        "root_request",
        "root_response",
        "tags",
        "summary_at",
    )

    def snapshot(self, directory: str) -> dict[str, Any]:
        """The index as JSON-ready data, file paths relative to `directory`."""
        names = [os.path.relpath(source, directory) for source in self._files]
        entries = [entry for entry in self._entries.values() if not entry.records]
        columns: dict[str, list[Any]] = {
            name: [getattr(entry, name) for entry in entries] for name in self._ENTRY_FIELDS
        }
        columns["trace_id"] = [entry.trace_id for entry in entries]
        columns["ranges"] = [
            [value for number, (start, end) in entry.ranges.items() for value in (number, start, end)]
            for entry in entries
        ]
        columns["tags"] = [entry.tags or None for entry in entries]
        numbers = self._file_numbers
        columns["root_file"] = [
            None if entry.root_source is None else numbers.get(entry.root_source) for entry in entries
        ]
        summaries = [entry.summary_record for entry in entries]
        columns["has_summary"] = [record is not None for record in summaries]
        for name in _SLIM_SUMMARY_FIELDS:
            columns["summary." + name] = [None if r is None else r.get(name) for r in summaries]
        for name, column in columns.items():
            if not any(value is not None for value in column):
                columns[name] = None  # type: ignore[assignment]  # all empty: `restore` refills it
        skipped = self.first_skipped
        return {
            "files": names,
            "line_counts": self._line_counts,
            "processes": {
                os.path.relpath(source, directory): info.__dict__ for source, info in self.processes.items()
            },
            "lines_read": self.lines_read,
            "lines_skipped": self.lines_skipped,
            "first_skipped": None
            if skipped is None
            else [os.path.relpath(skipped.source, directory), skipped.line, skipped.reason],
            "bad": sorted(self._counted_bad),
            "entries": columns,
        }

    @classmethod
    def restore(cls, data: dict[str, Any], directory: str) -> TraceStore:
        """A store from `snapshot` data (raises KeyError/TypeError/ValueError if it is malformed)."""
        store = cls()
        store._files = [os.path.join(directory, name) for name in data["files"]]
        for name in data["files"]:
            if not isinstance(name, str) or name.startswith("..") or os.path.isabs(name):
                raise ValueError(f"snapshot names a file outside the directory: {name!r}")
        store._file_numbers = {source: number for number, source in enumerate(store._files)}
        store._line_counts = [int(count) for count in data["line_counts"]]
        if len(store._line_counts) != len(store._files):
            raise ValueError("line counts do not match files")
        store.processes = {
            os.path.join(directory, name): ProcessInfo(**info) for name, info in data["processes"].items()
        }
        store.lines_read = int(data["lines_read"])
        store.lines_skipped = int(data["lines_skipped"])
        skipped = data["first_skipped"]
        if skipped is not None:
            store.first_skipped = SkippedLine(os.path.join(directory, skipped[0]), skipped[1], skipped[2])
        store._counted_bad = {(number, offset) for number, offset in data["bad"]}
        columns = data["entries"]
        ids = columns["trace_id"]
        count = len(ids)
        for name, column in columns.items():
            if column is None:
                columns[name] = [None] * count  # saved as null: every value was None
        if any(len(column) != count for column in columns.values()):
            raise ValueError("snapshot columns of different lengths")
        files = len(store._files)
        ranges_column = columns["ranges"]
        # Everything is checked here, in bulk, so that entries built later (lazily) can trust it.
        # (`set(map(type, ...))` and friends: checks that run in C, not a Python loop per value.)
        if any(length % 3 for length in set(map(len, ranges_column))):
            raise ValueError("snapshot range is not a byte range")
        values = list(itertools.chain.from_iterable(ranges_column))
        if not set(map(type, values)) <= {int} or (values and min(values) < 0):
            raise ValueError("snapshot range is not a byte range")
        if values and max(values[0::3]) >= files:
            raise ValueError("snapshot range names no file")
        if not set(map(type, columns["tags"])) <= {dict, type(None)}:
            raise ValueError("snapshot entry of the wrong shape")
        if not set(map(type, columns["span_count"])) <= {int}:
            raise ValueError("snapshot entry of the wrong shape")
        root_files = columns.get("root_file") or [None] * count  # absent from older snapshots
        if len(root_files) != count:
            raise ValueError("snapshot columns of different lengths")
        starts = [
            (summary_start if has else start) or -1
            for start, summary_start, has in zip(
                columns["start_ns"], columns["summary.start_ns"], columns["has_summary"], strict=True
            )
        ]
        if not set(map(type, starts)) <= {int}:
            raise ValueError("snapshot start times are not integers")
        keys = list(zip(starts, ids, strict=True))
        store._order_keys = dict(zip(ids, keys, strict=True))
        store._entries = _LazyEntries(
            {trace_id: row for row, trace_id in enumerate(ids)},
            functools.partial(_entry_from_columns, columns, root_files, store._files),
        )
        order = store._order
        order.extend(keys)
        order.sort()
        store.version = 1
        return store

    def _slow_line(self, line: bytes, source: str, number: int, lineno: int, start: int, end: int) -> None:
        """A line that does not route by its first bytes: a PROCESS record, blank, another writer's
        key order, or garbage. Parse it to find out."""
        if not line.strip():
            return
        try:
            record = schema.decode(line)
        except schema.SchemaError as exc:
            self._skip(source, lineno, str(exc))
            self._counted_bad.add((number, start))
            return
        self._take_record(record, source, (number, start, end))

    def _take_record(
        self, record: dict[str, Any], source: str, location: tuple[int, int, int] | None
    ) -> None:
        if record[schema.KIND] == schema.PROCESS:
            self.processes[source] = _process_info(record)
            return
        trace_id: str = record[schema.TRACE_ID]
        entry = self._entries.get(trace_id)
        if entry is None:
            entry = self._entries[trace_id] = TraceEntry(trace_id)
        if location is None:
            if entry.records is None:
                entry.records = []
            entry.records.append(record)
        else:
            number, start, end = location
            span = entry.ranges.get(number)
            if span is None:
                entry.ranges[number] = [start, end]
            else:
                span[0], span[1] = min(span[0], start), max(span[1], end)
        kind = record[schema.KIND]
        if kind == schema.SPAN_START:
            entry.span_count += 1
        elif kind == schema.SPAN_END and record[schema.STATUS] == schema.STATUS_ERROR:
            entry.error_count += 1
        entry.note(record, source)
        self._place(entry)
        trace = self._loaded.get(trace_id)
        if trace is not None:
            trace.apply(record, source)

    def _place_many(self, entries: Iterable[TraceEntry]) -> None:
        """`_place` for many entries at once: one sort or splice instead of an insertion each."""
        order = self._order
        keys = self._order_keys
        new: list[tuple[int, str]] = []
        stale: set[tuple[int, str]] = set()
        for entry in entries:
            key = entry.sort_key()
            old = keys.get(entry.trace_id)
            if old == key:
                continue
            if old is not None:
                stale.add(old)
            keys[entry.trace_id] = key
            new.append(key)
        if stale:
            if len(stale) <= 8:
                for old in stale:
                    at = bisect.bisect_left(order, old)
                    if at < len(order) and order[at] == old:
                        del order[at]
            else:
                order[:] = [key for key in order if key not in stale]
        if not new:
            return
        new.sort()
        if not order or new[0] > order[-1]:
            order.extend(new)  # the usual case when following: newer than all so far
        elif new[-1] < order[0]:
            order[:0] = new  # the usual case when indexing a directory newest file first
        else:
            order.extend(new)
            order.sort()  # two sorted runs: merged in linear time

    def _place(self, entry: TraceEntry) -> None:
        """Keep `_order` sorted by start time as an entry's start becomes known or changes."""
        key = entry.sort_key()
        old = self._order_keys.get(entry.trace_id)
        if old == key:
            return
        if old is not None:
            at = bisect.bisect_left(self._order, old)
            if at < len(self._order) and self._order[at] == old:
                del self._order[at]
        self._order_keys[entry.trace_id] = key
        if not self._order or key > self._order[-1]:
            self._order.append(key)  # the usual case: the newest trace so far
        else:
            bisect.insort(self._order, key)

    def _skip(self, source: str, lineno: int, reason: str) -> None:
        self.lines_skipped += 1
        if self.first_skipped is None:
            self.first_skipped = SkippedLine(source, lineno, reason)

    # -- asking ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, trace_id: str) -> bool:
        return trace_id in self._entries

    def trace_ids(self) -> list[str]:
        """Every trace id, newest first."""
        return [trace_id for _, trace_id in reversed(self._order)]

    def traces(self) -> Iterator[Trace]:
        """Every trace, parsed (one at a time, newest first)."""
        for trace_id in self.trace_ids():
            trace = self.get(trace_id)
            if trace is not None:
                yield trace

    def summary(self, trace_id: str) -> TraceSummary | None:
        entry = self._entries.get(trace_id)
        if entry is None:
            return None
        summary = entry.summary
        if summary is not None and summary.status == schema.TRACE_IN_PROGRESS and self._root_gone(entry):
            summary = None  # its writer died since: now INTERRUPTED
            self.version += 1  # so views redraw (no record arrived to tell them)
        if summary is None:
            summary = entry.summary = entry.make_summary(interrupted=self._root_gone(entry))
            entry.search_text = None
        return summary

    def process_gone(self, source: str | None) -> bool:
        """Whether the process that wrote file `source` surely no longer runs (its PROCESS record names
        this host and a pid that is dead or reused); False when unknown (see tui/liveness.py)."""
        info = self.processes.get(source) if source is not None else None
        if info is None:
            return False
        return self.liveness.gone(info.host, info.pid, info.start_ns)

    def _root_gone(self, entry: TraceEntry) -> bool:
        return (
            entry.summary_record is None
            and entry.root_status is None
            and self.process_gone(entry.root_source)
        )

    def _mark_interrupted(self, trace: Trace) -> None:
        """Set `interrupted` on the trace's unended spans whose writer is gone: after the trace changed,
        and at most once per liveness TTL otherwise."""
        now = self.liveness.clock()
        checked = trace.liveness_checked
        if checked is not None and checked[0] == trace.changes and now - checked[1] < self.liveness.ttl_s:
            return
        trace.liveness_checked = (trace.changes, now)
        changed = False
        for span in trace.spans:
            if span.end_ns is None:
                gone = self.process_gone(span.source)
                if gone != span.interrupted:
                    span.interrupted = gone
                    changed = True
        if changed:
            trace._summary = None
            self.version += 1

    def full_summary(self, trace_id: str) -> TraceSummary | None:
        """Like `summary`, but with whole previews (the index keeps them cut): read back from the
        trace's summary record in its file."""
        entry = self._entries.get(trace_id)
        if entry is None:
            return None
        if entry.summary_at is not None:
            number, offset = entry.summary_at
            try:
                with open(self._files[number], "rb") as handle:
                    handle.seek(offset)
                    record = schema.decode(handle.readline())
                if record.get(schema.TRACE_ID) == trace_id:
                    return summary_from_record(trace_id, record, entry.span_count, entry.tags)
            except (OSError, schema.SchemaError):
                pass
        trace = self.get(trace_id)
        return trace.summary() if trace is not None else self.summary(trace_id)

    def view(self) -> SummaryView:
        """All traces' summaries, newest first, as a lazy sequence (nothing is built until shown)."""
        return SummaryView(self, self._order)

    def summaries(self) -> list[TraceSummary]:
        """Every trace's summary, newest (latest start) first. Traces with no started span yet last."""
        return list(self.view())

    def search(self, needle: str) -> FilteredView:
        """Traces whose id, name, status, previews or tags contain `needle` (any case), newest first.

        Every trace's search text is kept (rebuilt only after the store changed), and the needle is
        tested against all of them by `map(operator.contains, ...)` under `itertools.compress`: the loop
        runs in C, ~30 ns a trace, so 500,000 traces take about 15 ms whatever the number of matches.
        """
        needle = needle.lower().replace("\n", " ")
        if not needle:
            return FilteredView(self, self.trace_ids())
        ids, texts = self._search_texts()
        found = list(itertools.compress(ids, map(operator.contains, texts, itertools.repeat(needle))))
        return FilteredView(self, found)

    def prepare_search(self) -> None:
        """Build what `search` scans now (it is otherwise built on the first search)."""
        self._search_texts()

    def _search_texts(self) -> tuple[list[str], list[str]]:
        """(every trace id newest first, its search text)."""
        cached = self._search_cache
        if cached is not None and cached[0] == self.version and cached[1] == len(self._order):
            return cached[2]
        ids = self.trace_ids()
        entries = self._entries
        texts = []
        for trace_id in ids:
            entry = entries[trace_id]
            if (
                entry.summary is None
                or entry.search_text is None
                or entry.summary.status == schema.TRACE_IN_PROGRESS
            ):
                summary = self.summary(trace_id)
                assert summary is not None
                entry.search_text = _search_text(summary)
            texts.append(entry.search_text)
        result = (ids, texts)
        self._search_cache = (self.version, len(self._order), result)
        return result

    def find(self, id_or_prefix: str) -> list[str]:
        """Ids of the traces that `id_or_prefix` names: an exact id, else every id it prefixes."""
        key = id_or_prefix.strip().lower()
        if key in self._entries:
            return [key]
        if not key:
            return []
        entries = self._entries
        ids = entries.ids() if isinstance(entries, _LazyEntries) else entries
        return [trace_id for trace_id in ids if trace_id.startswith(key)]

    def get(self, trace_id: str) -> Trace | None:
        """The whole trace, parsed from its records (cached for the most recently asked traces)."""
        trace = self._loaded.get(trace_id)
        if trace is not None:
            self._loaded.move_to_end(trace_id)
            self._mark_interrupted(trace)
            return trace
        entry = self._entries.get(trace_id)
        if entry is None:
            return None
        trace = Trace(trace_id)
        for record in entry.records or ():
            trace.apply(record, "<memory>")
        for number, (start, end) in entry.ranges.items():
            self._load_range(trace, number, start, end)
        self._loaded[trace_id] = trace
        if len(self._loaded) > self.LOADED_TRACES:
            self._loaded.popitem(last=False)
        self._mark_interrupted(trace)
        return trace

    def _load_range(self, trace: Trace, number: int, start: int, end: int) -> None:
        source = self._files[number]
        try:
            with open(source, "rb") as handle:
                handle.seek(start)
                data = handle.read(end - start)
        except OSError:
            return  # deleted since it was indexed: show what the other files hold
        wanted = trace.trace_id.encode()
        position = start
        for line in data.split(b"\n"):
            at = position
            position += len(line) + 1
            route = _route(line)
            if route is not None:
                if route[1] != wanted:
                    continue  # another trace's line inside this trace's range
                try:
                    record = schema.decode(line)
                except schema.SchemaError as exc:
                    self._skip_once(number, at, source, str(exc))
                    continue
            else:
                if not line.strip():
                    continue
                try:
                    record = schema.decode(line)
                except schema.SchemaError as exc:
                    self._skip_once(number, at, source, str(exc))
                    continue
                if record.get(schema.TRACE_ID) != trace.trace_id:
                    continue
            trace.apply(record, source)

    def _skip_once(self, number: int, offset: int, source: str, reason: str) -> None:
        # A line found bad only now, when its trace is parsed: count it once, however often it is read.
        if (number, offset) in self._counted_bad:
            return
        self._counted_bad.add((number, offset))
        try:
            with open(source, "rb") as handle:
                lineno = handle.read(offset).count(b"\n") + 1
        except OSError:
            lineno = 0
        self._skip(source, lineno, reason)


class SummaryView(Sequence[TraceSummary]):
    """A newest-first sequence of summaries over the store's order, built row by row on demand: a
    list of 500,000 traces costs nothing until rows are shown."""

    def __init__(self, store: TraceStore, order: list[tuple[int, str]]) -> None:
        self._store = store
        self._order = order
        self._length = len(order)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> TraceSummary: ...
    @overload
    def __getitem__(self, index: slice) -> list[TraceSummary]: ...
    def __getitem__(self, index: int | slice) -> TraceSummary | list[TraceSummary]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        summary = self._store.summary(self._order[self._length - 1 - index][1])
        assert summary is not None
        return summary

    def index_of(self, trace_id: str) -> int | None:
        """Row of a trace in this view, in O(log n)."""
        key = self._store._order_keys.get(trace_id)
        if key is None:
            return None
        at = bisect.bisect_left(self._order, key, 0, self._length)
        if at < self._length and self._order[at] == key:
            return self._length - 1 - at
        return None


class FilteredView(Sequence[TraceSummary]):
    """The summaries whose text contains a needle, newest first (ids computed once, rows on demand)."""

    def __init__(self, store: TraceStore, trace_ids: list[str]) -> None:
        self._store = store
        self._ids = trace_ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> TraceSummary: ...
    @overload
    def __getitem__(self, index: slice) -> list[TraceSummary]: ...
    def __getitem__(self, index: int | slice) -> TraceSummary | list[TraceSummary]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._ids)))]
        summary = self._store.summary(self._ids[index])
        assert summary is not None
        return summary

    def index_of(self, trace_id: str) -> int | None:
        """Row of a trace: `list.index` scans in C (a few ms for 500,000), cheaper than building a
        dict for every filter result up front."""
        try:
            return self._ids.index(trace_id)
        except ValueError:
            return None


# Of long previews, the filter looks at the start only: what the list can show, and bounded memory.
_SEARCH_PREVIEW_CHARS = 120


def _search_text(summary: TraceSummary) -> str:
    parts = [
        summary.trace_id,
        summary.name,
        summary.status,
        (summary.request_preview or "")[:_SEARCH_PREVIEW_CHARS],
        (summary.response_preview or "")[:_SEARCH_PREVIEW_CHARS],
        *(f"{key}={_safe_str(value)}" for key, value in summary.tags.items()),
    ]
    return "\x00".join(parts).lower()


def _safe_str(value: Any) -> str:
    """str() of a value read from a file, which may nest up to 1024 deep (deeper than str() goes)."""
    try:
        return str(value)
    except RecursionError:
        return "…"


# Previews the index keeps in memory (and in its snapshot) are cut to this: the list shows a few dozen
# characters and the filter looks at as many. `TraceStore.full_summary` reads the whole record back.
INDEX_PREVIEW_CHARS = 120
_NO_TAGS: dict[str, Any] = {}  # shared by every entry without tags: never mutated


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= INDEX_PREVIEW_CHARS:
        return text
    return text[: INDEX_PREVIEW_CHARS - 3] + "..."


_SLIM_FIELDS = (
    schema.NAME,
    schema.STATUS,
    schema.START_NS,
    schema.END_NS,
    schema.SPAN_COUNT,
    schema.ERROR_COUNT,
    schema.TAGS,
)


_SLIM_SUMMARY_FIELDS = (*_SLIM_FIELDS, schema.REQUEST_PREVIEW, schema.RESPONSE_PREVIEW)


def _slim_summary(record: dict[str, Any]) -> dict[str, Any]:
    slim = {field: record.get(field) for field in _SLIM_FIELDS}
    slim[schema.REQUEST_PREVIEW] = _cut(_str_or_none(record.get(schema.REQUEST_PREVIEW)))
    slim[schema.RESPONSE_PREVIEW] = _cut(_str_or_none(record.get(schema.RESPONSE_PREVIEW)))
    if not slim[schema.TAGS]:
        slim[schema.TAGS] = None
    return slim


def summary_from_record(
    trace_id: str, record: dict[str, Any], span_count: int, tags: dict[str, Any]
) -> TraceSummary:
    """The list's view of a trace that has a TRACE_SUMMARY record."""
    return TraceSummary(
        trace_id=trace_id,
        name=record.get(schema.NAME) or "",
        status=record.get(schema.STATUS) or schema.STATUS_UNSET,
        start_ns=record.get(schema.START_NS),
        end_ns=record.get(schema.END_NS),
        span_count=max(_int(record.get(schema.SPAN_COUNT)), span_count),
        error_count=_int(record.get(schema.ERROR_COUNT)),
        request_preview=_str_or_none(record.get(schema.REQUEST_PREVIEW)),
        response_preview=_str_or_none(record.get(schema.RESPONSE_PREVIEW)),
        tags={**tags, **_dict(record.get(schema.TAGS))},
    )


def _entry_from_columns(
    columns: dict[str, list[Any]], root_files: list[Any], files: list[str], row: int
) -> TraceEntry:
    """One `TraceEntry` from a snapshot's columns (checked by `TraceStore.restore`)."""
    entry = object.__new__(TraceEntry)
    entry.trace_id = columns["trace_id"][row]
    flat = columns["ranges"][row]
    entry.ranges = {flat[at]: [flat[at + 1], flat[at + 2]] for at in range(0, len(flat), 3)}
    for name in TraceStore._ENTRY_FIELDS:
        setattr(entry, name, columns[name][row])
    entry.tags = entry.tags or _NO_TAGS
    summary_at = entry.summary_at
    entry.summary_at = None if summary_at is None else (summary_at[0], summary_at[1])
    entry.summary_record = (
        {name: columns["summary." + name][row] for name in _SLIM_SUMMARY_FIELDS}
        if columns["has_summary"][row]
        else None
    )
    entry.records = entry.summary = entry.search_text = entry.early_ends = None
    number = root_files[row]
    entry.root_source = files[number] if type(number) is int and 0 <= number < len(files) else None
    return entry


class _LazyEntries(dict):  # type: ignore[type-arg]
    """Entries restored from a snapshot, each built on first use: reopening 100,000 traces must not
    build 100,000 objects when the list shows forty. Iterating builds them all."""

    def __init__(self, rows: dict[str, int], build: Callable[[int], TraceEntry]) -> None:
        super().__init__()
        self._rows = rows
        self._build = build

    def _load(self, key: str) -> TraceEntry | None:
        row = self._rows.pop(key, None)
        if row is None:
            return None
        entry = self._build(row)
        dict.__setitem__(self, key, entry)
        return entry

    def _load_all(self) -> None:
        for key in list(self._rows):
            self._load(key)

    def get(self, key: str, default: Any = None) -> Any:
        entry = dict.get(self, key)
        if entry is None:
            entry = self._load(key)
        return default if entry is None else entry

    def __getitem__(self, key: str) -> TraceEntry:
        entry = self.get(key)
        if entry is None:
            raise KeyError(key)
        return entry

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._rows

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._rows)

    def __setitem__(self, key: str, value: TraceEntry) -> None:
        self._rows.pop(key, None)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        if self._rows.pop(key, None) is None:
            dict.__delitem__(self, key)
        elif dict.__contains__(self, key):
            dict.__delitem__(self, key)

    def __iter__(self) -> Iterator[str]:
        self._load_all()
        return dict.__iter__(self)

    def keys(self) -> Any:
        self._load_all()
        return dict.keys(self)

    def values(self) -> Any:
        self._load_all()
        return dict.values(self)

    def items(self) -> Any:
        self._load_all()
        return dict.items(self)

    def ids(self) -> list[str]:
        """Every key, without building the entries."""
        return [*dict.keys(self), *self._rows]


def _process_info(record: dict[str, Any]) -> ProcessInfo:
    argv = record.get(schema.ARGV)
    return ProcessInfo(
        pid=_int_or_none(record.get(schema.PID)),
        host=_str_or_none(record.get(schema.HOST)),
        argv=[_safe_str(a) for a in argv] if isinstance(argv, list) else [],
        python=_str_or_none(record.get(schema.PYTHON)),
        tracer_version=_str_or_none(record.get(schema.TRACER_VERSION)),
        schema_version=_int_or_none(record.get(schema.SCHEMA_VERSION_FIELD)),
        start_ns=_int_or_none(record.get(schema.START_NS)),
    )


def _int_or_none(value: Any) -> int | None:
    return value if type(value) is int else None


def load_directory(path: str | Path) -> TraceStore:
    """A store indexing every trace in a directory (or a single trace file) as it is now."""
    store = TraceStore()
    tailer = DirectoryTailer(Path(path))
    for chunk in tailer.poll_chunks():
        store.ingest(chunk)
    return store

"""The trace store: records in, traces out. The one reader behind `show`, `ls` and the viewer.

Lines are fed in as they are read (`ingest_line`), in any order across files: a span's end may arrive
before its start, a child before its parent, a trace's summary before its spans. The store keeps what it
has and answers from it: trace summaries newest first, one trace with its spans, one span's details.
Malformed lines and records of unknown kinds are skipped and counted, never raised.

Pure Python: imports `tracer.schema` and the standard library, never Textual or Rich, so it is tested
without a terminal and used by the CLI's plain JSON output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tracer import schema
from tui.tailer import DirectoryTailer

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

    @property
    def running(self) -> bool:
        return self.end_ns is None

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
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
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
            status = schema.TRACE_IN_PROGRESS
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


class TraceStore:
    """Traces assembled from records. Feed it with `ingest_line`; ask it with `summaries` / `get`."""

    def __init__(self) -> None:
        self._traces: dict[str, Trace] = {}
        self.processes: dict[str, ProcessInfo] = {}
        self.lines_read = 0
        self.lines_skipped = 0
        self.first_skipped: SkippedLine | None = None
        self.version = 0  # bumped on every change, so views can tell whether to redraw

    # -- feeding -----------------------------------------------------------------------------------

    def ingest_lines(self, lines: Iterable[tuple[str, int, bytes]]) -> None:
        for source, lineno, line in lines:
            self.ingest_line(line, source, lineno)

    def ingest_line(self, line: bytes, source: str = "<memory>", lineno: int = 0) -> None:
        """Take one line (without or with its newline). Bad lines are counted, never raised."""
        self.lines_read += 1
        if not line.strip():
            return
        try:
            record = schema.decode(line)
            self._apply(record, source)
        except schema.SchemaError as exc:
            self._skip(source, lineno, str(exc))
        except Exception as exc:  # a record valid in shape but absurd in content
            self._skip(source, lineno, f"{type(exc).__name__}: {exc}")
        self.version += 1

    def _skip(self, source: str, lineno: int, reason: str) -> None:
        self.lines_skipped += 1
        if self.first_skipped is None:
            self.first_skipped = SkippedLine(source, lineno, reason)

    def _apply(self, record: dict[str, Any], source: str) -> None:
        kind = record[schema.KIND]
        if kind == schema.PROCESS:
            argv = record.get(schema.ARGV)
            self.processes[source] = ProcessInfo(
                pid=_int_or_none(record.get(schema.PID)),
                host=_str_or_none(record.get(schema.HOST)),
                argv=[str(a) for a in argv] if isinstance(argv, list) else [],
                python=_str_or_none(record.get(schema.PYTHON)),
                tracer_version=_str_or_none(record.get(schema.TRACER_VERSION)),
                schema_version=_int_or_none(record.get(schema.SCHEMA_VERSION_FIELD)),
            )
            return
        trace_id: str = record[schema.TRACE_ID]
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = Trace(trace_id)
        if kind == schema.SPAN_START:
            span = trace.span(record[schema.SPAN_ID])
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
            span = trace.span(record[schema.SPAN_ID])
            span.end_ns = record[schema.END_NS]
            span.status = record[schema.STATUS]
            span.status_message = _str_or_none(record.get(schema.STATUS_MESSAGE)) or ""
            span.outputs = record.get(schema.OUTPUTS)
            if schema.INPUTS in record:
                span.inputs = record[schema.INPUTS]
            span.attributes.update(_dict(record.get(schema.ATTRIBUTES)))
        elif kind == schema.SPAN_EVENT:
            span = trace.span(record[schema.SPAN_ID])
            event = Event(record[schema.NAME], record[schema.TIME_NS], _dict(record.get(schema.ATTRIBUTES)))
            events = span.events
            if events and events[-1].time_ns > event.time_ns:
                events.append(event)
                events.sort(key=lambda e: e.time_ns)
            else:
                events.append(event)
        elif kind == schema.TRACE_UPDATE:
            trace.tags.update(_dict(record.get(schema.TAGS)))
            trace.metadata.update(_dict(record.get(schema.METADATA)))
            if isinstance(record.get(schema.REQUEST_PREVIEW), str):
                trace.request_preview = record[schema.REQUEST_PREVIEW]
            if isinstance(record.get(schema.RESPONSE_PREVIEW), str):
                trace.response_preview = record[schema.RESPONSE_PREVIEW]
        elif kind == schema.TRACE_SUMMARY:
            trace.summary_record = record

    # -- asking ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._traces)

    def __contains__(self, trace_id: str) -> bool:
        return trace_id in self._traces

    def traces(self) -> Iterator[Trace]:
        return iter(self._traces.values())

    def get(self, trace_id: str) -> Trace | None:
        return self._traces.get(trace_id)

    def find(self, id_or_prefix: str) -> list[str]:
        """Ids of the traces that `id_or_prefix` names: an exact id, else every id it prefixes."""
        key = id_or_prefix.strip().lower()
        if key in self._traces:
            return [key]
        if not key:
            return []
        return [trace_id for trace_id in self._traces if trace_id.startswith(key)]

    def summaries(self) -> list[TraceSummary]:
        """Every trace's summary, newest (latest start) first. Traces with no started span yet last."""
        result = [trace.summary() for trace in self._traces.values()]
        result.sort(key=lambda s: s.start_ns if s.start_ns is not None else -1, reverse=True)
        return result


def _int_or_none(value: Any) -> int | None:
    return value if type(value) is int else None


def load_directory(path: str | Path) -> TraceStore:
    """A store holding every trace in a directory (or a single trace file) as it is now."""
    store = TraceStore()
    tailer = DirectoryTailer(Path(path))
    store.ingest_lines(tailer.poll())
    return store

"""The trace record format: the one contract between the writer and every reader.

This module owns the schema version, the record kinds, every field name, and the functions that turn a
record into a line of bytes and back. The writer (`tracer.writer`) and the reader (`tui.store`) both
import it; neither spells a field name of its own. `docs/format.md` documents the same format for people
who write their own readers — change both together.

A trace file is newline-delimited JSON, one record per line. Every record is a JSON object whose first
two keys are, in this order, ``kind`` and ``trace_id``, so a reader can route a line by its first bytes
(see `peek_route`) before paying for a full parse.

Imports: the standard library and orjson only (``import tracer`` must stay light).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import orjson

SCHEMA_VERSION: Final = 1

# Record kinds.
PROCESS: Final = "process"
SPAN_START: Final = "span_start"
SPAN_EVENT: Final = "span_event"
SPAN_END: Final = "span_end"
TRACE_UPDATE: Final = "trace_update"
TRACE_SUMMARY: Final = "trace_summary"
KINDS: Final = frozenset({PROCESS, SPAN_START, SPAN_EVENT, SPAN_END, TRACE_UPDATE, TRACE_SUMMARY})

# Field names. Every record starts with KIND then TRACE_ID (null for PROCESS records).
KIND: Final = "kind"
TRACE_ID: Final = "trace_id"
SPAN_ID: Final = "span_id"
PARENT_ID: Final = "parent_id"
NAME: Final = "name"
SPAN_TYPE: Final = "span_type"
START_NS: Final = "start_ns"
END_NS: Final = "end_ns"
TIME_NS: Final = "time_ns"
INPUTS: Final = "inputs"
OUTPUTS: Final = "outputs"
ATTRIBUTES: Final = "attributes"
LOCATION: Final = "location"
STATUS: Final = "status"
STATUS_MESSAGE: Final = "status_message"
TAGS: Final = "tags"
METADATA: Final = "metadata"
REQUEST_PREVIEW: Final = "request_preview"
RESPONSE_PREVIEW: Final = "response_preview"
SPAN_COUNT: Final = "span_count"
ERROR_COUNT: Final = "error_count"
ROOT_SPAN_ID: Final = "root_span_id"
# PROCESS record fields.
SCHEMA_VERSION_FIELD: Final = "schema_version"
PID: Final = "pid"
HOST: Final = "host"
ARGV: Final = "argv"
PYTHON: Final = "python"
TRACER_VERSION: Final = "tracer_version"
# LOCATION sub-fields.
LOCATION_FILE: Final = "file"
LOCATION_LINE: Final = "line"
LOCATION_QUALNAME: Final = "qualname"

# Span status codes (as OpenTelemetry) and trace statuses.
STATUS_UNSET: Final = "UNSET"
STATUS_OK: Final = "OK"
STATUS_ERROR: Final = "ERROR"
TRACE_IN_PROGRESS: Final = "IN_PROGRESS"
# Reader-side only (never written): the root span has no end and the process that wrote its start is
# gone (see docs/format.md, "Reading rules").
TRACE_INTERRUPTED: Final = "INTERRUPTED"

# Well-known span event names and attribute keys. The chunk names follow MLflow so that traces read the
# same in both tools.
EXCEPTION_EVENT: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
CHUNK_EVENT_PREFIX: Final = "mlflow.chunk.item."
CHUNK_VALUE: Final = "mlflow.chunk.value"
STREAM_CLOSED_EARLY: Final = "stream.closed_early"
INPUTS_UNAVAILABLE: Final = "tracetui.inputs_unavailable"

# A value whose JSON encoding exceeds the writer's cap is replaced by a string: the first bytes of its
# JSON text followed by this marker (``…[tracetui: truncated, N bytes]``).
TRUNCATION_MARKER: Final = "…[tracetui: truncated, {size} bytes]"
# The same for a value so large that it was cut before being encoded in full (memory stays bounded):
# its full size is then an estimate, marked with "~" (``…[tracetui: truncated, ~N bytes]``).
TRUNCATION_MARKER_ESTIMATED: Final = "…[tracetui: truncated, ~{size} bytes]"

# The value written instead of a secret: the value of an input, attribute or nested dict key that
# matches the redaction pattern (see `tracer.redact` and docs/format.md, "Redaction").
REDACTED: Final = "[REDACTED]"

# Files the writer produces, and the only ones a reader looks at in a directory.
FILE_SUFFIX: Final = ".jsonl"

_DUMPS = orjson.dumps
_LOADS = orjson.loads
_OPTS: Final = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
# The same without OPT_NON_STR_KEYS, which roughly doubles the cost of a small record: tried first by
# the span encoders; a dict with a key that is not a str makes orjson raise (`JSONEncodeError`, a
# TypeError), and the record is encoded again with `_OPTS`. For str keys both give the same bytes.
_FAST_OPTS: Final = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
# orjson's `default=` hook for values it cannot encode natively (the writer passes tracer.values').
Default = Callable[[Any], Any] | None


class SchemaError(ValueError):
    """A line that is not a valid record of this format."""


class UnknownKindError(SchemaError):
    """A well-formed record of a kind this reader does not know (perhaps from a newer writer)."""


Record = dict[str, Any]


def encode(record: Record) -> bytes:
    """One record as one line of bytes (newline included). Values must already be JSON-encodable.

    Callers build the dict with `KIND` and `TRACE_ID` first; the `encode_*` helpers below do so.
    """
    return _DUMPS(record, option=_OPTS)


def encode_process(
    *, pid: int, host: str, argv: list[str], python: str, tracer_version: str, start_ns: int
) -> bytes:
    return _DUMPS(
        {
            KIND: PROCESS,
            TRACE_ID: None,
            SCHEMA_VERSION_FIELD: SCHEMA_VERSION,
            PID: pid,
            HOST: host,
            ARGV: argv,
            PYTHON: python,
            TRACER_VERSION: tracer_version,
            START_NS: start_ns,
        },
        option=_OPTS,
    )


def encode_span_start(
    trace_id: str,
    span_id: str,
    parent_id: str | None,
    name: str,
    span_type: str,
    start_ns: int,
    inputs: Any,
    attributes: Any,
    location: Any,
    default: Default = None,
) -> bytes:
    """`inputs`, `attributes` and `location` may be `orjson.Fragment` (already-encoded JSON)."""
    record = {
        KIND: SPAN_START,
        TRACE_ID: trace_id,
        SPAN_ID: span_id,
        PARENT_ID: parent_id,
        NAME: name,
        SPAN_TYPE: span_type,
        START_NS: start_ns,
        INPUTS: inputs,
        ATTRIBUTES: attributes,
        LOCATION: location,
    }
    try:
        return _DUMPS(record, default=default, option=_FAST_OPTS)
    except TypeError:  # a key that is not a str (see _FAST_OPTS)
        return _DUMPS(record, default=default, option=_OPTS)


def encode_span_event(
    trace_id: str, span_id: str, name: str, time_ns: int, attributes: Any, default: Default = None
) -> bytes:
    record = {
        KIND: SPAN_EVENT,
        TRACE_ID: trace_id,
        SPAN_ID: span_id,
        NAME: name,
        TIME_NS: time_ns,
        ATTRIBUTES: attributes,
    }
    try:
        return _DUMPS(record, default=default, option=_FAST_OPTS)
    except TypeError:  # a key that is not a str (see _FAST_OPTS)
        return _DUMPS(record, default=default, option=_OPTS)


def encode_span_end(
    trace_id: str,
    span_id: str,
    end_ns: int,
    status: str,
    status_message: str,
    outputs: Any,
    attributes: Any,
    inputs: Any = None,
    default: Default = None,
) -> bytes:
    """`attributes` holds only those set after the span started; `inputs` only if set after start."""
    record: Record = {
        KIND: SPAN_END,
        TRACE_ID: trace_id,
        SPAN_ID: span_id,
        END_NS: end_ns,
        STATUS: status,
        STATUS_MESSAGE: status_message,
        OUTPUTS: outputs,
        ATTRIBUTES: attributes,
    }
    if inputs is not None:
        record[INPUTS] = inputs
    try:
        return _DUMPS(record, default=default, option=_FAST_OPTS)
    except TypeError:  # a key that is not a str (see _FAST_OPTS)
        return _DUMPS(record, default=default, option=_OPTS)


def encode_trace_update(trace_id: str, fields: Record, default: Default = None) -> bytes:
    """`fields` holds any of TAGS, METADATA, REQUEST_PREVIEW, RESPONSE_PREVIEW (only those updated)."""
    return _DUMPS({KIND: TRACE_UPDATE, TRACE_ID: trace_id, **fields}, default=default, option=_OPTS)


def encode_trace_summary(
    trace_id: str,
    *,
    root_span_id: str,
    name: str,
    status: str,
    start_ns: int,
    end_ns: int,
    span_count: int,
    error_count: int,
    request_preview: str | None,
    response_preview: str | None,
    tags: Record,
    metadata: Record,
) -> bytes:
    record = {
        KIND: TRACE_SUMMARY,
        TRACE_ID: trace_id,
        ROOT_SPAN_ID: root_span_id,
        NAME: name,
        STATUS: status,
        START_NS: start_ns,
        END_NS: end_ns,
        SPAN_COUNT: span_count,
        ERROR_COUNT: error_count,
        REQUEST_PREVIEW: request_preview,
        RESPONSE_PREVIEW: response_preview,
        TAGS: tags,
        METADATA: metadata,
    }
    try:
        return _DUMPS(record, option=_FAST_OPTS)
    except TypeError:  # a key that is not a str (see _FAST_OPTS)
        return _DUMPS(record, option=_OPTS)


# What each kind must carry, and of which type, for a reader to use it. Other fields are optional and
# unknown fields are ignored, so a newer writer may add fields without breaking older readers.
_REQUIRED: Final[dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]]] = {
    PROCESS: ((SCHEMA_VERSION_FIELD, int),),
    SPAN_START: ((SPAN_ID, str), (NAME, str), (START_NS, int)),
    SPAN_EVENT: ((SPAN_ID, str), (NAME, str), (TIME_NS, int)),
    SPAN_END: ((SPAN_ID, str), (END_NS, int), (STATUS, str)),
    TRACE_UPDATE: (),
    TRACE_SUMMARY: ((NAME, str), (STATUS, str), (START_NS, int), (END_NS, int)),
}


def decode(line: bytes | str) -> Record:
    """Parse one line into a record, checking what a reader relies on.

    Raises `UnknownKindError` for a well-formed record of a kind not in `KINDS`, and `SchemaError` for
    anything else that is not a valid record (bad JSON, not an object, missing or mistyped fields).
    """
    try:
        record = _LOADS(line)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"not JSON: {exc}") from None
    if type(record) is not dict:
        raise SchemaError("not a JSON object")
    kind = record.get(KIND)
    if type(kind) is not str:
        raise SchemaError(f"missing {KIND!r}")
    required = _REQUIRED.get(kind)
    if required is None:
        raise UnknownKindError(f"unknown record kind {kind[:40]!r}")
    trace_id = record.get(TRACE_ID)
    if kind != PROCESS and type(trace_id) is not str:
        raise SchemaError(f"{kind} record without a {TRACE_ID}")
    for field, typ in required:
        value = record.get(field)
        # bool is an int subclass; a timestamp of `true` is still garbage.
        if not isinstance(value, typ) or type(value) is bool:
            raise SchemaError(f"{kind} record with a missing or mistyped {field!r}")
    return record


_ROUTE_PREFIX: Final = b'{"kind":"'
_TRACE_ID_KEY: Final = b',"trace_id":'


def peek_route(line: bytes) -> tuple[bytes, bytes | None] | None:
    """The (kind, trace_id) of a line written by `encode`, read from its first bytes without parsing.

    Returns None when the line does not start the way this writer starts it (a reader then falls back
    to `decode`). The trace id is None for records that have none (PROCESS).
    """
    if not line.startswith(_ROUTE_PREFIX):
        return None
    end = line.find(b'"', 9)
    if end < 0 or not line.startswith(_TRACE_ID_KEY, end + 1):
        return None
    kind = line[9:end]
    if b"\\" in kind:
        return None  # an escaped character: the raw bytes are not the value, let `decode` read it
    at = end + 1 + len(_TRACE_ID_KEY)
    if line.startswith(b"null", at):
        return kind, None
    if line[at : at + 1] != b'"':
        return None
    close = line.find(b'"', at + 1)
    if close < 0:
        return None
    trace_id = line[at + 1 : close]
    if b"\\" in trace_id:
        return None
    return kind, trace_id

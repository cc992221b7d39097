"""Live spans and traces: opening, annotating and ending them, and the current-span context.

The current span is one `ContextVar[LiveSpan | None]`, set and reset by token around the code that runs
inside the span (as OpenTelemetry's `use_span`): asyncio tasks inherit it, threads do not unless the
caller copies the context (`contextvars.copy_context().run` or `tracer.wrap_context`).

A span writes a SPAN_START record when it opens (so a live viewer shows it while it runs), SPAN_EVENT
records as events happen, and a SPAN_END record when it ends. When a trace's root span ends, a
TRACE_SUMMARY record follows, so readers can list finished traces without reading their spans.

Nothing here raises into user code: an internal failure is logged once and the user's call goes on.

Imports: the standard library, orjson and the other `tracer` modules.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import traceback
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

from tracer import redact as _redact
from tracer import schema
from tracer.config import settings
from tracer.schema import encode_span_end, encode_span_start, encode_trace_summary
from tracer.values import (
    _clean_str,
    encode_value,
    json_default,
    mapping_fragment,
    to_json_value,
    value_fragment,
)
from tracer.writer import writer

# The writer's hot path, inlined (`Writer.write` does the same): queue the line, then arm the writer
# (`writer._arm()`) unless it is armed already. One call less per record than `writer.write`.
_queue = writer._pending.extend

logger = logging.getLogger("tracer")

_TRACER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
PREVIEW_MAX_CHARS = 1000
_EMPTY = orjson.Fragment(b"{}")
_Fragment = orjson.Fragment
_UNSET, _OK, _ERROR = schema.STATUS_UNSET, schema.STATUS_OK, schema.STATUS_ERROR
# Types whose `len` bounds their JSON size from below (at least one byte per item or character).
_SIZED = frozenset({str, bytes, bytearray, list, tuple, dict, set, frozenset, collections.deque})
# Redaction (`tracer.redact`): values of these types hold no dict key, so nothing to redact inside.
_SCALARS = _redact.SCALARS
_NO_KEYS = _SCALARS | {orjson.Fragment}  # a Fragment was redacted when it was encoded
_REDACTED_FRAGMENT = orjson.Fragment(orjson.dumps(schema.REDACTED))


class SpanType:
    """Built-in span types (as MLflow's). Any other string is accepted as a custom type."""

    LLM = "LLM"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"
    CHAT_MODEL = "CHAT_MODEL"
    RETRIEVER = "RETRIEVER"
    PARSER = "PARSER"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    MEMORY = "MEMORY"
    UNKNOWN = "UNKNOWN"
    WORKFLOW = "WORKFLOW"
    TASK = "TASK"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"


class SpanStatusCode:
    UNSET = schema.STATUS_UNSET
    OK = schema.STATUS_OK
    ERROR = schema.STATUS_ERROR


@dataclass(frozen=True)
class SpanStatus:
    """A span's status: a `SpanStatusCode` and, for errors, a description."""

    status_code: str
    description: str = ""


@dataclass
class SpanEvent:
    """An event to attach to a span with `LiveSpan.add_event` (``timestamp`` in ns, default now)."""

    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    timestamp: int | None = None


_warned_internal = False


def internal_error(exc: BaseException) -> None:
    """A bug or an environment problem inside the tracer: say so once, never raise."""
    global _warned_internal
    if not _warned_internal:
        _warned_internal = True
        logger.warning("tracer: internal error, tracing may be incomplete: %r", exc, exc_info=exc)


# Guards the lazy creation of a trace's rarely used parts (error counter, tags, metadata), which two
# threads of one trace might otherwise create twice.
_trace_lock = threading.Lock()


class _TraceState:
    """What one trace accumulates across its spans (shared by reference, also across threads).

    The error counter and the tags/metadata dicts are created when first needed (under `_trace_lock`):
    most traces never use them, and every trace pays for what it creates.
    """

    __slots__ = (
        "trace_id",
        "root",
        "span_counter",
        "error_counter",
        "tags",
        "metadata",
        "request_preview",
        "response_preview",
    )

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self.root: LiveSpan | None = None
        # itertools.count: next() is atomic under the GIL, so spans in several threads count right.
        self.span_counter = itertools.count(1)
        self.error_counter: itertools.count[int] | None = None
        self.tags: dict[str, Any] | None = None
        self.metadata: dict[str, Any] | None = None
        self.request_preview: str | None = None
        self.response_preview: str | None = None

    def count_error(self) -> None:
        counter = self.error_counter
        if counter is None:
            with _trace_lock:
                if self.error_counter is None:
                    self.error_counter = itertools.count(1)
                counter = self.error_counter
        next(counter)

    def tags_dict(self) -> dict[str, Any]:
        if self.tags is None:
            with _trace_lock:
                if self.tags is None:
                    self.tags = {}
        return self.tags

    def metadata_dict(self) -> dict[str, Any]:
        if self.metadata is None:
            with _trace_lock:
                if self.metadata is None:
                    self.metadata = {}
        return self.metadata


class LiveSpan:
    """A span that is running. Handed out by `start_span` and `get_current_active_span`."""

    __slots__ = (
        "_trace",
        "_span_id",
        "_parent_id",
        "_name",
        "_span_type",
        "_start_ns",
        "_inputs",
        "_outputs",
        "_end_attributes",
        "_status",
        "_status_message",
        "_ended",
        "_span_count",
        "_error_count",
        "__weakref__",
    )

    def __init__(
        self,
        trace: _TraceState,
        span_id: str,
        parent_id: str | None,
        name: str,
        span_type: str,
        start_ns: int,
    ) -> None:
        self._trace = trace
        self._span_id = span_id
        self._parent_id = parent_id
        self._name = name
        self._span_type = span_type
        self._start_ns = start_ns
        self._inputs: orjson.Fragment | None = None  # set after start, written at end
        self._outputs: orjson.Fragment | None = None
        self._end_attributes: dict[str, orjson.Fragment] | None = None
        self._status = schema.STATUS_UNSET
        self._status_message = ""
        self._ended = False

    # -- identity ----------------------------------------------------------------------------------

    @property
    def trace_id(self) -> str:
        return self._trace.trace_id

    @property
    def request_id(self) -> str:
        """Alias of `trace_id`, as MLflow's examples use it."""
        return self._trace.trace_id

    @property
    def span_id(self) -> str:
        return self._span_id

    @property
    def parent_id(self) -> str | None:
        return self._parent_id

    @property
    def name(self) -> str:
        return self._name

    @property
    def span_type(self) -> str:
        return self._span_type

    @property
    def start_time_ns(self) -> int:
        return self._start_ns

    @property
    def status(self) -> SpanStatus:
        return SpanStatus(self._status, self._status_message)

    def __repr__(self) -> str:
        return f"LiveSpan(name={self._name!r}, trace_id={self.trace_id!r}, span_id={self._span_id!r})"

    # -- annotating --------------------------------------------------------------------------------

    def set_inputs(self, inputs: Any) -> None:
        """Replace the span's inputs (encoded now, so later mutation of `inputs` does not show)."""
        try:
            self._inputs = mapping_fragment(inputs, settings.max_value_bytes)
        except Exception as exc:
            internal_error(exc)

    def set_outputs(self, outputs: Any) -> None:
        """Set the span's outputs; a decorated function's return value then no longer overrides them."""
        try:
            self._outputs = value_fragment(outputs, settings.max_value_bytes)
        except Exception as exc:
            internal_error(exc)

    def set_attribute(self, key: str, value: Any) -> None:
        try:
            if self._end_attributes is None:
                self._end_attributes = {}
            key = str(key)
            redactor = _redact.active
            if redactor is not None and redactor.is_secret(key) and not _redact.keep(value):
                self._end_attributes[key] = _REDACTED_FRAGMENT
            else:
                self._end_attributes[key] = value_fragment(value, settings.max_value_bytes)
        except Exception as exc:
            internal_error(exc)

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        try:
            for key, value in attributes.items():
                self.set_attribute(key, value)
        except Exception as exc:
            internal_error(exc)

    def add_event(self, event: SpanEvent | str, attributes: dict[str, Any] | None = None) -> None:
        """Record an event now: `add_event("name", {...})` or `add_event(SpanEvent(...))`."""
        try:
            if isinstance(event, SpanEvent):
                name, attributes, time_ns = event.name, event.attributes, event.timestamp
            else:
                name, time_ns = str(event), None
            _write_event(self, name, attributes or {}, time_ns or settings.clock())
        except Exception as exc:
            internal_error(exc)

    def set_status(self, status: SpanStatus | str, message: str = "") -> None:
        """Set the status: a `SpanStatusCode` (or its name) and, for errors, a message."""
        try:
            if isinstance(status, SpanStatus):
                status, message = status.status_code, status.description or message
            code = str(getattr(status, "value", status)).upper()
            if code not in (schema.STATUS_OK, schema.STATUS_ERROR, schema.STATUS_UNSET):
                raise ValueError(f"unknown span status {status!r}")
            self._status = code
            self._status_message = str(message)
        except Exception as exc:
            internal_error(exc)

    def record_exception(self, exception: BaseException) -> None:
        """Add an `exception` event (type, message, traceback) and mark the span as failed."""
        try:
            _write_event(self, schema.EXCEPTION_EVENT, exception_attributes(exception), settings.clock())
            self._status = schema.STATUS_ERROR
            self._status_message = f"{type(exception).__name__}: {_safe_str(exception)}"
        except Exception as exc:
            internal_error(exc)

    def end(self, end_time_ns: int | None = None) -> None:
        """End the span (idempotent). Spans from `start_span` and `@trace` end by themselves."""
        end_span(self, end_time_ns)


_current: ContextVar[LiveSpan | None] = ContextVar("tracer_current_span", default=None)
_last_trace_id: str | None = None


def get_current_active_span() -> LiveSpan | None:
    """The span whose code is running now in this context, or None."""
    return _current.get()


def get_last_active_trace_id() -> str | None:
    """The id of the last trace whose root span ended in this process."""
    return _last_trace_id


def _safe_str(obj: object) -> str:
    try:
        return str(obj)
    except Exception:
        return f"<unprintable {type(obj).__name__}>"


def _is_tracer_frame(frame: traceback.FrameSummary) -> bool:
    return frame.filename.startswith(_TRACER_DIR)


def exception_attributes(exc: BaseException) -> dict[str, str]:
    """The attributes of an `exception` event: class name, message, and the formatted traceback
    without the tracer's own frames (they say nothing about the user's bug)."""
    try:
        te = traceback.TracebackException.from_exception(exc)
        seen: set[int] = set()
        stack: traceback.TracebackException | None = te
        while stack is not None and id(stack) not in seen:
            seen.add(id(stack))
            stack.stack = traceback.StackSummary.from_list(
                [frame for frame in stack.stack if not _is_tracer_frame(frame)]
            )
            stack = stack.__cause__ or stack.__context__
        stacktrace = "".join(te.format())
    except Exception:
        stacktrace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {
        schema.EXCEPTION_TYPE: type(exc).__name__,
        schema.EXCEPTION_MESSAGE: _safe_str(exc),
        schema.EXCEPTION_STACKTRACE: stacktrace,
    }


def _preview(encoded: bytes, value: Any) -> str:
    """A trace list preview: `value` as compact JSON (a str as itself), cut to PREVIEW_MAX_CHARS
    characters with "...". `encoded` is `value` as `encode_value` encoded it (computed once, shared
    with the span record)."""
    if isinstance(value, str):
        # Cut first (a 50 MB output is not cleaned in full); lone surrogates would make the summary
        # record unencodable.
        text = value[: PREVIEW_MAX_CHARS + 1]
        if not text.isascii():
            text = _clean_str(text)
    elif len(encoded) <= PREVIEW_MAX_CHARS:
        return encoded.decode("utf-8", "replace")
    elif encoded[:1] == b'"' and not isinstance(value, str) and encoded.endswith(b']"'):
        text = orjson.loads(encoded)  # truncated by encode_value: a JSON string of the cut JSON text
    else:
        # At most 4 UTF-8 bytes a character: this many bytes hold the first PREVIEW_MAX_CHARS.
        text = encoded[: 4 * PREVIEW_MAX_CHARS + 4].decode("utf-8", "ignore")
    if len(text) > PREVIEW_MAX_CHARS:
        text = text[: PREVIEW_MAX_CHARS - 3] + "..."
    return text


def open_span(
    name: str,
    span_type: str,
    inputs: Any,
    attributes: Any,
    location: Any,
    parent: LiveSpan | None,
) -> LiveSpan:
    """Create a span under `parent` (a new trace when None) and write its SPAN_START record.

    `inputs` is a raw dict (or None); `attributes` a raw dict or an already-encoded Fragment. Secrets:
    the caller has redacted secret input names and attribute keys (the decorator decides at decoration
    time); here inputs holding a dict or an object are encoded with their nested keys redacted.
    """
    start_ns = settings.clock()
    if parent is None:
        ids = settings.ids
        trace = _TraceState(ids.trace_id())
        span = LiveSpan(trace, ids.span_id(), None, name, span_type, start_ns)
        trace.root = span
        if inputs is not None:
            # Encoded once, for both the record and the request preview.
            max_bytes = settings.max_value_bytes
            encoded = encode_value(inputs, max_bytes, False)
            if _redact.active is not None and encoded.find(123, 1) >= 0:
                # A "{" past the first: maybe a nested dict (whose keys may be secrets), maybe a brace
                # in a string. Encoded again, redacting (the input names were, by the decorator).
                encoded = encode_value(inputs, max_bytes)
            if len(encoded) <= PREVIEW_MAX_CHARS and type(inputs) is dict:
                trace.request_preview = encoded.decode()  # what `_preview` returns for it, inlined
            else:
                trace.request_preview = _preview(encoded, inputs)
            if len(encoded) <= max_bytes:
                inputs = _Fragment(encoded)
    else:
        trace = parent._trace
        span = LiveSpan(trace, settings.ids.span_id(), parent._span_id, name, span_type, start_ns)
        if (
            inputs is not None
            and _redact.active is not None
            and not _SCALARS.issuperset(map(type, inputs.values()))
        ):
            inputs = mapping_fragment(inputs, settings.max_value_bytes)  # nested secret keys redacted
    next(trace.span_counter)
    try:
        line = encode_span_start(
            trace.trace_id,
            span._span_id,
            span._parent_id,
            name,
            span_type,
            start_ns,
            inputs,
            attributes,
            location,
            json_default,
        )
        if len(line) > settings.max_value_bytes:
            raise OverflowError  # some value may be over the cap: encode value by value
    except Exception:
        max_bytes = settings.max_value_bytes
        line = encode_span_start(
            trace.trace_id,
            span._span_id,
            span._parent_id,
            _clean_name(name),
            _clean_name(span_type),
            start_ns,
            None if inputs is None else mapping_fragment(inputs, max_bytes),
            attributes
            if isinstance(attributes, orjson.Fragment)
            else mapping_fragment(attributes or {}, max_bytes),
            location,
        )
    _queue(line)
    if not writer._armed:
        writer._arm()
    return span


def _clean_name(text: Any) -> str:
    if type(text) is str and len(text) <= 680 and text.isascii():
        return text  # the common case, same result: at most 6 JSON bytes a character, under the cap
    return to_json_value(text if isinstance(text, str) else _safe_str(text), 4096)


def _write_event(span: LiveSpan, name: str, attributes: Any, time_ns: int) -> None:
    trace_id = span._trace.trace_id
    redactor = _redact.active
    if redactor is not None and (type(attributes) is not dict or not redactor.flat_and_safe(attributes)):
        attributes = mapping_fragment(attributes, settings.max_value_bytes)
    try:
        line = schema.encode_span_event(trace_id, span._span_id, name, time_ns, attributes, json_default)
        if len(line) > settings.max_value_bytes:
            raise OverflowError
    except Exception:
        line = schema.encode_span_event(
            trace_id,
            span._span_id,
            _clean_name(name),
            time_ns,
            mapping_fragment(attributes, settings.max_value_bytes),
        )
    writer.write(line)


def end_span(
    span: LiveSpan, end_ns: int | None = None, outputs: Any = None, has_outputs: bool = False
) -> None:
    """Write the SPAN_END record (once) and, for a root span, the TRACE_SUMMARY. Never raises.

    `outputs` (with `has_outputs`) is the decorated function's result, used unless the body called
    `set_outputs` itself.
    """
    try:
        if span._ended:
            return
        span._ended = True
        if end_ns is None:
            end_ns = settings.clock()
        trace = span._trace
        status = span._status
        if status == _UNSET:
            status = span._status = _OK
        elif status == _ERROR:
            trace.count_error()
        if span._outputs is not None:
            outputs, has_outputs = span._outputs, True
        is_root = trace.root is span
        if is_root:
            # Encoded once, for both the record and the response preview.
            if not has_outputs or outputs is None:
                response_preview = None
            elif isinstance(outputs, _Fragment):
                response_preview = _preview(orjson.dumps(outputs), None)
            else:
                encoded = encode_value(outputs, settings.max_value_bytes)
                if type(outputs) is str and len(outputs) <= PREVIEW_MAX_CHARS and outputs.isascii():
                    response_preview = outputs  # what `_preview` returns for it, inlined
                else:
                    response_preview = _preview(encoded, outputs)
                outputs = _Fragment(encoded)
        elif type(outputs) in _SIZED and len(outputs) > settings.max_value_bytes:
            # Surely over the cap: let `encode_value` cut it before it is encoded whole in the record
            # (the fallback below would encode it the same way, after a full first attempt).
            outputs = _Fragment(encode_value(outputs, settings.max_value_bytes))
        elif (
            type(outputs) not in _NO_KEYS
            and (redactor := _redact.active) is not None
            and not (
                type(outputs) is dict
                and (
                    # Inlined `flat_and_safe` for keys already judged; the method judges new ones.
                    (
                        redactor.safe_keys.issuperset(outputs)
                        and _SCALARS.issuperset(map(type, outputs.values()))
                    )
                    or redactor.flat_and_safe(outputs)
                )
            )
        ):
            # A dict or an object: encoded now, with its secret keys redacted.
            outputs = _Fragment(encode_value(outputs, settings.max_value_bytes))
        try:
            line = encode_span_end(
                trace.trace_id,
                span._span_id,
                end_ns,
                status,
                span._status_message,
                outputs if has_outputs else None,
                span._end_attributes or _EMPTY,
                span._inputs,
                json_default,
            )
            if len(line) > settings.max_value_bytes:
                raise OverflowError
        except Exception:
            max_bytes = settings.max_value_bytes
            line = encode_span_end(
                trace.trace_id,
                span._span_id,
                end_ns,
                status,
                span._status_message,
                (outputs if isinstance(outputs, _Fragment) else value_fragment(outputs, max_bytes))
                if has_outputs
                else None,
                span._end_attributes or _EMPTY,
                span._inputs,
            )
        _queue(line)
        if is_root:
            # The trace is over. Dropping the root also breaks the span <-> trace reference cycle, so
            # both are freed at once instead of piling up for the cyclic garbage collector.
            trace.root = None
            _end_trace(trace, span, end_ns, response_preview)
        if not writer._armed:
            writer._arm()
    except Exception as exc:
        internal_error(exc)


def _end_trace(trace: _TraceState, root: LiveSpan, end_ns: int, response_preview: str | None) -> None:
    global _last_trace_id
    if trace.response_preview is not None:
        response_preview = trace.response_preview
    # The counters were created at 1 and advanced once per span / error: their next value - 1.
    span_count = next(trace.span_counter) - 1
    error_count = 0 if trace.error_counter is None else next(trace.error_counter) - 1
    name = root._name
    if type(name) is not str or not name.isascii():  # an ASCII str always encodes
        try:
            orjson.dumps(name)
        except Exception:  # a name orjson refuses (not a str, lone surrogates)
            name = _clean_name(name)
    line = encode_trace_summary(
        trace.trace_id,
        root_span_id=root._span_id,
        name=name,
        status=root._status,
        start_ns=root._start_ns,
        end_ns=end_ns,
        span_count=span_count,
        error_count=error_count,
        request_preview=trace.request_preview,
        response_preview=response_preview,
        tags=trace.tags or {},
        metadata=trace.metadata or {},
    )
    _queue(line)
    _last_trace_id = trace.trace_id


def update_current_trace(
    tags: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    request_preview: str | None = None,
    response_preview: str | None = None,
) -> None:
    """Add tags/metadata to the trace of the current span, or override its list previews."""
    try:
        span = _current.get()
        if span is None:
            logger.warning("tracer: update_current_trace() called outside of a trace; ignored")
            return
        trace = span._trace
        fields: dict[str, Any] = {}
        max_bytes = settings.max_value_bytes
        if tags:
            clean = to_json_value(dict(tags), max_bytes)
            if isinstance(clean, dict):
                trace.tags_dict().update(clean)
                fields[schema.TAGS] = clean
        if metadata:
            clean = to_json_value(dict(metadata), max_bytes)
            if isinstance(clean, dict):
                trace.metadata_dict().update(clean)
                fields[schema.METADATA] = clean
        if request_preview is not None:
            trace.request_preview = to_json_value(_safe_str(request_preview), max_bytes)
            fields[schema.REQUEST_PREVIEW] = trace.request_preview
        if response_preview is not None:
            trace.response_preview = to_json_value(_safe_str(response_preview), max_bytes)
            fields[schema.RESPONSE_PREVIEW] = trace.response_preview
        if fields:
            writer.write(schema.encode_trace_update(trace.trace_id, fields))
    except Exception as exc:
        internal_error(exc)


def fail_span(span: LiveSpan, exc: BaseException) -> None:
    """Record `exc` on the span and end it as failed, unless it is a normal generator shutdown."""
    try:
        if isinstance(exc, GeneratorExit) or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            end_span(span)
            return
        span.record_exception(exc)
        end_span(span)
    except Exception as inner:
        internal_error(inner)


class start_span:  # noqa: N801 - used like a function, as MLflow's `start_span`
    """Context manager opening a span under the current one: ``with tracer.start_span("x") as s:``.

    The span is current inside the block; an exception leaving the block is recorded on it and
    re-raised unchanged.
    """

    __slots__ = ("_name", "_span_type", "_attributes", "_span", "_token")

    def __init__(
        self,
        name: str = "span",
        span_type: str = SpanType.UNKNOWN,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._span_type = span_type
        self._attributes = attributes
        self._span: LiveSpan | None = None
        self._token: Any = None

    def __enter__(self) -> LiveSpan:
        try:
            attributes = self._attributes or _EMPTY
            redactor = _redact.active
            if (
                redactor is not None
                and attributes is not _EMPTY
                and (type(attributes) is not dict or not redactor.flat_and_safe(attributes))
            ):
                attributes = mapping_fragment(attributes, settings.max_value_bytes)
            span = open_span(
                self._name,
                self._span_type,
                None,
                attributes,
                None,
                _current.get(),
            )
        except Exception as exc:
            internal_error(exc)
            # Still hand the block a span object, so `span.set_outputs(...)` in user code works.
            span = LiveSpan(_TraceState("0" * 32), "0" * 16, None, self._name, self._span_type, 0)
            span._ended = True
        self._span = span
        self._token = _current.set(span)
        return span

    async def __aenter__(self) -> LiveSpan:
        return self.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self._span
        try:
            _current.reset(self._token)
        except ValueError:
            # Exited in another context than entered (e.g. a generator resumed elsewhere): put the
            # parent back by hand rather than raise from the user's `with`.
            _current.set(None)
        if span is None:
            return
        if exc is not None:
            fail_span(span, exc)
        else:
            end_span(span)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

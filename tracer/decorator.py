"""`@tracer.trace`: one span per call of a function, whatever kind of function it is.

The kind (plain, coroutine, generator, async generator) is decided once, at decoration time, and each
kind has its own small wrapper around `open_span` / `end_span`. The wrapper keeps the function's
behaviour exactly: same return value, same exception object re-raised, and for generators the same
send / throw / close protocol. Argument binding is analysed once too (`_Binder`).

Generators differ from MLflow's in one way that matters: the span also ends when the consumer stops
early (``break``, ``.close()``, ``aclose()``, garbage collection), marked ``stream.closed_early``.
MLflow leaks the span then (mlflow/mlflow#25790).

Imports: the standard library, orjson and the other `tracer` modules.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

import orjson

from tracer import redact as _redact
from tracer import schema
from tracer.config import settings
from tracer.span import (
    _EMPTY,
    SpanType,
    _current,
    _write_event,
    end_span,
    fail_span,
    internal_error,
    open_span,
)
from tracer.values import mapping_fragment

F = TypeVar("F", bound=Callable[..., Any])
_current_get = _current.get
_current_set = _current.set
_current_reset = _current.reset

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_SELF_NAMES = ("self", "cls")


class _Binder:
    """Maps a call's (args, kwargs) to {parameter name: value}, as `Signature.bind` + `apply_defaults`
    would, with `self`/`cls` left out. The common case (only positional-or-keyword parameters) takes a
    fast path several times cheaper than `bind`; anything else falls back to `bind` itself.
    """

    __slots__ = ("_signature", "_names", "_defaults", "_simple", "_skip_first")

    def __init__(self, fn: Callable[..., Any]) -> None:
        try:
            signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None
        self._signature = signature
        params = list(signature.parameters.values()) if signature is not None else []
        self._names = tuple(p.name for p in params)
        self._defaults = tuple(
            (p.name, p.default) for p in params if p.default is not inspect.Parameter.empty
        )
        self._simple = signature is not None and all(
            p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params
        )
        # Excluded by position and name: the first parameter, when called `self` or `cls`.
        self._skip_first = bool(params) and params[0].kind in _POSITIONAL and params[0].name in _SELF_NAMES

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Raises TypeError when the call does not fit the signature (the caller records that)."""
        names = self._names
        if self._simple and len(args) <= len(names):
            bound = dict(zip(names, args, strict=False))
            if kwargs:
                for key in kwargs:
                    if key in bound or key not in names:
                        return self._slow(args, kwargs)
                bound.update(kwargs)
            if len(bound) < len(names):
                for name, default in self._defaults:
                    if name not in bound:
                        bound[name] = default
                if len(bound) < len(names):
                    return self._slow(args, kwargs)  # a required argument is missing
            if self._skip_first:
                bound.pop(names[0], None)
            return bound
        return self._slow(args, kwargs)

    def _slow(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self._signature is None:
            raise TypeError("signature not available")
        bound_args = self._signature.bind(*args, **kwargs)
        bound_args.apply_defaults()
        bound = dict(bound_args.arguments)
        if self._skip_first:
            bound.pop(self._names[0], None)
        return bound


def _location(fn: Callable[..., Any]) -> orjson.Fragment:
    target = inspect.unwrap(fn)
    code = getattr(target, "__code__", None)
    return orjson.Fragment(
        orjson.dumps(
            {
                schema.LOCATION_FILE: code.co_filename if code else None,
                schema.LOCATION_LINE: code.co_firstlineno if code else None,
                schema.LOCATION_QUALNAME: getattr(target, "__qualname__", None),
            }
        )
    )


class _SpanSpec:
    """Everything about a decorated function's spans that is fixed at decoration time.

    Secrets: which argument names are secret, and the encoded `attributes`, are decided here (and again
    when `configure` changes redaction: `redaction_changed`), so a call costs nothing for them. A
    function with a secret argument name (``def f(api_key, prompt)``) takes `open`, which redacts it.
    """

    __slots__ = (
        "name",
        "span_type",
        "attributes",
        "location",
        "binder",
        "output_reducer",
        "positional",
        "secret",
        "_raw_attributes",
        "_refreshers",
        "__weakref__",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None,
        span_type: str,
        attributes: dict[str, Any] | None,
        output_reducer: Callable[[list[Any]], Any] | None,
    ) -> None:
        self.name = name if name is not None else getattr(fn, "__name__", "span")
        self.span_type = span_type
        self._raw_attributes = attributes
        self.location = _location(fn)
        self.binder = _Binder(fn)
        self.output_reducer = output_reducer
        # Called (by `redaction_changed`) to update what the wrappers copied from this spec.
        self._refreshers: list[Callable[[], None]] = []
        self._decide()
        _redact.subscribe(self)

    def _decide(self) -> None:
        binder = self.binder
        attributes = self._raw_attributes
        self.attributes = mapping_fragment(attributes, settings.max_value_bytes) if attributes else _EMPTY
        self.secret = _redact.secret_names(binder._names)
        # The parameter names when they are all plain positional-or-keyword, none is `self`/`cls` and
        # none is secret: then a call with every argument given by position binds as
        # `dict(zip(names, args))` (the same dict `_Binder.bind` builds). The commonest call; the
        # wrappers inline it.
        simple = binder._simple and not binder._skip_first and not self.secret
        self.positional = binder._names if simple else None

    def redaction_changed(self) -> None:
        try:
            self._decide()
            for refresh in self._refreshers:
                refresh()
        except Exception as exc:
            internal_error(exc)

    def open(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The new span (current span as parent), or None if the tracer itself failed."""
        try:
            try:
                inputs: dict[str, Any] | None = self.binder.bind(args, kwargs)
                unavailable = None
            except Exception as exc:
                inputs, unavailable = None, f"{type(exc).__name__}: {exc}"
            if self.secret and inputs:
                for key in self.secret:
                    if key in inputs and not _redact.keep(inputs[key]):
                        inputs[key] = schema.REDACTED
            span = open_span(
                self.name, self.span_type, inputs, self.attributes, self.location, _current.get()
            )
            if unavailable is not None:
                span.set_attribute(schema.INPUTS_UNAVAILABLE, unavailable)
            return span
        except Exception as exc:
            internal_error(exc)
            return None


@overload
def trace(func: F) -> F: ...
@overload
def trace(
    func: str | None = None,
    name: str | None = None,
    span_type: str = SpanType.UNKNOWN,
    attributes: dict[str, Any] | None = None,
    output_reducer: Callable[[list[Any]], Any] | None = None,
) -> Callable[[F], F]: ...


def trace(
    func: Any = None,
    name: str | None = None,
    span_type: str = SpanType.UNKNOWN,
    attributes: dict[str, Any] | None = None,
    output_reducer: Callable[[list[Any]], Any] | None = None,
) -> Any:
    """Trace every call of a function as a span.

    ``@trace``, ``@trace(name=..., span_type=..., attributes={...}, output_reducer=fn)``,
    ``@trace("name")`` and ``trace(fn)`` all work, on functions, coroutines, generators, async
    generators, methods, classmethods and staticmethods.
    """
    if isinstance(func, str):
        name, func = func, None

    def decorator(fn: Any) -> Any:
        return _decorate(fn, name, span_type, attributes, output_reducer)

    return decorator if func is None else decorator(func)


def _decorate(
    fn: Any,
    name: str | None,
    span_type: str,
    attributes: dict[str, Any] | None,
    output_reducer: Callable[[list[Any]], Any] | None,
) -> Any:
    if isinstance(fn, (classmethod, staticmethod)):
        # @trace above @classmethod/@staticmethod: trace the function inside, wrap it back up.
        return type(fn)(_decorate(fn.__func__, name, span_type, attributes, output_reducer))
    spec = _SpanSpec(fn, name, span_type, attributes, output_reducer)
    if inspect.isasyncgenfunction(fn):
        wrapper = _wrap_async_generator(fn, spec)
    elif inspect.iscoroutinefunction(fn):
        wrapper = _wrap_coroutine(fn, spec)
    elif inspect.isgeneratorfunction(fn):
        wrapper = _wrap_generator(fn, spec)
    else:
        wrapper = _wrap_function(fn, spec)
    return functools.wraps(fn)(wrapper)


def _wrap_function(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    # Read once here: the wrapper runs on every call, and closure variables are the cheapest reads.
    names, name, span_type, attributes, location = (
        spec.positional,
        spec.name,
        spec.span_type,
        spec.attributes,
        spec.location,
    )
    n_positional = -1 if names is None else len(names)
    open_ = spec.open

    def refresh() -> None:  # redaction settings changed (see `_SpanSpec.redaction_changed`)
        nonlocal names, attributes, n_positional
        names, attributes = spec.positional, spec.attributes
        n_positional = -1 if names is None else len(names)

    spec._refreshers.append(refresh)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not settings.enabled:
            return fn(*args, **kwargs)
        if len(args) == n_positional and not kwargs:
            # `spec.open` inlined for the commonest call: every argument given by position.
            try:
                span = open_span(
                    name, span_type, dict(zip(names, args, strict=True)), attributes, location, _current_get()
                )
            except Exception as exc:
                internal_error(exc)
                span = None
        else:
            span = open_(args, kwargs)
        if span is None:
            return fn(*args, **kwargs)
        token = _current_set(span)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _current_reset(token)
            fail_span(span, exc)
            raise
        _current_reset(token)
        end_span(span, None, result, True)
        return result

    return wrapper


def _wrap_coroutine(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    # As `_wrap_function`.
    names, name, span_type, attributes, location = (
        spec.positional,
        spec.name,
        spec.span_type,
        spec.attributes,
        spec.location,
    )
    n_positional = -1 if names is None else len(names)
    open_ = spec.open

    def refresh() -> None:  # as in `_wrap_function`
        nonlocal names, attributes, n_positional
        names, attributes = spec.positional, spec.attributes
        n_positional = -1 if names is None else len(names)

    spec._refreshers.append(refresh)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not settings.enabled:
            return await fn(*args, **kwargs)
        if len(args) == n_positional and not kwargs:
            try:
                span = open_span(
                    name, span_type, dict(zip(names, args, strict=True)), attributes, location, _current_get()
                )
            except Exception as exc:
                internal_error(exc)
                span = None
        else:
            span = open_(args, kwargs)
        if span is None:
            return await fn(*args, **kwargs)
        token = _current_set(span)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:  # CancelledError included: a cancelled call is not OK
            _current_reset(token)
            fail_span(span, exc)
            raise
        _current_reset(token)
        end_span(span, None, result, True)
        return result

    return wrapper


class _Stream:
    """The bookkeeping of one traced generator run: chunk events as items are yielded, the reduced
    output, and how the run ended."""

    __slots__ = ("span", "spec", "items")

    def __init__(self, span: Any, spec: _SpanSpec) -> None:
        self.span = span
        self.spec = spec
        self.items: list[Any] = []

    def item(self, item: Any) -> None:
        try:
            index = len(self.items)
            self.items.append(item)
            _write_event(
                self.span,
                f"{schema.CHUNK_EVENT_PREFIX}{index}",
                {schema.CHUNK_VALUE: item},
                settings.clock(),
            )
        except Exception as exc:
            internal_error(exc)

    def _output(self) -> Any:
        reducer = self.spec.output_reducer
        if reducer is None:
            return self.items
        try:
            return reducer(self.items)
        except Exception as exc:
            # A broken reducer must not break the stream: keep the raw items and say why.
            self.span.set_attribute("tracetui.output_reducer_error", f"{type(exc).__name__}: {exc}")
            return self.items

    def finished(self) -> None:
        end_span(self.span, None, self._output(), True)

    def failed(self, exc: BaseException) -> None:
        try:
            self.span.set_outputs(self._output())
        except Exception as inner:
            internal_error(inner)
        fail_span(self.span, exc)

    def closed_early(self) -> None:
        self.span.set_attribute(schema.STREAM_CLOSED_EARLY, True)
        end_span(self.span, None, self._output(), True)


def _wrap_generator(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not settings.enabled:
            return (yield from fn(*args, **kwargs))
        span = spec.open(args, kwargs)
        if span is None:
            return (yield from fn(*args, **kwargs))
        stream = _Stream(span, spec)
        token = _current.set(span)
        try:
            gen = fn(*args, **kwargs)
        except BaseException as exc:
            _current.reset(token)
            stream.failed(exc)
            raise
        _current.reset(token)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            # The span is current only while the generator's own body runs, never in the consumer.
            token = _current.set(span)
            try:
                if to_throw is None:
                    item = gen.send(to_send)
                else:
                    item = gen.throw(to_throw)
            except StopIteration as stop:
                _current.reset(token)
                stream.finished()
                return stop.value
            except BaseException as exc:
                _current.reset(token)
                stream.failed(exc)
                raise
            _current.reset(token)
            to_throw = None
            stream.item(item)
            try:
                to_send = yield item
            except GeneratorExit:
                token = _current.set(span)
                try:
                    gen.close()
                except BaseException as exc:
                    _current.reset(token)
                    stream.failed(exc)
                    raise
                _current.reset(token)
                stream.closed_early()
                raise
            except BaseException as exc:
                to_throw, to_send = exc, None

    return wrapper


def _wrap_async_generator(fn: Callable[..., Any], spec: _SpanSpec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not settings.enabled:
            async for item in _passthrough(fn(*args, **kwargs)):
                yield item
            return
        span = spec.open(args, kwargs)
        agen = fn(*args, **kwargs)
        if span is None:
            async for item in _passthrough(agen):
                yield item
            return
        stream = _Stream(span, spec)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = _current.set(span)
            try:
                if to_throw is None:
                    item = await agen.asend(to_send)
                else:
                    item = await agen.athrow(to_throw)
            except StopAsyncIteration:
                _current.reset(token)
                stream.finished()
                return
            except BaseException as exc:
                _current.reset(token)
                stream.failed(exc)
                raise
            _current.reset(token)
            to_throw = None
            stream.item(item)
            try:
                to_send = yield item
            except GeneratorExit:
                token = _current.set(span)
                try:
                    await agen.aclose()
                except BaseException as exc:
                    _current.reset(token)
                    stream.failed(exc)
                    raise
                _current.reset(token)
                stream.closed_early()
                raise
            except BaseException as exc:
                to_throw, to_send = exc, None

    return wrapper


async def _passthrough(agen: Any) -> Any:
    """Forward an async generator's protocol unchanged (used when tracing is off)."""
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        try:
            item = await (agen.asend(to_send) if to_throw is None else agen.athrow(to_throw))
        except StopAsyncIteration:
            return
        to_throw = None
        try:
            to_send = yield item
        except GeneratorExit:
            await agen.aclose()
            raise
        except BaseException as exc:
            to_throw, to_send = exc, None

"""Each function kind (function, coroutine, generator, async generator) × (return, raise, early close),
with the exact records the tracer writes (deterministic ids and a fake clock ticking 1 µs per reading).
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import span_records

import tracer

TRACER_DIR = os.path.dirname(os.path.abspath(tracer.__file__)) + os.sep
THIS_FILE = os.path.abspath(__file__)


# -- expected-record builders ---------------------------------------------------------------------


def tid(n: int = 1) -> str:
    return f"{n:032x}"


def sid(n: int) -> str:
    return f"{n:016x}"


def ns(tick: int) -> int:
    """The fake clock's `tick`-th reading (0-based)."""
    return 1_000_000_000 + 1_000 * tick


def loc(fn: Callable[..., Any], qualname: str) -> dict[str, Any]:
    return {"file": THIS_FILE, "line": fn.__wrapped__.__code__.co_firstlineno, "qualname": qualname}


def start(
    span: int,
    name: str,
    tick: int,
    inputs: Any,
    location: Any,
    *,
    trace: int = 1,
    parent: int | None = None,
    span_type: str = "UNKNOWN",
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "kind": "span_start",
        "trace_id": tid(trace),
        "span_id": sid(span),
        "parent_id": None if parent is None else sid(parent),
        "name": name,
        "span_type": span_type,
        "start_ns": ns(tick),
        "inputs": inputs,
        "attributes": attributes or {},
        "location": location,
    }


def event(span: int, name: str, tick: int, attributes: dict[str, Any], *, trace: int = 1) -> dict[str, Any]:
    return {
        "kind": "span_event",
        "trace_id": tid(trace),
        "span_id": sid(span),
        "name": name,
        "time_ns": ns(tick),
        "attributes": attributes,
    }


def chunk(span: int, index: int, tick: int, value: Any, *, trace: int = 1) -> dict[str, Any]:
    return event(span, f"mlflow.chunk.item.{index}", tick, {"mlflow.chunk.value": value}, trace=trace)


def end(
    span: int,
    tick: int,
    outputs: Any,
    *,
    trace: int = 1,
    status: str = "OK",
    message: str = "",
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "kind": "span_end",
        "trace_id": tid(trace),
        "span_id": sid(span),
        "end_ns": ns(tick),
        "status": status,
        "status_message": message,
        "outputs": outputs,
        "attributes": attributes or {},
    }


def summary(
    root: int,
    name: str,
    start_tick: int,
    end_tick: int,
    request: str | None,
    response: str | None,
    *,
    trace: int = 1,
    status: str = "OK",
    spans: int = 1,
    errors: int = 0,
) -> dict[str, Any]:
    return {
        "kind": "trace_summary",
        "trace_id": tid(trace),
        "root_span_id": sid(root),
        "name": name,
        "status": status,
        "start_ns": ns(start_tick),
        "end_ns": ns(end_tick),
        "span_count": spans,
        "error_count": errors,
        "request_preview": request,
        "response_preview": response,
        "tags": {},
        "metadata": {},
    }


def pop_stacktraces(records: list[dict[str, Any]]) -> list[str]:
    """Remove (and return) the exception events' stack traces, which hold line numbers and paths."""
    traces = []
    for record in records:
        if record["kind"] == "span_event" and record["name"] == "exception":
            traces.append(record["attributes"].pop("exception.stacktrace"))
    return traces


def assert_user_stacktrace(stacktrace: str, user_function: str) -> None:
    assert f'File "{THIS_FILE}"' in stacktrace
    assert f"in {user_function}" in stacktrace
    assert TRACER_DIR not in stacktrace, stacktrace


def exception_attrs(type_name: str, message: str) -> dict[str, Any]:
    return {"exception.type": type_name, "exception.message": message}


# -- plain functions --------------------------------------------------------------------------------


@tracer.trace
def add(a: int, b: int = 2) -> int:
    return a + b


@tracer.trace
def explode(reason: str) -> None:
    raise ValueError(reason)


def test_function_return_records(deterministic: Path) -> None:
    """A returning function writes start, end (outputs = return value, OK) and the trace summary."""
    assert add(1) == 3
    assert span_records(deterministic) == [
        start(1, "add", 0, {"a": 1, "b": 2}, loc(add, "add")),
        end(1, 1, 3),
        summary(1, "add", 0, 1, '{"a":1,"b":2}', "3"),
    ]


def test_function_raise_records(deterministic: Path) -> None:
    """A raising function records an exception event, ERROR "Type: message", and re-raises the same object."""
    with pytest.raises(ValueError) as info:
        explode("boom")
    assert str(info.value) == "boom"
    records = span_records(deterministic)
    (stacktrace,) = pop_stacktraces(records)
    assert records == [
        start(1, "explode", 0, {"reason": "boom"}, loc(explode, "explode")),
        event(1, "exception", 1, exception_attrs("ValueError", "boom")),
        end(1, 2, None, status="ERROR", message="ValueError: boom"),
        summary(1, "explode", 0, 2, '{"reason":"boom"}', None, status="ERROR", errors=1),
    ]
    assert_user_stacktrace(stacktrace, "explode")
    assert "ValueError: boom" in stacktrace


def test_function_reraises_same_exception_object(deterministic: Path) -> None:
    """The exception leaving a traced function is the very object the body raised, traceback intact."""
    original = KeyError("k")

    @tracer.trace
    def fail() -> None:
        raise original

    with pytest.raises(KeyError) as info:
        fail()
    assert info.value is original
    assert info.value.__traceback__ is not None


def test_keyboard_interrupt_recorded_as_error(deterministic: Path) -> None:
    """KeyboardInterrupt inside a traced function is recorded as ERROR (never OK) and re-raised unchanged."""
    interrupt = KeyboardInterrupt()

    @tracer.trace
    def interrupted() -> None:
        raise interrupt

    with pytest.raises(KeyboardInterrupt) as info:
        interrupted()
    assert info.value is interrupt
    records = span_records(deterministic)
    pop_stacktraces(records)
    assert records == [
        start(
            1,
            "interrupted",
            0,
            {},
            loc(interrupted, "test_keyboard_interrupt_recorded_as_error.<locals>.interrupted"),
        ),
        event(1, "exception", 1, exception_attrs("KeyboardInterrupt", "")),
        end(1, 2, None, status="ERROR", message="KeyboardInterrupt: "),
        summary(1, "interrupted", 0, 2, "{}", None, status="ERROR", errors=1),
    ]


# -- coroutines -------------------------------------------------------------------------------------


@tracer.trace
async def async_double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@tracer.trace
async def async_explode(x: int) -> int:
    await asyncio.sleep(0)
    raise RuntimeError(f"bad {x}")


async def test_coroutine_return_records(deterministic: Path) -> None:
    """An awaited traced coroutine writes start, end with its result, and the summary."""
    assert await async_double(21) == 42
    assert span_records(deterministic) == [
        start(1, "async_double", 0, {"x": 21}, loc(async_double, "async_double")),
        end(1, 1, 42),
        summary(1, "async_double", 0, 1, '{"x":21}', "42"),
    ]


async def test_coroutine_raise_records(deterministic: Path) -> None:
    """A raising coroutine records the exception event and ERROR status, re-raising the same exception."""
    with pytest.raises(RuntimeError, match="bad 7"):
        await async_explode(7)
    records = span_records(deterministic)
    (stacktrace,) = pop_stacktraces(records)
    assert records == [
        start(1, "async_explode", 0, {"x": 7}, loc(async_explode, "async_explode")),
        event(1, "exception", 1, exception_attrs("RuntimeError", "bad 7")),
        end(1, 2, None, status="ERROR", message="RuntimeError: bad 7"),
        summary(1, "async_explode", 0, 2, '{"x":7}', None, status="ERROR", errors=1),
    ]
    assert_user_stacktrace(stacktrace, "async_explode")


async def test_coroutine_cancelled_recorded_as_error(deterministic: Path) -> None:
    """A cancelled traced coroutine ends ERROR with a CancelledError event; the cancellation propagates."""
    started = asyncio.Event()

    @tracer.trace
    async def slow() -> str:
        started.set()
        await asyncio.sleep(60)
        return "never"

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    records = span_records(deterministic)
    pop_stacktraces(records)
    assert records == [
        start(1, "slow", 0, {}, loc(slow, "test_coroutine_cancelled_recorded_as_error.<locals>.slow")),
        event(1, "exception", 1, exception_attrs("CancelledError", "")),
        end(1, 2, None, status="ERROR", message="CancelledError: "),
        summary(1, "slow", 0, 2, "{}", None, status="ERROR", errors=1),
    ]


# -- generators -------------------------------------------------------------------------------------


@tracer.trace
def count_up(n: int):
    yield from range(n)
    return "done"


@tracer.trace
def count_then_fail(n: int):
    yield from range(n)
    raise ValueError(f"failed after {n}")


def test_generator_exhausted_records(deterministic: Path) -> None:
    """An exhausted generator writes one chunk event per item, then ends OK with the list of items."""
    assert list(count_up(3)) == [0, 1, 2]
    assert span_records(deterministic) == [
        start(1, "count_up", 0, {"n": 3}, loc(count_up, "count_up")),
        chunk(1, 0, 1, 0),
        chunk(1, 1, 2, 1),
        chunk(1, 2, 3, 2),
        end(1, 4, [0, 1, 2]),
        summary(1, "count_up", 0, 4, '{"n":3}', "[0,1,2]"),
    ]


def test_generator_span_starts_when_iteration_starts(deterministic: Path) -> None:
    """Calling a traced generator function writes nothing; the span starts at the first next()."""
    gen = count_up(1)
    assert span_records(deterministic) == []
    assert next(gen) == 0
    assert span_records(deterministic) == [
        start(1, "count_up", 0, {"n": 1}, loc(count_up, "count_up")),
        chunk(1, 0, 1, 0),
    ]
    gen.close()


def test_generator_close_before_start_writes_nothing(deterministic: Path) -> None:
    """Closing a traced generator that never started writes no span at all."""
    gen = count_up(5)
    gen.close()
    assert span_records(deterministic) == []


def test_generator_return_value_preserved(deterministic: Path) -> None:
    """The generator's return value reaches the caller as StopIteration.value, as undecorated."""
    gen = count_up(1)
    assert next(gen) == 0
    with pytest.raises(StopIteration) as info:
        next(gen)
    assert info.value.value == "done"

    def outer():
        result = yield from count_up(2)
        return result

    assert list(outer()) == [0, 1]
    delegate = outer()
    next(delegate)
    next(delegate)
    with pytest.raises(StopIteration) as info2:
        next(delegate)
    assert info2.value.value == "done"


def test_generator_raise_records(deterministic: Path) -> None:
    """A generator raising mid-stream keeps its chunks, records the exception, ends ERROR with the items."""
    got = []
    with pytest.raises(ValueError, match="failed after 2"):
        for item in count_then_fail(2):
            got.append(item)
    assert got == [0, 1]
    records = span_records(deterministic)
    (stacktrace,) = pop_stacktraces(records)
    assert records == [
        start(1, "count_then_fail", 0, {"n": 2}, loc(count_then_fail, "count_then_fail")),
        chunk(1, 0, 1, 0),
        chunk(1, 1, 2, 1),
        event(1, "exception", 3, exception_attrs("ValueError", "failed after 2")),
        end(1, 4, [0, 1], status="ERROR", message="ValueError: failed after 2"),
        summary(1, "count_then_fail", 0, 4, '{"n":2}', "[0,1]", status="ERROR", errors=1),
    ]
    assert_user_stacktrace(stacktrace, "count_then_fail")


def test_generator_reraises_same_exception_object(deterministic: Path) -> None:
    """The exception leaving a traced generator is the object its body raised."""
    original = LookupError("gone")

    @tracer.trace
    def gen():
        yield 1
        raise original

    with pytest.raises(LookupError) as info:
        list(gen())
    assert info.value is original


def _closed_early_records() -> list[dict[str, Any]]:
    return [
        start(1, "count_up", 0, {"n": 10}, loc(count_up, "count_up")),
        chunk(1, 0, 1, 0),
        chunk(1, 1, 2, 1),
        end(1, 3, [0, 1], attributes={"stream.closed_early": True}),
        summary(1, "count_up", 0, 3, '{"n":10}', "[0,1]"),
    ]


def test_generator_break_closes_span(deterministic: Path) -> None:
    """Breaking out of a for loop over a traced generator ends the span OK, marked stream.closed_early."""
    for item in count_up(10):
        if item == 1:
            break
    assert span_records(deterministic) == _closed_early_records()


def test_generator_close_closes_span(deterministic: Path) -> None:
    """gen.close() after two items ends the span, marked stream.closed_early, with the items so far."""
    gen = count_up(10)
    assert next(gen) == 0
    assert next(gen) == 1
    gen.close()
    assert span_records(deterministic) == _closed_early_records()
    gen.close()  # idempotent: no second end record
    assert span_records(deterministic) == _closed_early_records()


def test_generator_garbage_collected_closes_span(deterministic: Path) -> None:
    """An unfinished traced generator that is garbage collected ends its span, marked stream.closed_early."""
    gen = count_up(10)
    next(gen)
    next(gen)
    del gen
    gc.collect()
    assert span_records(deterministic) == _closed_early_records()


def test_generator_close_runs_finally_of_body(deterministic: Path) -> None:
    """Closing a traced generator runs the body's finally block (GeneratorExit delivered to the body)."""
    events = []

    @tracer.trace
    def gen():
        try:
            yield 1
            yield 2
        finally:
            events.append("finally")

    g = gen()
    next(g)
    g.close()
    assert events == ["finally"]


def _echo():
    """A generator exercising send/throw: yields how many values it has received, returns them."""
    received: list[Any] = []
    while True:
        try:
            value = yield len(received)
        except ValueError as exc:
            received.append(f"caught {exc}")
            continue
        if value == "stop":
            return received
        received.append(value)


def _drive(gen: Any) -> list[Any]:
    """Run a fixed send/throw script against `gen`, returning everything observed."""
    observed: list[Any] = [next(gen), gen.send("a"), gen.send(None), gen.throw(ValueError("x"))]
    observed.append(gen.send("b"))
    try:
        gen.send("stop")
    except StopIteration as stop:
        observed.append(("return", stop.value))
    return observed


def test_generator_send_and_throw_match_undecorated(deterministic: Path) -> None:
    """send() and throw() into a traced generator give exactly what the plain generator gives."""
    expected = _drive(_echo())
    assert expected == [0, 1, 2, 3, 4, ("return", ["a", None, "caught x", "b"])]
    assert _drive(tracer.trace(_echo)()) == expected
    records = span_records(deterministic)
    assert [r["name"] for r in records if r["kind"] == "span_event"] == [
        f"mlflow.chunk.item.{i}" for i in range(5)
    ]
    assert [r["attributes"]["mlflow.chunk.value"] for r in records if r["kind"] == "span_event"] == [
        0,
        1,
        2,
        3,
        4,
    ]
    (end_record,) = [r for r in records if r["kind"] == "span_end"]
    assert end_record["status"] == "OK"
    assert end_record["outputs"] == [0, 1, 2, 3, 4]


def test_generator_uncaught_throw_propagates_same_object(deterministic: Path) -> None:
    """An exception thrown into a traced generator and not caught there propagates as the same object."""

    def plain():
        yield 1
        yield 2

    thrown = KeyError("thrown")
    gen = tracer.trace(plain)()
    next(gen)
    with pytest.raises(KeyError) as info:
        gen.throw(thrown)
    assert info.value is thrown
    records = span_records(deterministic)
    pop_stacktraces(records)
    assert records[-3:-1] == [
        event(1, "exception", 2, exception_attrs("KeyError", "'thrown'")),
        end(1, 3, [1], status="ERROR", message="KeyError: 'thrown'"),
    ]


def test_consumer_spans_are_not_children_of_generator_span(deterministic: Path) -> None:
    """The generator span is current only while its body runs: the consumer's spans nest under the caller."""
    inside: list[str | None] = []

    @tracer.trace
    def produce():
        for i in range(2):
            current = tracer.get_current_active_span()
            inside.append(current.name if current else None)
            with tracer.start_span(f"inner{i}"):
                pass
            yield i

    seen_in_consumer: list[str | None] = []
    with tracer.start_span("outer") as outer:
        for item in produce():
            current = tracer.get_current_active_span()
            seen_in_consumer.append(current.name if current else None)
            with tracer.start_span(f"consumer{item}"):
                pass
        assert tracer.get_current_active_span() is outer
    assert inside == ["produce", "produce"]
    assert seen_in_consumer == ["outer", "outer"]
    starts = {r["name"]: r["parent_id"] for r in span_records(deterministic) if r["kind"] == "span_start"}
    assert starts == {
        "outer": None,
        "produce": sid(1),
        "inner0": sid(2),
        "consumer0": sid(1),
        "inner1": sid(2),
        "consumer1": sid(1),
    }


def test_generator_output_reducer(deterministic: Path) -> None:
    """output_reducer turns the yielded items into the span's output; chunks still record each item."""

    @tracer.trace(output_reducer="".join)
    def words():
        yield "a"
        yield "b"

    assert list(words()) == ["a", "b"]
    records = span_records(deterministic)
    assert records[1:4] == [chunk(1, 0, 1, "a"), chunk(1, 1, 2, "b"), end(1, 3, "ab")]


def test_raising_output_reducer_does_not_break_stream(deterministic: Path) -> None:
    """A raising reducer leaves the consumer's stream intact; the span keeps the raw items and says why."""

    def bad_reducer(items: list[Any]) -> Any:
        raise ZeroDivisionError("reducer broke")

    @tracer.trace(output_reducer=bad_reducer)
    def nums():
        yield 1
        yield 2

    assert list(nums()) == [1, 2]
    records = span_records(deterministic)
    assert records[3] == end(
        1, 3, [1, 2], attributes={"tracetui.output_reducer_error": "ZeroDivisionError: reducer broke"}
    )
    assert records[3]["status"] == "OK"


def test_chunk_value_is_json_value_not_string(deterministic: Path) -> None:
    """Each chunk event carries the yielded item itself as a JSON value (dicts stay dicts)."""

    @tracer.trace
    def dicts():
        yield {"delta": "hi", "n": [1, 2]}

    list(dicts())
    records = span_records(deterministic)
    assert records[1] == chunk(1, 0, 1, {"delta": "hi", "n": [1, 2]})


# -- async generators ---------------------------------------------------------------------------------


@tracer.trace
async def async_count(n: int):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


@tracer.trace
async def async_count_then_fail(n: int):
    for i in range(n):
        yield i
    raise ValueError(f"async failed after {n}")


async def test_async_generator_exhausted_records(deterministic: Path) -> None:
    """An exhausted async generator writes chunk events and ends OK with the list of items."""
    assert [i async for i in async_count(2)] == [0, 1]
    assert span_records(deterministic) == [
        start(1, "async_count", 0, {"n": 2}, loc(async_count, "async_count")),
        chunk(1, 0, 1, 0),
        chunk(1, 1, 2, 1),
        end(1, 3, [0, 1]),
        summary(1, "async_count", 0, 3, '{"n":2}', "[0,1]"),
    ]


async def test_async_generator_raise_records(deterministic: Path) -> None:
    """An async generator raising mid-stream records the exception, ends ERROR, and re-raises."""
    got = []
    with pytest.raises(ValueError, match="async failed after 1") as info:
        async for item in async_count_then_fail(1):
            got.append(item)
    assert got == [0]
    assert str(info.value) == "async failed after 1"
    records = span_records(deterministic)
    (stacktrace,) = pop_stacktraces(records)
    assert records == [
        start(1, "async_count_then_fail", 0, {"n": 1}, loc(async_count_then_fail, "async_count_then_fail")),
        chunk(1, 0, 1, 0),
        event(1, "exception", 2, exception_attrs("ValueError", "async failed after 1")),
        end(1, 3, [0], status="ERROR", message="ValueError: async failed after 1"),
        summary(1, "async_count_then_fail", 0, 3, '{"n":1}', "[0]", status="ERROR", errors=1),
    ]
    assert_user_stacktrace(stacktrace, "async_count_then_fail")


def _async_closed_early_records() -> list[dict[str, Any]]:
    return [
        start(1, "async_count", 0, {"n": 10}, loc(async_count, "async_count")),
        chunk(1, 0, 1, 0),
        chunk(1, 1, 2, 1),
        end(1, 3, [0, 1], attributes={"stream.closed_early": True}),
        summary(1, "async_count", 0, 3, '{"n":10}', "[0,1]"),
    ]


async def test_async_generator_aclose_closes_span(deterministic: Path) -> None:
    """aclose() after two items ends the span OK, marked stream.closed_early, with the items so far."""
    agen = async_count(10)
    assert await agen.__anext__() == 0
    assert await agen.__anext__() == 1
    await agen.aclose()
    assert span_records(deterministic) == _async_closed_early_records()


async def test_async_generator_break_then_aclose_closes_span(deterministic: Path) -> None:
    """Breaking out of `async for` and closing the iterator ends the span, marked stream.closed_early."""
    agen = async_count(10)
    async for item in agen:
        if item == 1:
            break
    await agen.aclose()
    assert span_records(deterministic) == _async_closed_early_records()


async def test_async_generator_garbage_collected_closes_span(deterministic: Path) -> None:
    """An unfinished async generator dropped after `break` is finalised by the loop and its span ends."""
    async for item in async_count(10):
        if item == 1:
            break
    gc.collect()
    for _ in range(10):
        await asyncio.sleep(0)
    assert span_records(deterministic) == _async_closed_early_records()


async def test_async_generator_asend_athrow_match_undecorated(deterministic: Path) -> None:
    """asend()/athrow() into a traced async generator behave exactly as for the plain one."""

    async def echo():
        received: list[Any] = []
        while True:
            try:
                value = yield len(received)
            except ValueError as exc:
                received.append(f"caught {exc}")
                continue
            received.append(value)

    async def drive(agen: Any) -> list[Any]:
        observed = [await agen.asend(None), await agen.asend("a"), await agen.athrow(ValueError("x"))]
        observed.append(await agen.asend("b"))
        await agen.aclose()
        return observed

    expected = await drive(echo())
    assert expected == [0, 1, 2, 3]
    assert await drive(tracer.trace(echo)()) == expected


async def test_async_generator_output_reducer(deterministic: Path) -> None:
    """An async generator's output_reducer result becomes the span output (ChatCompletion-style join)."""

    @tracer.trace(output_reducer=lambda chunks: "".join(c["delta"] for c in chunks))
    async def stream():
        for piece in ("Hel", "lo"):
            yield {"delta": piece}

    assert [c async for c in stream()] == [{"delta": "Hel"}, {"delta": "lo"}]
    records = span_records(deterministic)
    assert records[1:4] == [
        chunk(1, 0, 1, {"delta": "Hel"}),
        chunk(1, 1, 2, {"delta": "lo"}),
        end(1, 3, "Hello"),
    ]


async def test_async_generator_consumer_spans_not_children(deterministic: Path) -> None:
    """Spans the consumer of an async generator opens nest under the caller, not the generator span."""
    with tracer.start_span("outer"):
        async for item in async_count(2):
            with tracer.start_span(f"consumer{item}"):
                pass
    starts = {r["name"]: r["parent_id"] for r in span_records(deterministic) if r["kind"] == "span_start"}
    assert starts == {"outer": None, "async_count": sid(1), "consumer0": sid(1), "consumer1": sid(1)}

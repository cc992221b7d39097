"""The ways `tracer.trace` is applied (bare, called, positional name, on methods) and what it preserves of
the wrapped function (metadata, signature, kind), and how call arguments become the span's inputs."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import span_records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracer


def starts(directory: Path) -> list[dict[str, Any]]:
    return [r for r in span_records(directory) if r["kind"] == "span_start"]


def ends(directory: Path) -> list[dict[str, Any]]:
    return [r for r in span_records(directory) if r["kind"] == "span_end"]


# -- forms of the decorator -------------------------------------------------------------------------


def test_bare_decorator(deterministic: Path) -> None:
    """@tracer.trace names the span after the function, type UNKNOWN, and records inputs and output."""

    @tracer.trace
    def greet(who: str) -> str:
        return f"hi {who}"

    assert greet("bob") == "hi bob"
    (start,) = starts(deterministic)
    assert (start["name"], start["span_type"], start["inputs"], start["attributes"]) == (
        "greet",
        "UNKNOWN",
        {"who": "bob"},
        {},
    )
    assert ends(deterministic)[0]["outputs"] == "hi bob"


def test_called_without_arguments(deterministic: Path) -> None:
    """@tracer.trace() behaves as the bare form."""

    @tracer.trace()
    def one() -> int:
        return 1

    assert one() == 1
    (start,) = starts(deterministic)
    assert (start["name"], start["span_type"]) == ("one", "UNKNOWN")


def test_positional_string_is_the_name(deterministic: Path) -> None:
    """@tracer.trace("my-name") takes the string as the span name (MLflow raises; we don't)."""

    @tracer.trace("my-name")
    def fn(x: int) -> int:
        return x + 1

    assert fn(1) == 2
    assert fn.__name__ == "fn"
    (start,) = starts(deterministic)
    assert start["name"] == "my-name"
    assert start["inputs"] == {"x": 1}


def test_keyword_options(deterministic: Path) -> None:
    """name=, span_type= and attributes= are written on the span start record."""

    @tracer.trace(name="custom", span_type=tracer.SpanType.LLM, attributes={"model": "m1", "temp": 0.5})
    def call(prompt: str) -> str:
        return prompt.upper()

    assert call("q") == "Q"
    (start,) = starts(deterministic)
    assert (start["name"], start["span_type"], start["attributes"]) == (
        "custom",
        "LLM",
        {"model": "m1", "temp": 0.5},
    )


def test_trace_wraps_existing_function(deterministic: Path) -> None:
    """tracer.trace(fn) returns a traced version of an existing function and leaves fn itself untraced."""

    def plain(a: int, b: int) -> int:
        return a * b

    traced = tracer.trace(plain)
    assert plain(2, 3) == 6
    assert span_records(deterministic) == []
    assert traced(2, 3) == 6
    (start,) = starts(deterministic)
    assert (start["name"], start["inputs"]) == ("plain", {"a": 2, "b": 3})


def test_custom_span_type_string(deterministic: Path) -> None:
    """Any string is accepted as a custom span type and recorded as given."""

    @tracer.trace(span_type="MY_OWN_TYPE")
    def fn() -> None:
        return None

    fn()
    assert starts(deterministic)[0]["span_type"] == "MY_OWN_TYPE"


def test_span_type_constants() -> None:
    """tracer.SpanType has every constant of the issue, each equal to its own name."""
    names = [
        "LLM",
        "CHAIN",
        "AGENT",
        "TOOL",
        "CHAT_MODEL",
        "RETRIEVER",
        "PARSER",
        "EMBEDDING",
        "RERANKER",
        "MEMORY",
        "UNKNOWN",
        "WORKFLOW",
        "TASK",
        "GUARDRAIL",
        "EVALUATOR",
    ]
    assert {name: getattr(tracer.SpanType, name) for name in names} == {name: name for name in names}
    assert (tracer.SpanStatusCode.UNSET, tracer.SpanStatusCode.OK, tracer.SpanStatusCode.ERROR) == (
        "UNSET",
        "OK",
        "ERROR",
    )


# -- methods ------------------------------------------------------------------------------------------


class Calculator:
    def __init__(self, base: int) -> None:
        self.base = base

    @tracer.trace
    def add(self, x: int) -> int:
        return self.base + x

    @tracer.trace
    @classmethod
    def make_above(cls, x: int) -> str:
        return f"{cls.__name__}:{x}"

    @classmethod
    @tracer.trace
    def make_below(cls, x: int) -> str:
        return f"{cls.__name__}:{x}"

    @tracer.trace
    @staticmethod
    def static_above(x: int, y: int = 1) -> int:
        return x - y

    @staticmethod
    @tracer.trace
    def static_below(x: int, y: int = 1) -> int:
        return x - y


class FalsyList(list):
    @tracer.trace
    def first_or(self, default: Any) -> Any:
        return self[0] if self else default


def test_method_excludes_self(deterministic: Path) -> None:
    """A traced method records its arguments without `self`."""
    assert Calculator(10).add(5) == 15
    assert starts(deterministic)[0]["inputs"] == {"x": 5}
    assert starts(deterministic)[0]["name"] == "add"


@pytest.mark.parametrize("method", ["make_above", "make_below"])
def test_classmethod_either_order_excludes_cls(deterministic: Path, method: str) -> None:
    """@trace above or below @classmethod traces the call, binds cls correctly, and leaves cls out."""
    assert getattr(Calculator, method)(3) == "Calculator:3"
    assert getattr(Calculator(0), method)(4) == "Calculator:4"
    assert [(s["name"], s["inputs"]) for s in starts(deterministic)] == [
        (method, {"x": 3}),
        (method, {"x": 4}),
    ]


@pytest.mark.parametrize("method", ["static_above", "static_below"])
def test_staticmethod_either_order(deterministic: Path, method: str) -> None:
    """@trace above or below @staticmethod traces the call with all its arguments, from class or instance."""
    assert getattr(Calculator, method)(5) == 4
    assert getattr(Calculator(0), method)(5, y=2) == 3
    assert [(s["name"], s["inputs"]) for s in starts(deterministic)] == [
        (method, {"x": 5, "y": 1}),
        (method, {"x": 5, "y": 2}),
    ]


def test_falsy_self_still_excluded(deterministic: Path) -> None:
    """`self` is excluded by position and name even when the instance is falsy (an empty list subclass)."""
    empty = FalsyList()
    assert not empty
    assert empty.first_or("d") == "d"
    assert FalsyList([7]).first_or("d") == 7
    assert [s["inputs"] for s in starts(deterministic)] == [{"default": "d"}, {"default": "d"}]


def test_self_name_elsewhere_is_kept(deterministic: Path) -> None:
    """Only a first parameter called self/cls is dropped: other parameters named so are inputs."""

    @tracer.trace
    def fn(a: int, self: int) -> int:
        return a + self

    @tracer.trace
    def gn(this: int, x: int) -> int:
        return this + x

    assert fn(1, 2) == 3
    assert gn(1, 2) == 3
    assert [s["inputs"] for s in starts(deterministic)] == [{"a": 1, "self": 2}, {"this": 1, "x": 2}]


# -- what the wrapper preserves -------------------------------------------------------------------


def _sync(a: int, /, b: str = "x", *args: Any, c: float, **kw: Any) -> str:
    """Sync doc."""
    return b


async def _coro(a: int, *, b: int = 2) -> int:
    """Coro doc."""
    return a + b


def _gen(n: int):
    """Gen doc."""
    yield from range(n)


async def _agen(n: int, step: int = 1):
    """Agen doc."""
    for i in range(0, n, step):
        yield i


KINDS = [_sync, _coro, _gen, _agen]
PREDICATES = [
    inspect.iscoroutinefunction,
    inspect.isgeneratorfunction,
    inspect.isasyncgenfunction,
]


@pytest.mark.parametrize("fn", KINDS, ids=lambda f: f.__name__)
def test_wraps_metadata_and_signature(fn: Any) -> None:
    """The wrapper carries __name__, __qualname__, __doc__, __wrapped__, and an equal inspect.signature."""
    wrapped = tracer.trace(fn)
    assert wrapped is not fn
    assert wrapped.__name__ == fn.__name__
    assert wrapped.__qualname__ == fn.__qualname__
    assert wrapped.__doc__ == fn.__doc__
    assert wrapped.__wrapped__ is fn
    assert inspect.signature(wrapped) == inspect.signature(fn)


@pytest.mark.parametrize("fn", KINDS, ids=lambda f: f.__name__)
def test_function_kind_predicates_preserved(fn: Any) -> None:
    """iscoroutinefunction / isgeneratorfunction / isasyncgenfunction answer the same for the wrapper."""
    wrapped = tracer.trace(fn)
    assert [p(wrapped) for p in PREDICATES] == [p(fn) for p in PREDICATES]
    assert any(p(fn) for p in PREDICATES) or fn is _sync


def test_decorator_order_with_other_decorator(deterministic: Path) -> None:
    """@trace over a functools.wraps decorator records the inner function's inputs and the outer result."""
    import functools

    def doubled(fn: Any) -> Any:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            return 2 * fn(*args, **kwargs)

        return inner

    @tracer.trace
    @doubled
    def value(x: int, y: int = 5) -> int:
        return x + y

    assert value(1) == 12
    (start,) = starts(deterministic)
    assert (start["name"], start["inputs"]) == ("value", {"x": 1, "y": 5})
    assert ends(deterministic)[0]["outputs"] == 12


# -- input binding ------------------------------------------------------------------------------------


def sig_simple(a, b=1):
    return None


def sig_full(a, b=2, *args, c, d=4, **kwargs):
    return None


def sig_posonly(x, y, /, z=3, *, w="w"):
    return None


def sig_varargs_only(*args, **kwargs):
    return None


SIGNATURES = [sig_simple, sig_full, sig_posonly, sig_varargs_only]
TRACED = {fn.__name__: tracer.trace(fn) for fn in SIGNATURES}
ARG_NAMES = ["a", "b", "c", "d", "x", "y", "z", "w", "kwargs", "args", "extra"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fn=st.sampled_from(SIGNATURES),
    args=st.lists(st.integers(-5, 5), max_size=5),
    kwargs=st.dictionaries(st.sampled_from(ARG_NAMES), st.integers(-5, 5), max_size=4),
)
def test_inputs_equal_signature_bind(
    trace_dir: Path, fn: Any, args: list[int], kwargs: dict[str, int]
) -> None:
    """Recorded inputs equal Signature.bind(*a, **kw) with defaults applied; a misfit call raises the same
    TypeError as the undecorated function and records inputs as unavailable."""
    traced = TRACED[fn.__name__]
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        with pytest.raises(TypeError) as plain_error:
            fn(*args, **kwargs)
        with pytest.raises(TypeError) as traced_error:
            traced(*args, **kwargs)
        assert str(traced_error.value) == str(plain_error.value)
        records = span_records(trace_dir)
        start = [r for r in records if r["kind"] == "span_start"][-1]
        end = [r for r in records if r["kind"] == "span_end"][-1]
        assert start["inputs"] is None
        assert end["attributes"]["tracetui.inputs_unavailable"].startswith("TypeError")
        assert end["status"] == "ERROR"
        return
    bound.apply_defaults()
    expected = orjson.loads(orjson.dumps(dict(bound.arguments)))
    assert traced(*args, **kwargs) is None
    records = span_records(trace_dir)
    start = [r for r in records if r["kind"] == "span_start"][-1]
    end = [r for r in records if r["kind"] == "span_end"][-1]
    assert start["inputs"] == expected
    assert "tracetui.inputs_unavailable" not in end["attributes"]
    assert end["status"] == "OK"


def test_binding_examples(deterministic: Path) -> None:
    """Concrete bindings: defaults applied, *args as a list, **kwargs as a dict, keyword-only included."""
    TRACED["sig_full"](1, 2, 3, 4, c=5, e=6)
    TRACED["sig_posonly"](1, 2)
    TRACED["sig_simple"](b=9, a=8)
    assert [s["inputs"] for s in starts(deterministic)] == [
        {"a": 1, "b": 2, "args": [3, 4], "c": 5, "d": 4, "kwargs": {"e": 6}},
        {"x": 1, "y": 2, "z": 3, "w": "w"},
        {"a": 8, "b": 9},
    ]


def test_misfit_call_still_runs_and_marks_inputs_unavailable(deterministic: Path) -> None:
    """A misfit call raises the function's own TypeError; the span records inputs as unavailable."""
    calls = []

    def takes_two(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    with pytest.raises(TypeError) as plain_error:
        takes_two(1, 2, 3)
    traced = tracer.trace(takes_two)
    with pytest.raises(TypeError) as traced_error:
        traced(1, 2, 3)
    assert str(traced_error.value) == str(plain_error.value)
    assert calls == []
    (start,) = starts(deterministic)
    (end,) = ends(deterministic)
    assert start["inputs"] is None
    assert end["status"] == "ERROR"
    assert end["status_message"] == f"TypeError: {plain_error.value}"
    assert end["attributes"]["tracetui.inputs_unavailable"].startswith("TypeError: ")


def test_misfit_call_for_lenient_callable_still_runs(deterministic: Path) -> None:
    """When binding fails but the callee accepts the call anyway (a lying __signature__), it still runs."""

    def real(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return args

    def fake(a: int) -> None:
        return None

    real.__signature__ = inspect.signature(fake)  # type: ignore[attr-defined]
    traced = tracer.trace(real)
    assert traced(1, 2, 3) == (1, 2, 3)
    (start,) = starts(deterministic)
    (end,) = ends(deterministic)
    assert start["inputs"] is None
    assert end["status"] == "OK"
    assert end["outputs"] == [1, 2, 3]
    assert end["attributes"]["tracetui.inputs_unavailable"].startswith("TypeError: ")

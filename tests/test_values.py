"""Values orjson cannot encode natively reach the records through the documented fallback (see the
`tracer.values` docstring), oversized values are truncated visibly, and encoding never raises."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pydantic
import pytest
from conftest import load, span_records
from hypothesis import given, settings
from hypothesis import strategies as st

import tracer
from tracer.config import settings as settings_
from tracer.schema import TRUNCATION_MARKER, TRUNCATION_MARKER_ESTIMATED
from tracer.values import DEFAULT_MAX_VALUE_BYTES, encode_value
from tracer.writer import writer


class WithRepr:
    def __repr__(self) -> str:
        return "<WithRepr 42>"


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class Model(pydantic.BaseModel):
    name: str
    tags: list[str]
    score: float = 0.5


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


def cyclic_list() -> list[Any]:
    value: list[Any] = [1, "two"]
    value.append(value)
    return value


def cyclic_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1}
    value["self"] = value
    return value


# (id, value factory, the JSON value expected in the record)
CASES: list[tuple[str, Any, Any]] = [
    ("object_repr", WithRepr, "<WithRepr 42>"),
    ("cyclic_list", cyclic_list, [1, "two", "<cycle>"]),
    ("cyclic_dict", cyclic_dict, {"x": 1, "self": "<cycle>"}),
    ("set", lambda: {3, 1, 2}, [1, 2, 3]),
    ("frozenset", lambda: frozenset({"a"}), ["a"]),
    ("bytes", lambda: b"ab\xffc", "ab\\xffc"),
    ("bytearray", lambda: bytearray(b"hi"), "hi"),
    ("pydantic", lambda: Model(name="n", tags=["t1"]), {"name": "n", "tags": ["t1"], "score": 0.5}),
    ("dataclass", lambda: Point(1, [2, 3]), {"x": 1, "y": [2, 3]}),
    ("numpy_array", lambda: np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
    ("numpy_float", lambda: np.float32(1.5), 1.5),
    ("numpy_int", lambda: np.int64(-7), -7),
    ("numpy_complex_array", lambda: np.array([1 + 2j]), ["(1+2j)"]),
    ("exception", lambda: ValueError("bad value"), "ValueError('bad value')"),
    ("bad_repr", BadRepr, "<unrepresentable BadRepr>"),
    ("surrogate", lambda: "a\ud800b", "a\\ud800b"),
    ("surrogate_key", lambda: {"k\udfff": "v\ud800"}, {"k\\udfff": "v\\ud800"}),
    ("non_str_keys", lambda: {1: "a", None: "b", 2.5: "c"}, {"1": "a", "null": "b", "2.5": "c"}),
    ("tuple_key", lambda: {(1, 2): "t", "s": 1}, {"(1, 2)": "t", "s": 1}),
    ("nan_inf", lambda: [math.nan, math.inf, -math.inf], [None, None, None]),
    ("big_int", lambda: 2**70, "1180591620717411303424"),
    ("big_int_key", lambda: {2**70: "v", 1: [2**65]}, {"1180591620717411303424": "v", "1": [str(2**65)]}),
    ("big_negative_int", lambda: -(2**63) - 1, "-9223372036854775809"),
    ("max_u64", lambda: 2**64 - 1, 2**64 - 1),
    (
        "nested_mix",
        lambda: {"s": {1}, "b": b"x", "o": WithRepr()},
        {"s": [1], "b": "x", "o": "<WithRepr 42>"},
    ),
]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_traced_function_with_unencodable_values(deterministic: Path, make: Any, expected: Any) -> None:
    """The function receives and returns the very object; inputs and outputs are stored by the fallback."""
    value = make()
    received = []

    @tracer.trace
    def identity(value: Any) -> Any:
        received.append(value)
        return value

    assert identity(value) is value
    assert received[0] is value
    records = span_records(deterministic)
    start, end, summary = records
    assert start["inputs"] == {"value": expected}
    assert end["outputs"] == expected
    assert end["status"] == "OK"
    assert summary["kind"] == "trace_summary"
    assert orjson.loads(summary["request_preview"]) == {"value": expected}


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_encode_value_fallback(make: Any, expected: Any) -> None:
    """encode_value gives valid (strict) JSON equal to the documented fallback."""
    encoded = encode_value(make())
    assert json.loads(encoded) == expected  # strict: no NaN literals, valid UTF-8


def test_unencodable_values_in_attributes_and_events(deterministic: Path) -> None:
    """Attributes, events and chunk values go through the same fallback."""

    @tracer.trace(attributes={"static": {5}})
    def gen():
        span = tracer.get_current_active_span()
        span.set_attribute("obj", WithRepr())
        span.add_event("e", {"bytes": b"z", "big": 2**80})
        yield {1, 2}

    assert list(gen()) == [{1, 2}]
    start, event, chunk, end, _summary = span_records(deterministic)
    assert start["attributes"] == {"static": [5]}
    assert event["attributes"] == {"bytes": "z", "big": str(2**80)}
    assert chunk["attributes"] == {"mlflow.chunk.value": [1, 2]}
    assert end["attributes"] == {"obj": "<WithRepr 42>"}
    assert end["outputs"] == [[1, 2]]


def test_raising_model_dump_falls_back_to_repr(deterministic: Path) -> None:
    """An object whose model_dump raises is stored as its repr, and the call is unaffected."""

    class Broken:
        def model_dump(self, **kwargs: Any) -> Any:
            raise RuntimeError("no dump")

        def __repr__(self) -> str:
            return "Broken()"

    @tracer.trace
    def fn(x: Any) -> str:
        return "ok"

    assert fn(Broken()) == "ok"
    assert span_records(deterministic)[0]["inputs"] == {"x": "Broken()"}


def test_mutation_after_call_not_recorded(deterministic: Path) -> None:
    """Inputs are captured when the span starts: mutating the argument in the body does not change them."""

    @tracer.trace
    def fn(items: list[int]) -> int:
        items.append(99)
        return len(items)

    assert fn([1]) == 2
    assert span_records(deterministic)[0]["inputs"] == {"items": [1]}


# -- oversized values ---------------------------------------------------------------------------------


def marker(size: int) -> str:
    return TRUNCATION_MARKER.format(size=size)


def test_oversized_string_truncated_default_cap(deterministic: Path) -> None:
    """A string over 64 KiB is stored cut at the cap, followed by the visible truncation marker."""
    big = "x" * 100_000

    @tracer.trace
    def fn(text: str, small: int) -> str:
        return text

    assert fn(big, 1) is big
    start, end, _summary = span_records(deterministic)
    assert DEFAULT_MAX_VALUE_BYTES == 64 * 1024
    assert start["inputs"] == {"text": "x" * DEFAULT_MAX_VALUE_BYTES + marker(100_000), "small": 1}
    assert end["outputs"] == "x" * DEFAULT_MAX_VALUE_BYTES + marker(100_000)
    assert "…[tracetui: truncated, 100000 bytes]" in end["outputs"]


def test_oversized_structure_truncated_default_cap(deterministic: Path) -> None:
    """A list whose JSON exceeds 64 KiB becomes a string: its JSON text cut at the cap plus the marker."""
    big = list(range(30_000))
    encoded = orjson.dumps(big)
    assert len(encoded) > DEFAULT_MAX_VALUE_BYTES

    @tracer.trace
    def fn(items: list[int]) -> int:
        return len(items)

    assert fn(big) == 30_000
    start, end, _summary = span_records(deterministic)
    assert start["inputs"] == {"items": encoded[:DEFAULT_MAX_VALUE_BYTES].decode() + marker(len(encoded))}
    assert end["outputs"] == 30_000


def test_value_just_under_cap_not_truncated(deterministic: Path) -> None:
    """A value whose JSON fits within the cap is stored whole."""
    text = "y" * (DEFAULT_MAX_VALUE_BYTES - 2)  # plus two quotes: exactly the cap

    @tracer.trace
    def fn(t: str) -> None:
        return None

    fn(text)
    assert span_records(deterministic)[0]["inputs"] == {"t": text}


def test_configured_max_value_bytes(deterministic: Path) -> None:
    """configure(max_value_bytes=N) cuts each input, output and attribute value at N bytes."""
    tracer.configure(max_value_bytes=100)
    numbers = list(range(100))
    encoded = orjson.dumps(numbers)

    @tracer.trace
    def fn(numbers: list[int], label: str) -> list[int]:
        tracer.get_current_active_span().set_attribute("long", "z" * 500)
        return numbers

    assert fn(numbers, "short") is numbers
    start, end, _summary = span_records(deterministic)
    cut = encoded[:100].decode() + marker(len(encoded))
    assert start["inputs"] == {"numbers": cut, "label": "short"}
    assert end["outputs"] == cut
    assert end["attributes"] == {"long": "z" * 100 + marker(500)}


def test_truncated_multibyte_string_stays_valid(deterministic: Path) -> None:
    """Cutting a value of multi-byte characters at the cap yields valid UTF-8 JSON with the marker."""
    tracer.configure(max_value_bytes=50)

    @tracer.trace
    def fn(items: list[str]) -> None:
        return None

    fn(["é" * 100])
    (start, _end, _summary) = span_records(deterministic)
    value = start["inputs"]["items"]
    full = orjson.dumps(["é" * 100])
    assert value.endswith(marker(len(full)))
    assert full.decode().startswith(value[: -len(marker(len(full)))])


# -- property: encoding never raises --------------------------------------------------------------------


class Opaque:
    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        if self.n % 3 == 0:
            raise ValueError("no repr")
        return f"Opaque({self.n})"


any_text = st.text(st.characters(codec=None, categories=None), max_size=20)
hashable_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), any_text
)
leaves = st.one_of(
    hashable_leaves,
    st.binary(max_size=20),
    st.builds(Opaque, st.integers(0, 10)),
    st.frozensets(hashable_leaves, max_size=3),
    st.builds(lambda v: np.array(v), st.lists(st.integers(-100, 100), max_size=4)),
)
keys = st.one_of(any_text, st.integers(), st.none(), st.tuples(st.integers(), any_text), st.booleans())
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=4),
        st.sets(hashable_leaves, max_size=3),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=values, cap=st.sampled_from([16, 200, DEFAULT_MAX_VALUE_BYTES]))
def test_encode_value_never_raises_and_is_valid_json(value: Any, cap: int) -> None:
    """Arbitrary nested values encode without raising, to strict valid JSON, capped with the marker."""
    encoded = encode_value(value, cap)
    assert isinstance(encoded, bytes)
    decoded = json.loads(encoded.decode("utf-8"))  # strict UTF-8 and JSON (no NaN/Infinity literals)
    assert orjson.loads(encoded) == decoded or decoded != decoded
    # Cut at `cap` bytes of JSON text, then quoted as a string: `"` and `\\` double, so at most 2x.
    if len(encoded) > 2 * cap + len(marker(0).encode()) + 64:
        pytest.fail(f"encoded value of {len(encoded)} bytes over cap {cap}")
    if isinstance(decoded, str) and "tracetui: truncated" in decoded:
        assert decoded.endswith(" bytes]")


@settings(max_examples=100, deadline=None)
@given(value=values)
def test_cyclic_containers_never_raise(value: Any) -> None:
    """Wrapping any value in a self-referencing list and dict still encodes to valid JSON."""
    outer: list[Any] = [value]
    outer.append(outer)
    holder: dict[str, Any] = {"v": value, "l": outer}
    holder["me"] = holder
    decoded = json.loads(encode_value(holder))
    assert decoded["me"] == "<cycle>"
    assert decoded["l"][1] == "<cycle>"


# -- big values: cut before being encoded in full, memory bounded --------------------------------------


BIG_VALUES = [
    ("str_50MB", lambda: "x" * 50_000_000, False),
    ("list_5M_ints", lambda: list(range(5_000_000)), True),
    ("dict_1M_keys", lambda: {f"key{i}": i for i in range(1_000_000)}, True),
    ("bytes_30MB", lambda: b"ab\xff" * 10_000_000, True),
]


@pytest.mark.parametrize(("make", "estimated"), [c[1:] for c in BIG_VALUES], ids=[c[0] for c in BIG_VALUES])
@pytest.mark.parametrize("where", ["root", "child"])
def test_big_output_cut_before_encoding(deterministic: Path, make: Any, estimated: bool, where: str) -> None:
    """A huge return value (root or child span) is stored as its first `cap` bytes plus the marker, and
    tracing it allocates O(cap) memory, not O(size of the value)."""
    value = make()
    full_size = len(orjson.dumps(value, default=lambda o: bytes(o).decode("utf-8", "backslashreplace")))

    @tracer.trace
    def produce() -> Any:
        return value

    @tracer.trace
    def outer() -> int:
        return len(produce())

    fn = produce if where == "root" else outer
    fn()  # warm up: the file, the writer thread, orjson's first use
    tracer.flush()
    tracemalloc.start()
    try:
        fn()
        tracer.flush()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"tracing a {full_size:,}-byte value allocated {peak:,} bytes"

    ends = [r for r in span_records(deterministic) if r["kind"] == "span_end"]
    produced = [r for r in ends if r["outputs"] != len(value)][-1]["outputs"]
    assert isinstance(produced, str)
    size = int(produced.rsplit(", ", 1)[1].split(" ")[0].lstrip("~"))
    if estimated:
        # Cut early: the first cap bytes of the JSON text are exact, the size an estimate.
        assert produced.endswith(TRUNCATION_MARKER_ESTIMATED.format(size=size))
        if isinstance(value, list):
            prefix = orjson.dumps(value[:50_000])
        elif isinstance(value, dict):
            prefix = orjson.dumps(dict(itertools.islice(value.items(), 50_000)))
        else:
            prefix = orjson.dumps(value[:200_000].decode("utf-8", "backslashreplace"))
        assert produced.startswith(prefix[:DEFAULT_MAX_VALUE_BYTES].decode("utf-8", "ignore"))
        assert full_size / 3 < size < full_size * 3
    else:
        assert produced == "x" * DEFAULT_MAX_VALUE_BYTES + marker(50_000_000)
    assert len(produced.encode()) <= DEFAULT_MAX_VALUE_BYTES + 100


def test_big_dict_prefix_matches_full_encoding() -> None:
    """The early cut keeps exactly the first `cap` bytes a full encoding would have (non-str keys too)."""
    for value in ({i: str(i) for i in range(400_000)}, {f"k{i}": [i, {"n": i}] for i in range(300_000)}):
        encoded = orjson.loads(encode_value(value, 1000))
        full = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        assert encoded.startswith(full[:1000].decode())
        assert "tracetui: truncated, ~" in encoded


# -- round trip through the file and the reader ---------------------------------------------------------


class RaisingRepr:
    """An object whose `__repr__` raises: it must still be stored (as the fallback text)."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


round_trip_values = st.one_of(values, st.builds(RaisingRepr))


@settings(max_examples=60, deadline=None)
@given(argument=round_trip_values, result=round_trip_values)
def test_any_value_round_trips_through_the_reader_as_json(
    tmp_path_factory: pytest.TempPathFactory, argument: Any, result: Any
) -> None:
    """Whatever a traced function takes and returns, the call returns it unchanged, and the reader gives
    back exactly the JSON value the tracer's encoding of it describes."""
    directory = tmp_path_factory.mktemp("roundtrip")
    tracer.configure(directory=directory)
    try:

        @tracer.trace
        def passthrough(value: Any) -> Any:
            return result

        assert passthrough(argument) is result
        trace_id = tracer.get_last_active_trace_id()
        store = load(directory)
        assert trace_id is not None
        trace = store.get(trace_id)
        assert trace is not None and store.lines_skipped == 0
        (span,) = trace.spans
        expected_in = orjson.loads(encode_value({"value": argument}))
        expected_out = orjson.loads(encode_value(result))
        assert _same_json(span.inputs, expected_in)
        assert _same_json(span.outputs, expected_out)
    finally:
        writer.close()
        settings_.reset()


def _same_json(left: Any, right: Any) -> bool:
    """JSON equality where NaN never occurs (encoded as null) but floats may be -0.0 vs 0.0."""
    return orjson.dumps(left) == orjson.dumps(right)

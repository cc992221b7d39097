"""Turning arbitrary user values into JSON without ever raising.

Inputs, outputs and attribute values are stored as JSON values. orjson encodes the common types natively
(str, int, float, bool, None, dict, list, tuple, dataclasses, datetimes, UUIDs, enums, numpy arrays and
scalars). Everything else goes through `json_default`, the documented fallback, in this order:

1. an object with ``model_dump()`` (pydantic v2) → its ``model_dump(mode="json")``;
   with ``dict()`` (pydantic v1) → that dict;
2. set, frozenset, deque and other sized iterables that are not iterators → list;
   a Mapping → dict;
3. bytes / bytearray / memoryview → text (UTF-8, undecodable bytes as ``\\xNN``);
4. anything else → ``repr(obj)`` (and ``<unrepresentable T>`` if ``repr`` itself raises).

When that still fails (a cycle, nesting deeper than orjson allows, a string with lone surrogates),
`encode_value` falls back to `_sanitize`, which walks the value by hand. A value whose JSON is larger than
the cap is replaced by a string: its JSON text cut at the cap plus the schema's truncation marker.

Imports: the standard library, orjson and `tracer.schema`.
"""

from __future__ import annotations

import collections.abc
from typing import Any

import orjson

from tracer.schema import TRUNCATION_MARKER

DEFAULT_MAX_VALUE_BYTES = 64 * 1024
# Options every value and record is encoded with.
JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
# Tried first: OPT_NON_STR_KEYS roughly doubles orjson's cost on small values, and only matters when a
# dict has a key that is not a str, in which case orjson raises and the value is encoded again with
# JSON_OPTIONS (same bytes for str keys).
_FAST_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_MAX_DEPTH = 100

_dumps = orjson.dumps
_Fragment = orjson.Fragment


def _safe_repr(obj: object) -> str:
    try:
        text = repr(obj)
    except Exception:
        return f"<unrepresentable {type(obj).__qualname__}>"
    if not isinstance(text, str):  # a broken __repr__ may return anything
        return f"<unrepresentable {type(obj).__qualname__}>"
    return text


def json_default(obj: Any) -> Any:
    """orjson's `default=` hook: the documented fallback for types it cannot encode natively."""
    try:
        model_dump = getattr(obj, "model_dump", None)
        if callable(model_dump) and not isinstance(obj, type):
            try:
                return model_dump(mode="json")
            except TypeError:
                return model_dump()
        as_dict = getattr(obj, "dict", None)
        if callable(as_dict) and hasattr(obj, "__fields__") and not isinstance(obj, type):
            return as_dict()
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return bytes(obj).decode("utf-8", "backslashreplace")
        if isinstance(obj, collections.abc.Mapping):
            return dict(obj)
        if isinstance(obj, (set, frozenset, collections.deque)) or (
            isinstance(obj, collections.abc.Collection)
            and not isinstance(obj, collections.abc.Iterator)
            and not isinstance(obj, (str, type))
        ):
            return list(obj)
        tolist = getattr(obj, "tolist", None)  # numpy values of dtypes orjson does not take
        if callable(tolist) and not isinstance(obj, type):
            return tolist()
    except Exception:
        pass
    return _safe_repr(obj)


def _clean_str(text: str) -> str:
    # Lone surrogates cannot be encoded as UTF-8; keep them visible as \udXXX escapes.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _sanitize(value: Any, seen: set[int], depth: int) -> Any:
    """A JSON-safe copy of `value`, built by hand: cycles, depth and bad strings handled."""
    if value is None or isinstance(value, (bool, int, float)):
        if type(value) is int and not -(2**63) <= value < 2**64:
            return str(value)  # orjson refuses integers beyond 64 bits
        return value
    if isinstance(value, str):
        return _clean_str(value)
    if depth > _MAX_DEPTH:
        return "<max depth exceeded>"
    if isinstance(value, (dict, list, tuple)):
        marker = id(value)
        if marker in seen:
            return "<cycle>"
        seen.add(marker)
        try:
            if isinstance(value, dict):
                return {_sanitize_key(key): _sanitize(item, seen, depth + 1) for key, item in value.items()}
            return [_sanitize(item, seen, depth + 1) for item in value]
        finally:
            seen.discard(marker)
    try:
        _dumps(value, option=JSON_OPTIONS)
        return value  # natively encodable leaf (datetime, numpy scalar, ...)
    except Exception:
        pass
    converted = json_default(value)
    if converted is value or isinstance(converted, str):
        return _clean_str(converted) if isinstance(converted, str) else _safe_repr(value)
    marker = id(value)
    if marker in seen:
        return "<cycle>"
    seen.add(marker)
    try:
        return _sanitize(converted, seen, depth + 1)
    finally:
        seen.discard(marker)


def _sanitize_key(key: Any) -> str:
    if isinstance(key, str):
        return _clean_str(key)
    if type(key) is int:
        return str(key)  # as orjson writes int keys, and without its 64-bit limit
    if key is None or isinstance(key, (bool, int, float)):
        return _dumps(key).decode() if not isinstance(key, float) or key == key else "NaN"
    return _clean_str(_safe_repr(key))


def _truncated(encoded: bytes, max_bytes: int) -> bytes:
    text = encoded[:max_bytes].decode("utf-8", "ignore")
    return _dumps(text + TRUNCATION_MARKER.format(size=len(encoded)))


def encode_value(value: Any, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> bytes:
    """The JSON encoding of `value`, at most about `max_bytes` long. Never raises."""
    if type(value) is str and len(value) > max_bytes:
        # Cut before encoding: a 50 MB string should not be copied in full to be thrown away.
        head = _clean_str(value[:max_bytes])
        return _dumps(head + TRUNCATION_MARKER.format(size=len(value.encode("utf-8", "replace"))))
    try:
        encoded = _dumps(value, default=json_default, option=_FAST_OPTIONS)
    except Exception:
        try:
            encoded = _dumps(value, default=json_default, option=JSON_OPTIONS)
        except Exception:
            try:
                encoded = _dumps(_sanitize(value, set(), 0), option=JSON_OPTIONS)
            except Exception:
                encoded = _dumps(_clean_str(_safe_repr(value)))
    if len(encoded) > max_bytes:
        return _truncated(encoded, max_bytes)
    return encoded


def value_fragment(value: Any, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> orjson.Fragment:
    """`encode_value` wrapped so it can be embedded in a record without being encoded again."""
    return _Fragment(encode_value(value, max_bytes))


def mapping_fragment(values: Any, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> orjson.Fragment:
    """A dict of values (inputs, attributes) with the cap applied to each value, not to the whole."""
    if not isinstance(values, dict):
        return value_fragment(values, max_bytes)
    try:
        items = list(values.items())
    except Exception:
        return value_fragment(values, max_bytes)
    return _Fragment(
        _dumps(
            {_sanitize_key(key): value_fragment(item, max_bytes) for key, item in items},
            option=JSON_OPTIONS,
        )
    )


def to_json_value(value: Any, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> Any:
    """`value` as plain JSON-compatible Python data (what a reader would get back)."""
    return orjson.loads(encode_value(value, max_bytes))

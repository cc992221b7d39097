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

Big values are cut before they are encoded: a str is sliced at the cap first (its size counted without
encoding it whole); a bytes value or container whose JSON is surely far over the cap (`_early_limit`) is
copied only as far as the cap reaches (`_shrink`) and that copy encoded, so a 50 MB output costs
O(cap) memory and time, not O(50 MB). The first `max_bytes` bytes are the same as a full encoding's;
only the size in the marker is then an estimate (``~N``).

Secrets: when redaction is on (`tracer.redact`), the value of every secret key of every dict inside the
value is replaced by `schema.REDACTED` in the encoding, before it is cut to the cap (so a truncated
value's text holds no secret either).

Imports: the standard library, orjson, `tracer.schema` and `tracer.redact`.
"""

from __future__ import annotations

import collections.abc
from typing import Any

import orjson

from tracer import redact as _redact
from tracer.schema import TRUNCATION_MARKER, TRUNCATION_MARKER_ESTIMATED

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
_SCALARS = _redact.SCALARS
_REDACTED_JSON = _dumps(_redact.REDACTED)
_REDACTED_FRAGMENT = _Fragment(_REDACTED_JSON)


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


def _utf8_size(text: str) -> int:
    """``len(text.encode("utf-8", "replace"))`` without building that encoding (O(1) memory)."""
    if text.isascii():  # O(1) for CPython's compact strings
        return len(text)
    step = 1 << 16
    return sum(len(text[i : i + step].encode("utf-8", "replace")) for i in range(0, len(text), step))


# Containers and byte strings whose JSON is surely over `_early_limit` are cut before encoding. Only
# the value's own length is looked at (one type test and a `len` on the hot path): a big value nested in
# a small container is still encoded in full once, then cut.
_SEQUENCES = (list, tuple, set, frozenset, collections.deque)
_BYTES = (bytes, bytearray)
# The least JSON bytes per item: one byte and a comma for a sequence, `"":0,` for a dict.
_MIN_ITEM_BYTES = {**dict.fromkeys(_SEQUENCES, 2), **dict.fromkeys(_BYTES, 1), dict: 5}
_EARLY_MIN_BYTES = 1 << 20
_EARLY_SCAN_ITEMS = 32  # for the size estimate only: small containers are measured one level down


def _early_limit(max_bytes: int) -> int:
    # Far enough over the cap that values a little over it still get their exact size in the marker.
    return max(16 * max_bytes, _EARLY_MIN_BYTES)


def _length_bound(value: Any, depth: int) -> int:
    """A lower bound of the length of `value`'s JSON from lengths alone (small containers: one level
    down)."""
    t = type(value)
    if t is str or t in _BYTES:
        return len(value) + 2
    if t is dict:
        if depth > 0 and len(value) <= _EARLY_SCAN_ITEMS:
            return 1 + sum(4 + _length_bound(v, 0) for v in value.values())
        return 5 * len(value) + 1
    if t in _SEQUENCES:
        if depth > 0 and len(value) <= _EARLY_SCAN_ITEMS:
            return 1 + sum(1 + _length_bound(v, 0) for v in value)
        return 2 * len(value) + 1
    return 1


def _shrink(value: Any, budget: int) -> tuple[Any, int, bool]:
    """(copy, size, cut): a copy of `value` whose JSON begins with the same `budget` bytes as
    `value`'s own, built by visiting only about `budget` bytes' worth of it.

    `size` is a lower bound of the length of `value`'s JSON; when anything was cut (`cut`), it is over
    `budget`, so a container stops right after a cut item and its closing bracket lands past `budget`.
    Items are kept whole or shrunk the same way; strings are sliced (JSON-escaping only lengthens them).
    """
    t = type(value)
    if t is str:
        if len(value) > budget:
            return value[:budget], budget + 2, True
        return value, len(value) + 2, False
    if t in _BYTES:
        if len(value) > budget + 4:
            # Decoded (by `json_default`) like the whole: a char cut at the end is past `budget`.
            return bytes(value[: budget + 4]), budget + 2, True
        return value, len(value) + 2, False
    if t is dict:
        out_dict: dict[Any, Any] = {}
        used = 1
        for key, item in value.items():
            if used > budget:
                return out_dict, used, True
            used += (len(key) + 2 if type(key) is str else 3) + 1
            out_dict[key], size, cut = _shrink(item, budget - used)
            used += size + 1
            if cut:
                return out_dict, used, True
        return out_dict, used, False
    if t in _SEQUENCES:
        out: list[Any] = []
        used = 1
        for item in value:
            if used > budget:
                return out, used, True
            kept, size, cut = _shrink(item, budget - used)
            out.append(kept)
            used += size + 1
            if cut:
                return out, used, True
        return out, used, False
    return value, 1, False


def _encode_one(value: Any) -> bytes:
    try:
        return _dumps(value, default=json_default, option=JSON_OPTIONS)
    except Exception:
        return _dumps(_sanitize(value, set(), 0), option=JSON_OPTIONS)


_CHUNK_ITEMS = 512


def _encode_prefix(value: Any, max_bytes: int) -> tuple[bytes, int]:
    """(JSON, items): the JSON of `value` (a `_shrink` copy) or of more than its first `max_bytes`
    bytes, and how many of its top-level items that holds. A long list is encoded a few hundred items
    at a time: orjson reserves room per item up front (about 8 MB for 32,000 small ints), and the items
    past `max_bytes` are not needed."""
    if type(value) is not list or len(value) <= _CHUNK_ITEMS:
        return _encode_one(value), len(value) if isinstance(value, (list, dict)) else 0
    parts = [b"["]
    size = items = 1
    for start in range(0, len(value), _CHUNK_ITEMS):
        chunk = value[start : start + _CHUNK_ITEMS]
        encoded = _encode_one(chunk)[1:-1]
        parts.append(encoded if start == 0 else b"," + encoded)
        size += len(encoded) + 1
        items = start + len(chunk)
        if size > max_bytes:
            break
    parts.append(b"]")
    return b"".join(parts), items


def _encode_cut_early(value: Any, max_bytes: int) -> bytes | None:
    """A big value's truncated encoding from a bounded copy of its beginning, or None if nothing could
    be cut (the caller then encodes it the usual way)."""
    shrunk, _size, cut = _shrink(value, max_bytes)
    if not cut:
        return None
    head, kept = _encode_prefix(shrunk, max_bytes)
    redactor = _redact.active
    if redactor is not None:
        head = redactor.scrub_json(head)
    # The full size, estimated: from how much of the top level the copy holds, and at least what the
    # lengths alone tell (one big string inside a small dict).
    estimate = _length_bound(value, 1)
    if type(value) not in _BYTES and kept and len(value):
        estimate = max(estimate, len(head) * len(value) // kept)
    text = head[:max_bytes].decode("utf-8", "ignore")
    return _dumps(text + TRUNCATION_MARKER_ESTIMATED.format(size=max(estimate, max_bytes + 1)))


def encode_value(value: Any, max_bytes: int = DEFAULT_MAX_VALUE_BYTES, redact: bool = True) -> bytes:
    """The JSON encoding of `value`, at most about `max_bytes` long, secrets redacted (unless `redact`
    is False: the caller knows there is no dict inside). Never raises."""
    if type(value) is str and len(value) > max_bytes:
        # Cut before encoding: a 50 MB string should not be copied in full to be thrown away.
        head = _clean_str(value[:max_bytes])
        return _dumps(head + TRUNCATION_MARKER.format(size=_utf8_size(value)))
    per_item = _MIN_ITEM_BYTES.get(type(value))
    if (
        per_item is not None
        and per_item * len(value) > _EARLY_MIN_BYTES
        and (per_item * len(value) > _early_limit(max_bytes))
    ):
        try:
            encoded_early = _encode_cut_early(value, max_bytes)
        except Exception:
            encoded_early = None
        if encoded_early is not None:
            return encoded_early
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
    if redact and type(value) not in _SCALARS:
        redactor = _redact.active
        if redactor is not None:
            try:
                # A dict whose own keys are known safe: look for nested objects only.
                start = 1 if type(value) is dict and redactor.keys_safe(value) else 0
                encoded = redactor.scrub_json(encoded, start)
            except Exception:
                encoded = _REDACTED_JSON  # fail closed
    if len(encoded) > max_bytes:
        return _truncated(encoded, max_bytes)
    return encoded


def value_fragment(value: Any, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> orjson.Fragment:
    """`encode_value` wrapped so it can be embedded in a record without being encoded again."""
    return _Fragment(encode_value(value, max_bytes))


def mapping_fragment(values: Any, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> orjson.Fragment:
    """A dict of values (inputs, attributes) with the cap applied to each value, not to the whole; the
    values of secret keys redacted."""
    if not isinstance(values, dict):
        return value_fragment(values, max_bytes)
    try:
        items = list(values.items())
    except Exception:
        return value_fragment(values, max_bytes)
    redactor = _redact.active
    return _Fragment(
        _dumps(
            {
                _sanitize_key(key): _REDACTED_FRAGMENT
                if redactor is not None and redactor.is_secret(key) and not _redact.keep(item)
                else value_fragment(item, max_bytes)
                for key, item in items
            },
            option=JSON_OPTIONS,
        )
    )


def to_json_value(value: Any, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> Any:
    """`value` as plain JSON-compatible Python data (what a reader would get back)."""
    return orjson.loads(encode_value(value, max_bytes))

"""Redacting secrets before they reach a trace file.

A value stored under a *secret key* is written as `schema.REDACTED` (``"[REDACTED]"``) instead. The keys
looked at: a decorated function's argument names, `set_attribute` / ``attributes=`` keys, and the keys
of every dict nested anywhere in inputs, outputs, attribute values, event attributes, tags and metadata
(also dicts that objects turn into: dataclasses, pydantic models, mappings). ``None`` and ``""`` are
kept (they hold no secret, and show that a key was missing).

The rule: a key is split into words (on ``_ - .``, spaces and other punctuation, and camelCase
boundaries: ``XApiKey`` → ``x api key``), lowercased and joined with ``_``
(``x_api_key``); the pattern is searched in that normalized key and in the key lowercased as it is. The
default pattern (`DEFAULT_PATTERN`) matches whole words:

- ``api_key`` / ``apikey`` and ``private|secret|access|client|session|signing|encryption|master`` +
  ``key`` (``x-api-key``, ``APIKey``, ``private_key``); a bare ``key`` is not a secret;
- ``auth``, ``authorization``, ``authentication`` (``Authorization``, ``Proxy-Authorization``);
- ``password``, ``passwd``, ``passphrase``; ``secret``, ``secrets``; ``credential(s)``;
  ``cookie(s)`` (``Cookie``, ``Set-Cookie``);
- ``token`` as the *last* word (``token``, ``access_token``, ``refresh_token``, ``x-auth-token``) —
  so the LLM counters ``max_tokens``, ``prompt_tokens``, ``completion_tokens``, ``token_count``,
  ``tokens_used`` are kept.

`tracer.configure(redact=False)` or ``TRACETUI_REDACT=0`` turns redaction off;
``configure(redact_pattern=r"...")`` replaces the pattern (extend it with
``DEFAULT_PATTERN + r"|ssn"``).

Cost: the active `Redactor` is one module global (None when off). Keys already judged safe are
remembered, so a flat dict of scalars costs two C-level set checks. An encoded value is only decoded
and walked when its JSON holds a nested object (``{"``) and, for the default pattern, one of a few
lowercase stems (``key``, ``auth``, ``pass``, ...).

Imports: the standard library, orjson and `tracer.schema`.
"""

from __future__ import annotations

import os
import re
import weakref
from typing import Any

import orjson

from tracer.schema import REDACTED

ENV_REDACT = "TRACETUI_REDACT"
DEFAULT_PATTERN = (
    r"(?:^|_)(?:api_?key|(?:private|secret|access|client|session|signing|encryption|master)_key"
    r"|auth|authori[sz]ation|authentication|passw(?:or)?d|passphrase|secrets?|credentials?"
    r"|cookies?)(?:_|$)"
    r"|(?:^|_)token$"
)
# Every key the default pattern matches holds one of these in its JSON, lowercased.
_DEFAULT_STEMS = (b"key", b"auth", b"pass", b"secret", b"token", b"cookie", b"credential")
# Types whose JSON holds no object, hence no key.
SCALARS = frozenset({str, int, float, bool, type(None)})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_MAX_VERDICTS = 1 << 11
_MAX_SAFE_KEYS = 1 << 10
_REDACTED_JSON = orjson.dumps(REDACTED)
# A JSON string, and the colon after it when it is an object key.
_JSON_STRING = re.compile(rb'"([^"\\]*(?:\\.[^"\\]*)*)"(:?)')
_loads = orjson.loads
_dumps = orjson.dumps


def normalize_key(key: str) -> str:
    """``"X-ApiKey"`` → ``"x_api_key"``: the words of `key`, lowercased, joined with ``_``."""
    words = _NON_WORD.split(_CAMEL.sub("_", key))
    return "_".join(word for word in words if word).lower()


def keep(value: Any) -> bool:
    """Values kept even under a secret key: None and the empty string."""
    return value is None or (type(value) is str and not value)


class Redactor:
    """One compiled pattern and what it has judged so far."""

    __slots__ = ("pattern", "_search", "_stems", "_verdicts", "safe_keys")

    def __init__(self, pattern: str = DEFAULT_PATTERN) -> None:
        self.pattern = pattern
        self._search = re.compile(pattern, re.IGNORECASE).search
        self._stems = _DEFAULT_STEMS if pattern == DEFAULT_PATTERN else None
        self._verdicts: dict[Any, bool] = {}
        # Keys judged not secret (bounded): `safe_keys.issuperset(d)` checks a dict's keys at C speed.
        self.safe_keys: set[Any] = set()

    def is_secret(self, key: Any) -> bool:
        try:
            verdict = self._verdicts.get(key)
            if verdict is None:
                text = key if isinstance(key, str) else str(key)
                verdict = bool(self._search(normalize_key(text)) or self._search(text.lower()))
                if len(self._verdicts) >= _MAX_VERDICTS:
                    self._verdicts.clear()
                self._verdicts[key] = verdict
                if not verdict and len(self.safe_keys) < _MAX_SAFE_KEYS:
                    self.safe_keys.add(key)
            return verdict
        except Exception:  # a key whose hash, == or str raises: not judged a secret
            return False

    def keys_safe(self, mapping: dict[Any, Any]) -> bool:
        """True when no key of `mapping` (top level only) is secret; its keys are remembered."""
        if self.safe_keys.issuperset(mapping):
            return True
        for key in mapping:
            if self.is_secret(key):
                return False
        return True

    def flat_and_safe(self, mapping: dict[Any, Any]) -> bool:
        """True when `mapping` needs nothing redacted for sure: safe keys, scalar values."""
        return self.keys_safe(mapping) and SCALARS.issuperset(map(type, mapping.values()))

    def scrub_json(self, encoded: bytes, start: int = 0) -> bytes:
        """`encoded` (JSON) with the value of every secret key of its objects redacted; `encoded` itself
        (the same object) when there is none. `start` skips a top-level object opening known safe."""
        if encoded.find(b'{"', start) < 0:
            return encoded
        stems = self._stems
        if stems is not None:
            low = encoded.lower()
            for stem in stems:
                if stem in low:
                    break
            else:
                return encoded
        try:
            if not self._has_secret_key(encoded):
                return encoded
            data = _loads(encoded)
        except Exception:
            return _REDACTED_JSON  # not JSON we can check: fail closed
        if not self._scrub(data, 0):
            return encoded
        return _dumps(data)

    def _has_secret_key(self, encoded: bytes) -> bool:
        """Whether any object key in `encoded` (valid JSON) is secret, without decoding the whole:
        read string by string (outside strings JSON has no quote, so the scan never loses step), a
        string followed by ``:`` being a key."""
        is_secret = self.is_secret
        for match in _JSON_STRING.finditer(encoded):
            if match.group(2):
                raw = match.group(1)
                key = _loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode("utf-8", "replace")
                if is_secret(key):
                    return True
        return False

    def _scrub(self, node: Any, depth: int) -> bool:
        """Redact in place (`node` is freshly decoded JSON); True if anything changed."""
        changed = False
        if type(node) is dict:
            for key, value in node.items():
                if self.is_secret(key):
                    if not keep(value) and value != REDACTED:
                        node[key] = REDACTED
                        changed = True
                elif type(value) in (dict, list) and self._scrub(value, depth + 1):
                    changed = True
        elif type(node) is list:
            for item in node:
                if type(item) in (dict, list) and self._scrub(item, depth + 1):
                    changed = True
        return changed

    def scrub_dict(self, mapping: dict[Any, Any]) -> dict[Any, Any]:
        """A shallow copy of `mapping` with the values of its secret keys replaced (nested dicts are
        left to the encoder); `mapping` itself when none is secret."""
        out = None
        for key, value in mapping.items():
            if self.is_secret(key) and not keep(value):
                if out is None:
                    out = dict(mapping)
                out[key] = REDACTED
        return mapping if out is None else out


active: Redactor | None = None
"""The redactor in force, or None when redaction is off. Read on the hot path."""

_listeners: weakref.WeakSet[Any] = weakref.WeakSet()


def subscribe(listener: Any) -> None:
    """`listener.redaction_changed()` is called whenever `install` changes the redactor (decorated
    functions re-decide which of their argument names are secret)."""
    _listeners.add(listener)


def install(enabled: bool, pattern: str | None = None) -> None:
    """Put a new redactor in force (or none). Raises `re.error` for a bad pattern."""
    global active
    redactor = Redactor(pattern or DEFAULT_PATTERN) if enabled else None
    if redactor is not None and active is not None and redactor.pattern == active.pattern:
        return
    if redactor is None and active is None:
        return
    active = redactor
    for listener in list(_listeners):
        listener.redaction_changed()


def enabled_from_env() -> bool:
    return os.environ.get(ENV_REDACT, "").strip().lower() not in ("0", "false", "no", "off")


def secret_names(names: tuple[str, ...] | list[str]) -> frozenset[str]:
    """Which of `names` (argument names) the active redactor treats as secret."""
    redactor = active
    if redactor is None:
        return frozenset()
    return frozenset(name for name in names if redactor.is_secret(name))

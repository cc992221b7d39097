"""Secrets never reach a trace file: secret argument names, attribute keys and nested dict keys are
written as `schema.REDACTED`; redaction can be switched off or given another pattern; files are 0600
and new directories 0700 (issue 5, "Secrets")."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import span_records

import tracer
from tracer import redact, schema
from tracer.config import settings
from tracer.values import DEFAULT_MAX_VALUE_BYTES

ROOT = Path(__file__).resolve().parent.parent
R = schema.REDACTED
SECRET = "sk-THE-SECRET-VALUE-42"


def _kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


def _start(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(r for r in _kind(records, schema.SPAN_START) if r["name"] == name)


def _end_of(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    span_id = _start(records, name)["span_id"]
    return next(r for r in _kind(records, schema.SPAN_END) if r["span_id"] == span_id)


def _raw_bytes(directory: Path) -> bytes:
    tracer.flush()
    return b"".join(p.read_bytes() for p in sorted(directory.glob("*" + schema.FILE_SUFFIX)))


# -- the matching rule -----------------------------------------------------------------------------

SECRET_KEYS = [
    "api_key",
    "apikey",
    "apiKey",
    "APIKey",
    "x-api-key",
    "X-Api-Key",
    "openai_api_key",
    "Authorization",
    "proxy-authorization",
    "auth",
    "password",
    "PASSWORD",
    "db.password",
    "passwd",
    "secret",
    "client_secret",
    "clientSecret",
    "aws_secret_access_key",
    "private_key",
    "token",
    "access_token",
    "refresh_token",
    "accessToken",
    "x-auth-token",
    "id_token",
    "cookie",
    "Cookie",
    "set-cookie",
    "cookies",
    "credentials",
]
SAFE_KEYS = [
    "max_tokens",
    "maxTokens",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "token_count",
    "tokens_used",
    "tokenizer",
    "key",
    "keys",
    "sort_key",
    "monkey",
    "author",
    "passage",
    "prompt",
    "model",
    "temperature",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_default_pattern_matches_secret_keys(key: str) -> None:
    """Every key in SECRET_KEYS is judged secret by the default pattern."""
    assert redact.Redactor().is_secret(key), key


@pytest.mark.parametrize("key", SAFE_KEYS)
def test_default_pattern_keeps_llm_counters_and_ordinary_keys(key: str) -> None:
    """LLM counters (max_tokens, prompt_tokens, token_count, ...) and ordinary keys are not secret."""
    assert not redact.Redactor().is_secret(key), key


def test_normalize_key_splits_words_and_camel_case() -> None:
    """Keys are normalized to lowercase words joined by "_" (camelCase and acronyms split)."""
    assert redact.normalize_key("X-ApiKey") == "x_api_key"
    assert redact.normalize_key("APIKey") == "api_key"
    assert redact.normalize_key("maxTokens") == "max_tokens"
    assert redact.normalize_key("db.password") == "db_password"


# -- what is redacted ------------------------------------------------------------------------------


def test_secret_argument_names_are_redacted(trace_dir: Path) -> None:
    """`def f(api_key, prompt)`: the api_key input is the marker, prompt is kept, by position and keyword."""

    @tracer.trace
    def f(api_key: str, prompt: str) -> str:
        return prompt.upper()

    assert f(SECRET, "hi") == "HI"
    assert f(prompt="yo", api_key=SECRET) == "YO"

    @tracer.trace
    def outer() -> str:
        return f(SECRET, "child")

    outer()
    starts = [r for r in _kind(span_records(trace_dir), schema.SPAN_START) if r["name"] == "f"]
    assert [r["inputs"] for r in starts] == [
        {"api_key": R, "prompt": "hi"},
        {"api_key": R, "prompt": "yo"},
        {"api_key": R, "prompt": "child"},
    ]
    assert SECRET.encode() not in _raw_bytes(trace_dir)


def test_none_and_empty_secret_values_are_kept(trace_dir: Path) -> None:
    """A secret key holding None or "" keeps it (no secret there; it shows the key was missing)."""

    @tracer.trace
    def f(api_key: str | None, headers: dict[str, Any]) -> None:
        return None

    f(None, {"Authorization": ""})
    assert _start(span_records(trace_dir), "f")["inputs"] == {
        "api_key": None,
        "headers": {"Authorization": ""},
    }


def test_nested_dict_keys_in_inputs_and_outputs(trace_dir: Path) -> None:
    """Secret keys of dicts nested in inputs and outputs are redacted, at any depth, root and child."""

    @tracer.trace
    def call(config: dict[str, Any]) -> dict[str, Any]:
        return {"result": 1, "auth": {"user": "u", "password": SECRET}}

    @tracer.trace
    def root(config: dict[str, Any]) -> dict[str, Any]:
        call(config)
        return {"deep": {"deeper": {"client_secret": SECRET, "ok": True}}}

    root({"model": "m", "llm": {"api_key": SECRET, "max_tokens": 10}})
    records = span_records(trace_dir)
    for name in ("root", "call"):
        assert _start(records, name)["inputs"] == {
            "config": {"model": "m", "llm": {"api_key": R, "max_tokens": 10}}
        }
    assert _end_of(records, "call")["outputs"] == {"result": 1, "auth": R}
    assert _end_of(records, "root")["outputs"] == {"deep": {"deeper": {"client_secret": R, "ok": True}}}
    summary = _kind(records, schema.TRACE_SUMMARY)[0]
    assert SECRET not in summary["request_preview"] and SECRET not in summary["response_preview"]
    assert SECRET.encode() not in _raw_bytes(trace_dir)


def test_set_attribute_and_set_attributes_keys(trace_dir: Path) -> None:
    """`set_attribute` / `set_attributes` with a secret key write the marker; other keys are kept."""
    with tracer.start_span("s") as span:
        span.set_attribute("api_key", SECRET)
        span.set_attributes({"Authorization": f"Bearer {SECRET}", "prompt_tokens": 5})
        span.set_attribute("config", {"password": SECRET, "retries": 3})
    end = _end_of(span_records(trace_dir), "s")
    assert end["attributes"] == {
        "api_key": R,
        "Authorization": R,
        "prompt_tokens": 5,
        "config": {"password": R, "retries": 3},
    }
    assert SECRET.encode() not in _raw_bytes(trace_dir)


def test_start_span_and_decorator_attributes(trace_dir: Path) -> None:
    """`start_span(attributes=)` and `@trace(attributes=)` redact secret keys, nested ones too."""

    @tracer.trace(attributes={"token": SECRET, "model": "m"})
    def f() -> None:
        with tracer.start_span("inner", attributes={"cookie": SECRET, "x": {"refresh_token": SECRET}}):
            pass

    f()
    records = span_records(trace_dir)
    assert _start(records, "f")["attributes"] == {"token": R, "model": "m"}
    assert _start(records, "inner")["attributes"] == {"cookie": R, "x": {"refresh_token": R}}
    assert SECRET.encode() not in _raw_bytes(trace_dir)


def test_event_attributes(trace_dir: Path) -> None:
    """Event attributes (`add_event` with a dict or a SpanEvent) have their secret keys redacted."""
    with tracer.start_span("s") as span:
        span.add_event("request", {"headers": {"Authorization": f"Bearer {SECRET}"}, "n": 1})
        span.add_event(tracer.SpanEvent("login", {"password": SECRET, "user": "bob"}))
    events = _kind(span_records(trace_dir), schema.SPAN_EVENT)
    assert [e["attributes"] for e in events] == [
        {"headers": {"Authorization": R}, "n": 1},
        {"password": R, "user": "bob"},
    ]
    assert SECRET.encode() not in _raw_bytes(trace_dir)


def test_stream_chunk_dicts(trace_dir: Path) -> None:
    """Chunks a traced generator yields (as events and as the reduced output) are redacted too."""

    @tracer.trace
    def stream() -> Any:
        yield {"delta": "a", "session_token": SECRET}
        yield {"delta": "b"}

    assert [c["delta"] for c in stream()] == ["a", "b"]
    records = span_records(trace_dir)
    chunks = [e["attributes"][schema.CHUNK_VALUE] for e in _kind(records, schema.SPAN_EVENT)]
    assert chunks == [{"delta": "a", "session_token": R}, {"delta": "b"}]
    assert SECRET.encode() not in _raw_bytes(trace_dir)


def test_tags_and_metadata_in_update_current_trace(trace_dir: Path) -> None:
    """`update_current_trace` tags/metadata: secret keys (top level and nested) are redacted."""

    @tracer.trace
    def f() -> None:
        tracer.update_current_trace(
            tags={"api-key": SECRET, "env": "prod"},
            metadata={"session": {"cookie": SECRET}, "user": "u"},
        )

    f()
    records = span_records(trace_dir)
    update = _kind(records, schema.TRACE_UPDATE)[0]
    summary = _kind(records, schema.TRACE_SUMMARY)[0]
    for record in (update, summary):
        assert record["tags"] == {"api-key": R, "env": "prod"}
        assert record["metadata"] == {"session": {"cookie": R}, "user": "u"}
    assert SECRET.encode() not in _raw_bytes(trace_dir)


def test_headers_dict_with_authorization(trace_dir: Path) -> None:
    """An HTTP headers dict keeps Content-Type but not Authorization / X-Api-Key / Cookie."""

    @tracer.trace
    def post(url: str, headers: dict[str, str]) -> int:
        return 200

    post(
        "https://x",
        {
            "Authorization": f"Bearer {SECRET}",
            "X-Api-Key": SECRET,
            "Cookie": f"sid={SECRET}",
            "Content-Type": "json",
        },
    )
    inputs = _start(span_records(trace_dir), "post")["inputs"]
    assert inputs["headers"] == {"Authorization": R, "X-Api-Key": R, "Cookie": R, "Content-Type": "json"}


def test_lists_of_dicts(trace_dir: Path) -> None:
    """Dicts inside lists (and lists inside dicts) are walked; chat messages without secrets are kept."""
    messages = [{"role": "user", "content": "how many tokens is my api key?"}]

    @tracer.trace
    def chat(messages: list[dict[str, str]], accounts: list[Any]) -> list[Any]:
        return [{"id": 1, "access_token": SECRET}, [{"secret": SECRET}]]

    chat(messages, [{"name": "a", "passwd": SECRET}, {"name": "b", "passwd": SECRET}])
    records = span_records(trace_dir)
    assert _start(records, "chat")["inputs"] == {
        "messages": messages,
        "accounts": [{"name": "a", "passwd": R}, {"name": "b", "passwd": R}],
    }
    assert _end_of(records, "chat")["outputs"] == [{"id": 1, "access_token": R}, [{"secret": R}]]
    assert SECRET.encode() not in _raw_bytes(trace_dir)


def test_llm_counter_keys_are_left_alone(trace_dir: Path) -> None:
    """max_tokens, prompt_tokens, completion_tokens, total_tokens, token_count are written as they are."""
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "token_count": 7}

    @tracer.trace
    def complete(prompt: str, max_tokens: int, params: dict[str, Any]) -> dict[str, Any]:
        return {"text": "ok", "usage": usage}

    complete("p", 256, {"max_tokens": 256, "tokens_used": 1})
    records = span_records(trace_dir)
    assert _start(records, "complete")["inputs"] == {
        "prompt": "p",
        "max_tokens": 256,
        "params": {"max_tokens": 256, "tokens_used": 1},
    }
    assert _end_of(records, "complete")["outputs"] == {"text": "ok", "usage": usage}


def test_objects_that_encode_as_dicts(trace_dir: Path) -> None:
    """Dataclasses and objects turned into dicts (Mapping, model_dump) get their secret fields redacted."""

    @dataclasses.dataclass
    class Config:
        model: str
        api_key: str

    class Model:
        def model_dump(self, mode: str = "python") -> dict[str, Any]:
            return {"name": "m", "secret": SECRET}

    @tracer.trace
    def f(config: Config, model: Any) -> Config:
        return config

    f(Config("gpt", SECRET), Model())
    records = span_records(trace_dir)
    assert _start(records, "f")["inputs"] == {
        "config": {"model": "gpt", "api_key": R},
        "model": {"name": "m", "secret": R},
    }
    assert _end_of(records, "f")["outputs"] == {"model": "gpt", "api_key": R}


def test_set_inputs_and_set_outputs(trace_dir: Path) -> None:
    """`LiveSpan.set_inputs` (top-level and nested keys) and `set_outputs` redact too."""
    with tracer.start_span("s") as span:
        span.set_inputs({"password": SECRET, "q": {"token": SECRET}, "query": "x"})
        span.set_outputs({"auth": SECRET})
    end = _end_of(span_records(trace_dir), "s")
    assert end["inputs"] == {"password": R, "q": {"token": R}, "query": "x"}
    assert end["outputs"] == {"auth": R}


def test_truncated_value_holds_no_secret(trace_dir: Path) -> None:
    """A value over the cap is redacted before it is cut, so its truncated text holds no secret."""
    big = {"api_key": SECRET, "blob": "x" * (2 * DEFAULT_MAX_VALUE_BYTES)}
    huge = [{"password": SECRET, "i": i} for i in range(300_000)]  # cut before being encoded whole

    @tracer.trace
    def f(payload: dict[str, Any]) -> list[Any]:
        return huge

    @tracer.trace
    def root() -> list[Any]:
        return f(big)

    root()
    records = span_records(trace_dir)
    assert isinstance(_end_of(records, "f")["outputs"], str)  # truncated
    assert R in _end_of(records, "f")["outputs"]
    assert SECRET.encode() not in _raw_bytes(trace_dir)


# -- the switch and the pattern --------------------------------------------------------------------


def test_redaction_off_via_configure(trace_dir: Path) -> None:
    """`configure(redact=False)` writes secrets as they are, also for functions decorated before."""

    @tracer.trace
    def f(api_key: str, headers: dict[str, str]) -> None:
        tracer.get_current_active_span().set_attribute("token", SECRET)  # type: ignore[union-attr]

    tracer.configure(redact=False)
    assert redact.active is None
    f(SECRET, {"Authorization": SECRET})
    records = span_records(trace_dir)
    assert _start(records, "f")["inputs"] == {"api_key": SECRET, "headers": {"Authorization": SECRET}}
    assert _end_of(records, "f")["attributes"] == {"token": SECRET}
    tracer.configure(redact=True)
    f(SECRET, {})
    assert _kind(span_records(trace_dir), schema.SPAN_START)[-1]["inputs"]["api_key"] == R


def test_redaction_off_via_environment(tmp_path: Path) -> None:
    """``TRACETUI_REDACT=0`` in the environment turns redaction off (default on), in a fresh process."""
    script = tmp_path / "script.py"
    script.write_text(
        "import tracer\n"
        "@tracer.trace\n"
        "def f(api_key, prompt):\n"
        "    return {'password': api_key}\n"
        f"f({SECRET!r}, 'p')\n"
        "tracer.flush()\n"
    )
    results = {}
    for value in ("0", None):
        out = tmp_path / f"traces-{value}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETUI_")}
        env.update(PYTHONPATH=str(ROOT), TRACETUI_DIR=str(out))
        if value is not None:
            env["TRACETUI_REDACT"] = value
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        results[value] = _raw_bytes(out)
    assert b'"api_key":"' + SECRET.encode() in results["0"]  # the input and the output, as they are
    assert b'"outputs":{"password":"' + SECRET.encode() in results["0"]
    assert SECRET.encode() not in results[None]
    assert b'"api_key":"[REDACTED]"' in results[None]


def test_custom_pattern(trace_dir: Path) -> None:
    """`configure(redact_pattern=)` replaces the default pattern, also for already decorated functions."""

    @tracer.trace
    def f(ssn: str, api_key: str, data: dict[str, Any]) -> None:
        return None

    tracer.configure(redact_pattern=r"(?:^|_)ssn$|credit_card")
    f("123-45", "k", {"creditCard": "4111", "note": "n"})
    assert _start(span_records(trace_dir), "f")["inputs"] == {
        "ssn": R,
        "api_key": "k",
        "data": {"creditCard": R, "note": "n"},
    }
    assert settings.redact_pattern == r"(?:^|_)ssn$|credit_card"


def test_extending_the_default_pattern(trace_dir: Path) -> None:
    """`DEFAULT_PATTERN + "|..."` keeps the default secrets and adds more."""
    tracer.configure(redact_pattern=redact.DEFAULT_PATTERN + r"|(?:^|_)ssn$")

    @tracer.trace
    def f(ssn: str, api_key: str, max_tokens: int) -> None:
        return None

    f("1", "k", 3)
    assert _start(span_records(trace_dir), "f")["inputs"] == {"ssn": R, "api_key": R, "max_tokens": 3}


def test_bad_pattern_raises_and_changes_nothing(trace_dir: Path) -> None:
    """An invalid `redact_pattern` raises re.error from configure and the old pattern stays in force."""
    before = redact.active
    with pytest.raises(re.error):
        tracer.configure(redact_pattern="(unclosed")
    assert redact.active is before and settings.redact_pattern == redact.DEFAULT_PATTERN


# -- file modes ------------------------------------------------------------------------------------


def test_files_are_0600_and_new_directories_0700(tmp_path: Path) -> None:
    """Trace files are created 0600; the trace directory and every parent the tracer creates are 0700."""
    old_umask = os.umask(0o022)
    try:
        directory = tmp_path / "new" / "nested" / "traces"
        tracer.configure(directory=directory)
        try:

            @tracer.trace
            def f() -> int:
                return 1

            f()
            tracer.flush()
        finally:
            tracer.configure(directory=tmp_path / "elsewhere")
            settings.reset()
    finally:
        os.umask(old_umask)
    files = list(directory.glob("*" + schema.FILE_SUFFIX))
    assert files
    for path in files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    for path in (tmp_path / "new", tmp_path / "new" / "nested", directory):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path


def test_raw_file_bytes_never_contain_the_secret(trace_dir: Path) -> None:
    """Every path at once (inputs, outputs, attributes, events, tags, errors): the bytes hold no secret."""

    @tracer.trace(attributes={"api_key": SECRET})
    def inner(password: str, cfg: dict[str, Any]) -> dict[str, Any]:
        span = tracer.get_current_active_span()
        assert span is not None
        span.set_attribute("Authorization", f"Bearer {SECRET}")
        span.add_event("e", {"cookie": SECRET})
        tracer.update_current_trace(tags={"token": SECRET}, metadata={"m": {"secret": SECRET}})
        raise ValueError("boom")

    @tracer.trace
    async def agen_free(api_key: str) -> str:
        return "ok"

    @tracer.trace
    def root(x: int) -> Any:
        with tracer.start_span("s", attributes={"client_secret": SECRET}):
            try:
                inner(SECRET, {"refresh_token": SECRET, "list": [{"access_token": SECRET}]})
            except ValueError:
                pass
        import asyncio

        asyncio.run(agen_free(SECRET))
        return {"set-cookie": SECRET}

    root(1)
    raw = _raw_bytes(trace_dir)
    assert raw.count(R.encode()) >= 10
    assert SECRET.encode() not in raw

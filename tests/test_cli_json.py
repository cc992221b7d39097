"""`tracetui show --json` and `tracetui ls --json`: the documented shapes, id lookup, directories, errors.

Traces are produced with the real SDK into the `trace_dir` fixture's directory, then read back through
the CLI (typer's CliRunner, and once as a real process for the exit codes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import tracer
from cli import app
from tracer import schema

REPO_ROOT = Path(__file__).resolve().parent.parent

TRACE_KEYS = {
    "trace_id",
    "name",
    "status",
    "start_ns",
    "end_ns",
    "duration_ms",
    "request_preview",
    "response_preview",
    "tags",
    "metadata",
    "spans",
}
SPAN_KEYS = {
    "span_id",
    "parent_id",
    "name",
    "raw_name",
    "span_type",
    "start_ns",
    "end_ns",
    "status",
    "inputs",
    "outputs",
    "attributes",
    "events",
    "location",  # documented in docs/format.md in addition to the list
    "interrupted",  # true for an unended span whose process is gone (docs/format.md)
}
EVENT_KEYS = {"name", "time_ns", "attributes"}
SUMMARY_KEYS = {
    "trace_id",
    "name",
    "status",
    "start_ns",
    "end_ns",
    "duration_ms",
    "span_count",
    "error_count",
    "request_preview",
    "response_preview",
    "tags",
}


# -- traced programs -----------------------------------------------------------------------------------


@tracer.trace(span_type=tracer.SpanType.TOOL)
def search(query):
    return [query, "doc"]


@tracer.trace(span_type=tracer.SpanType.LLM)
def tokens(count):
    for i in range(count):
        yield f"t{i}"


@tracer.trace(name="pipeline", span_type=tracer.SpanType.CHAIN)
def pipeline(question):
    tracer.update_current_trace(tags={"env": "test"}, metadata={"run": 7})
    with tracer.start_span("retrieve", span_type=tracer.SpanType.RETRIEVER) as span:
        span.set_attribute("k", 2)
        search(question)
        search(question + "?")
    return {"answer": "".join(tokens(3))}


@tracer.trace(name="explode")
def explode(value):
    raise ValueError(f"bad {value}")


def _run_pipeline(question="why?"):
    pipeline(question)
    return tracer.get_last_active_trace_id()


def _run_explode():
    with pytest.raises(ValueError):
        explode(3)
    return tracer.get_last_active_trace_id()


runner = CliRunner()


def invoke(*args, **kwargs):
    tracer.flush()
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)


def show_json(trace_dir, trace_id):
    result = invoke("show", trace_id, "--json", "--dir", trace_dir)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def ls_json(*args):
    result = invoke("ls", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _assert_trace_shape(data):
    assert set(data) == TRACE_KEYS
    assert data["status"] in ("OK", "ERROR", "IN_PROGRESS")
    assert isinstance(data["trace_id"], str) and len(data["trace_id"]) == 32
    assert isinstance(data["tags"], dict) and isinstance(data["metadata"], dict)
    starts = [span["start_ns"] for span in data["spans"]]
    assert starts == sorted(starts), "spans must be in start order"
    for span in data["spans"]:
        assert set(span) == SPAN_KEYS, span
        assert set(span["status"]) == {"code", "message"}
        assert isinstance(span["attributes"], dict)
        assert len(span["span_id"]) == 16
        assert isinstance(span["start_ns"], int)
        assert span["end_ns"] is None or span["end_ns"] >= span["start_ns"]
        for event in span["events"]:
            assert set(event) == EVENT_KEYS
            assert isinstance(event["time_ns"], int)


# -- show --json ---------------------------------------------------------------------------------------


def test_show_json_prints_the_documented_trace_shape(trace_dir):
    """`show ID --json` prints the trace with exactly the documented keys, nested spans in start order."""
    trace_id = _run_pipeline()
    data = show_json(trace_dir, trace_id)
    _assert_trace_shape(data)
    assert data["trace_id"] == trace_id
    assert data["name"] == "pipeline"
    assert data["status"] == "OK"
    assert data["duration_ms"] == pytest.approx((data["end_ns"] - data["start_ns"]) / 1e6)
    assert data["request_preview"] == '{"question":"why?"}'
    assert data["response_preview"] == '{"answer":"t0t1t2"}'
    assert data["tags"] == {"env": "test"}
    assert data["metadata"] == {"run": 7}

    spans = data["spans"]
    assert [s["name"] for s in spans] == ["pipeline", "retrieve", "search_1", "search_2", "tokens"]
    assert [s["raw_name"] for s in spans] == ["pipeline", "retrieve", "search", "search", "tokens"]
    root, retrieve, search_1, search_2, stream = spans
    assert root["parent_id"] is None
    assert root["start_ns"] == data["start_ns"] and root["end_ns"] == data["end_ns"]
    assert retrieve["parent_id"] == root["span_id"]
    assert search_1["parent_id"] == search_2["parent_id"] == retrieve["span_id"]
    assert stream["parent_id"] == root["span_id"]
    assert [s["span_type"] for s in spans] == ["CHAIN", "RETRIEVER", "TOOL", "TOOL", "LLM"]
    assert all(s["status"] == {"code": "OK", "message": ""} for s in spans)
    assert root["inputs"] == {"question": "why?"}
    assert root["outputs"] == {"answer": "t0t1t2"}
    assert retrieve["attributes"] == {"k": 2}
    assert search_1["inputs"] == {"query": "why?"} and search_1["outputs"] == ["why?", "doc"]
    assert search_2["inputs"] == {"query": "why??"}
    assert stream["inputs"] == {"count": 3}
    assert stream["outputs"] == ["t0", "t1", "t2"]
    assert [e["name"] for e in stream["events"]] == [f"{schema.CHUNK_EVENT_PREFIX}{i}" for i in range(3)]
    assert [e["attributes"] for e in stream["events"]] == [{schema.CHUNK_VALUE: f"t{i}"} for i in range(3)]
    assert all(e["time_ns"] >= stream["start_ns"] for e in stream["events"])


def test_show_json_of_a_failed_trace_has_error_status_and_the_exception_event(trace_dir):
    """A traced function that raised shows as ERROR with a `Type: message` status and an exception event."""
    trace_id = _run_explode()
    data = show_json(trace_dir, trace_id)
    _assert_trace_shape(data)
    assert data["status"] == "ERROR"
    assert data["name"] == "explode"
    (span,) = data["spans"]
    assert span["status"] == {"code": "ERROR", "message": "ValueError: bad 3"}
    assert span["inputs"] == {"value": 3}
    assert span["outputs"] is None
    (event,) = span["events"]
    assert event["name"] == "exception"
    assert event["attributes"][schema.EXCEPTION_TYPE] == "ValueError"
    assert event["attributes"][schema.EXCEPTION_MESSAGE] == "bad 3"
    assert "raise ValueError" in event["attributes"][schema.EXCEPTION_STACKTRACE]


def test_show_json_of_a_running_trace_is_in_progress_with_null_end(trace_dir):
    """While the root span is open, `show --json` reports IN_PROGRESS and null end times."""
    with tracer.start_span("running_root") as root:
        search("live")
        with tracer.start_span("open_child"):
            data = show_json(trace_dir, root.trace_id)
    _assert_trace_shape(data)
    assert data["status"] == "IN_PROGRESS"
    assert data["end_ns"] is None and data["duration_ms"] is None
    by_name = {s["name"]: s for s in data["spans"]}
    assert set(by_name) == {"running_root", "search", "open_child"}
    assert by_name["running_root"]["end_ns"] is None
    assert by_name["open_child"]["end_ns"] is None
    assert by_name["search"]["end_ns"] is not None


def test_show_accepts_a_unique_prefix_of_the_trace_id(trace_dir):
    """`show PREFIX --json` finds the one trace whose id starts with PREFIX."""
    ids = [_run_pipeline(f"q{i}") for i in range(5)]
    target = ids[2]
    prefix = next(target[:n] for n in range(1, 33) if sum(other.startswith(target[:n]) for other in ids) == 1)
    assert len(prefix) < 32
    data = show_json(trace_dir, prefix)
    assert data["trace_id"] == target
    assert data["spans"][0]["inputs"] == {"question": "q2"}


def test_show_unknown_id_exits_1_with_a_message_on_stderr(trace_dir):
    """An id matching no trace exits 1 and says so on stderr, printing nothing on stdout."""
    _run_pipeline()
    result = invoke("show", "0123456789abcdef" * 2, "--json", "--dir", trace_dir)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no trace" in result.stderr and "0123456789abcdef" in result.stderr


def test_show_ambiguous_prefix_exits_1_naming_the_candidates(trace_dir):
    """A prefix matching several traces exits 1 with an 'ambiguous' message listing the matches."""
    ids = [_run_explode() for _ in range(17)]  # 17 ids, 16 hex digits: two share a first digit
    first, count = Counter(trace_id[0] for trace_id in ids).most_common(1)[0]
    assert count >= 2
    result = invoke("show", first, "--json", "--dir", trace_dir)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "ambiguous" in result.stderr
    matching = sorted(trace_id for trace_id in ids if trace_id.startswith(first))
    assert matching[0] in result.stderr


# -- ls --json ------------------------------------------------------------------------------------------


def test_ls_json_lists_summaries_newest_first(trace_dir):
    """`ls --json` prints one summary per trace, newest first, with the documented keys and values."""
    first = _run_pipeline("first")
    second = _run_explode()
    third = _run_pipeline("third")
    summaries = ls_json("--dir", trace_dir)
    assert [s["trace_id"] for s in summaries] == [third, second, first]
    for summary in summaries:
        assert set(summary) == SUMMARY_KEYS
        assert isinstance(summary["start_ns"], int)
        assert summary["duration_ms"] == pytest.approx((summary["end_ns"] - summary["start_ns"]) / 1e6)
    newest, failed, oldest = summaries
    assert newest["name"] == "pipeline" and newest["status"] == "OK"
    assert newest["span_count"] == 5 and newest["error_count"] == 0
    assert newest["request_preview"] == '{"question":"third"}'
    assert newest["response_preview"] == '{"answer":"t0t1t2"}'
    assert newest["tags"] == {"env": "test"}
    assert failed["name"] == "explode" and failed["status"] == "ERROR"
    assert failed["span_count"] == 1 and failed["error_count"] == 1
    assert oldest["request_preview"] == '{"question":"first"}'


def test_ls_json_lists_a_running_trace_as_in_progress(trace_dir):
    """A trace whose root is still open is listed IN_PROGRESS with no duration."""
    done = _run_pipeline()
    with tracer.start_span("still_going") as span:
        summaries = ls_json("--dir", trace_dir)
    assert [s["trace_id"] for s in summaries] == [span.trace_id, done]
    assert summaries[0]["status"] == "IN_PROGRESS"
    assert summaries[0]["name"] == "still_going"
    assert summaries[0]["duration_ms"] is None


def test_ls_takes_the_directory_as_argument_or_option(trace_dir, tmp_path):
    """`ls DIR` and `ls --dir DIR` read the same directory; an empty directory lists nothing."""
    trace_id = _run_pipeline()
    positional = ls_json(trace_dir)
    option = ls_json("--dir", trace_dir)
    assert [s["trace_id"] for s in positional] == [trace_id]
    assert positional == option
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ls_json(empty) == []
    assert ls_json("--dir", empty) == []


def test_default_directory_is_tracetui_dir(trace_dir, tmp_path, monkeypatch):
    """Without a directory, `ls` and `show` read $TRACETUI_DIR."""
    trace_id = _run_pipeline()
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "traces").mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("TRACETUI_DIR", str(trace_dir))
    assert [s["trace_id"] for s in ls_json()] == [trace_id]
    result = invoke("show", trace_id[:12], "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["trace_id"] == trace_id


def test_default_directory_is_traces_in_the_working_directory(trace_dir, monkeypatch):
    """Without a directory or $TRACETUI_DIR, `ls` and `show` read ./traces."""
    trace_id = _run_pipeline()
    assert trace_dir.name == "traces"
    monkeypatch.delenv("TRACETUI_DIR", raising=False)
    monkeypatch.chdir(trace_dir.parent)
    assert [s["trace_id"] for s in ls_json()] == [trace_id]
    result = invoke("show", trace_id, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["trace_id"] == trace_id


# -- human-readable output ---------------------------------------------------------------------------


def test_human_readable_ls_and_show_contain_the_trace(trace_dir):
    """Plain `ls` and `show` exit 0 and show the trace's name, id and span names."""
    trace_id = _run_pipeline()
    error_id = _run_explode()
    listing = invoke("ls", "--dir", trace_dir)
    assert listing.exit_code == 0, listing.stderr
    assert "pipeline" in listing.stdout and "explode" in listing.stdout
    assert trace_id[:12] in listing.stdout and error_id[:12] in listing.stdout
    shown = invoke("show", trace_id, "--dir", trace_dir)
    assert shown.exit_code == 0, shown.stderr
    for name in ("pipeline", "retrieve", "search_1", "search_2", "tokens"):
        assert name in shown.stdout, name
    failed = invoke("show", error_id, "--dir", trace_dir)
    assert failed.exit_code == 0, failed.stderr
    assert "explode" in failed.stdout and "ValueError" in failed.stdout


# -- damaged files -------------------------------------------------------------------------------------

GARBAGE_LINES = [
    b"this is not json",
    b'{"kind":"span_start","trace_id":"abc"}',  # missing span_id, name, start_ns
    b"[1, 2, 3]",
    b'{"kind":"span_end","trace_id":"abc","span_id":"x","end_ns":true,"status":"OK"}',
]


def test_garbage_lines_are_skipped_counted_and_reported(trace_dir):
    """A trace file with garbage lines still lists the good traces; the skipped count goes to stderr."""
    first = _run_pipeline("a")
    tracer.flush()
    (path,) = trace_dir.glob("*" + schema.FILE_SUFFIX)
    with open(path, "ab") as handle:
        handle.write(b"\n".join(GARBAGE_LINES) + b"\n")
    second = _run_explode()
    tracer.flush()
    (trace_dir / "junk.jsonl").write_bytes(b"\x00\xff garbage\n")

    result = invoke("ls", "--dir", trace_dir, "--json")
    assert result.exit_code == 0, result.stderr
    assert [s["trace_id"] for s in json.loads(result.stdout)] == [second, first]
    assert "skipped 5 malformed line" in result.stderr

    shown = invoke("show", first, "--json", "--dir", trace_dir)
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["status"] == "OK"
    assert "skipped 5 malformed line" in shown.stderr

    plain = invoke("ls", "--dir", trace_dir)
    assert plain.exit_code == 0
    assert "pipeline" in plain.stdout and "explode" in plain.stdout
    assert "skipped 5 malformed line" in plain.stderr


def test_clean_directory_reports_nothing_on_stderr(trace_dir):
    """With only good lines, `ls --json` and `show --json` write nothing to stderr."""
    trace_id = _run_pipeline()
    listing = invoke("ls", "--dir", trace_dir, "--json")
    shown = invoke("show", trace_id, "--dir", trace_dir, "--json")
    assert listing.stderr == "" and shown.stderr == ""


# -- as a real process ---------------------------------------------------------------------------------


def _cli_process(*args, cwd=REPO_ROOT):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.pop("TRACETUI_DIR", None)
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "cli.py"), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
    )


def test_cli_process_exit_codes(trace_dir):
    """Run as a process, `show`/`ls --json` exit 0 with JSON; unknown or ambiguous ids exit 1."""
    ids = [_run_pipeline(f"q{i}") for i in range(17)]
    tracer.flush()
    ok = _cli_process("show", ids[0], "--json", "--dir", trace_dir)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["trace_id"] == ids[0]
    listing = _cli_process("ls", trace_dir, "--json")
    assert listing.returncode == 0, listing.stderr
    assert len(json.loads(listing.stdout)) == 17
    unknown = _cli_process("show", "deadbeef" * 4, "--json", "--dir", trace_dir)
    assert unknown.returncode == 1
    assert unknown.stdout == "" and "no trace" in unknown.stderr
    shared = Counter(trace_id[0] for trace_id in ids).most_common(1)[0][0]
    ambiguous = _cli_process("show", shared, "--json", "--dir", trace_dir)
    assert ambiguous.returncode == 1
    assert ambiguous.stdout == "" and "ambiguous" in ambiguous.stderr


def test_show_and_ls_json_print_values_nested_deeper_than_the_json_writer_allows(tmp_path: Path) -> None:
    """A value nested 600 levels deep (readable, but deeper than orjson writes) is printed cut with a
    marker by `show --json` and `ls --json` instead of failing the command."""
    from tracer import schema

    # orjson cannot write this, so the JSON text is spliced into records the schema encodes.
    deep = orjson.Fragment(b"[" * 600 + b'"bottom"' + b"]" * 600)
    trace_id = "d" * 32
    lines = [
        schema.encode_span_start(trace_id, "1" * 16, None, "deep", "UNKNOWN", 10, {"v": deep}, {}, None),
        schema.encode_span_end(trace_id, "1" * 16, 20, "OK", "", deep, {}),
    ]
    directory = tmp_path / "deep"
    directory.mkdir()
    (directory / "deep.jsonl").write_bytes(b"".join(lines))
    runner = CliRunner()
    shown = runner.invoke(app, ["show", trace_id, "--dir", str(directory), "--json"])
    assert shown.exit_code == 0, shown.output
    assert "nested too deep to print" in shown.stdout
    assert orjson.loads(shown.stdout)["spans"][0]["name"] == "deep"
    listed = runner.invoke(app, ["ls", str(directory), "--json"])
    assert listed.exit_code == 0, listed.output
    assert orjson.loads(listed.stdout)[0]["trace_id"] == trace_id

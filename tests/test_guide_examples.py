"""Every code example of MLflow's ``@mlflow.trace`` guide
(/work/shared/seed/mlflow-trace-decorator-guide.txt), rewritten from ``mlflow.`` to ``tracer.``, runs
and produces the trace the guide describes.

The examples are kept as close to the guide as possible. Where the guide calls a network service (OpenAI,
a local LLM client) a fake object with the same shape stands in; where it only describes behaviour in
prose (exceptions, asyncio), a minimal example in the guide's style is written. Everything is checked
through the reader (`tui.store`), as a viewer would see it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import time
import unittest
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pytest
from conftest import load
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta

import tracer
from tracer.entities import SpanType
from tui.store import Span, Trace

# -- helpers --------------------------------------------------------------------------------------------


def last_trace(trace_dir: Path) -> Trace:
    """The trace that finished last in this process, as the reader assembles it."""
    trace_id = tracer.get_last_active_trace_id()
    assert trace_id is not None
    trace = load(trace_dir).get(trace_id)
    assert trace is not None, f"trace {trace_id} not found in {trace_dir}"
    return trace


def by_name(trace: Trace) -> dict[str, Span]:
    """The trace's spans keyed by their (deduplicated) display name."""
    spans = {span.name: span for span in trace.spans}
    assert len(spans) == len(trace.spans)
    return spans


def chunk_events(span: Span) -> list[tuple[str, Any]]:
    """(event name, chunk value) of every stream chunk event of a span, in order."""
    return [
        (event.name, event.attributes["mlflow.chunk.value"])
        for event in span.events
        if event.name.startswith("mlflow.chunk.item.")
    ]


# -- fakes standing in for network clients --------------------------------------------------------------


class FakeLocalLLMClient:
    """Stands in for the guide's `client` with an ``invoke(messages=..., model=...)`` method."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, messages: list[dict[str, str]], model: str) -> dict[str, Any]:
        self.calls.append({"messages": messages, "model": model})
        return {"model": model, "content": f"echo: {messages[-1]['content']}"}


def make_chat_completion(content: str, model: str = "gpt-4o-mini") -> ChatCompletion:
    return ChatCompletion(
        id="chatcmpl-fake",
        choices=[
            Choice(
                index=0,
                message=ChatCompletionMessage(role="assistant", content=content),
                finish_reason="stop",
            )
        ],
        created=1_700_000_000,
        model=model,
        object="chat.completion",
    )


def make_chunk(
    content: str | None, role: str | None = None, finish_reason: str | None = None
) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id="chatcmpl-stream",
        choices=[
            ChunkChoice(index=0, delta=ChoiceDelta(role=role, content=content), finish_reason=finish_reason)
        ],
        created=1_700_000_001,
        model="gpt-4o-mini",
        object="chat.completion.chunk",
    )


STREAM_CHUNKS = [
    make_chunk("", role="assistant"),
    make_chunk("Hello"),
    make_chunk(", world"),
    make_chunk("!"),
    make_chunk(None, finish_reason="stop"),
]


class _FakeCompletions:
    def __init__(self, answers: dict[str, str] | None = None, chunks: list[Any] | None = None) -> None:
        self._answers = answers or {}
        self._chunks = chunks or []

    def create(self, model: str, messages: list[dict[str, str]], stream: bool = False, **kwargs: Any) -> Any:
        if stream:
            return iter(self._chunks)
        question = messages[-1]["content"]
        time.sleep(0.01)  # let the two workers overlap
        return make_chat_completion(self._answers[question], model)


class FakeOpenAI:
    """Stands in for ``openai.OpenAI()``: ``client.chat.completions.create(...)`` without a network."""

    def __init__(self, answers: dict[str, str] | None = None, chunks: list[Any] | None = None) -> None:
        self.chat = type("Chat", (), {})()
        self.chat.completions = _FakeCompletions(answers, chunks)


class _FakeAsyncStream:
    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self._chunks = list(chunks)

    def __aiter__(self) -> _FakeAsyncStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if not self._chunks:
            raise StopAsyncIteration
        await asyncio.sleep(0)
        return self._chunks.pop(0)


class _FakeAsyncCompletions:
    def __init__(self, chunks: list[ChatCompletionChunk], error: Exception | None) -> None:
        self._chunks = chunks
        self._error = error
        self.requests: list[dict[str, Any]] = []

    async def create(self, **kwargs: Any) -> _FakeAsyncStream:
        self.requests.append(kwargs)
        await asyncio.sleep(0)
        if self._error is not None:
            raise self._error
        return _FakeAsyncStream(self._chunks)


class FakeAsyncOpenAI:
    """Stands in for ``openai.AsyncOpenAI()``: an awaitable ``create`` returning an async stream."""

    def __init__(self, chunks: list[ChatCompletionChunk], error: Exception | None = None) -> None:
        self.chat = type("Chat", (), {})()
        self.chat.completions = _FakeAsyncCompletions(chunks, error)


# -- Basic example --------------------------------------------------------------------------------------


def test_basic_example_nests_spans_with_custom_type_and_attributes(trace_dir):
    """The basic example gives one trace "Trace Test" with add_1 and minus_1 as children, typed "func"."""

    @tracer.trace(span_type="func", attributes={"key": "value"})
    def add_1(x):
        return x + 1

    @tracer.trace(span_type="func", attributes={"key1": "value1"})
    def minus_1(x):
        return x - 1

    @tracer.trace(name="Trace Test")
    def trace_test(x):
        step1 = add_1(x)
        return minus_1(step1)

    assert trace_test(4) == 4

    store = load(trace_dir)
    [summary] = store.summaries()
    assert summary.trace_id == tracer.get_last_active_trace_id()
    assert summary.name == "Trace Test"
    assert summary.status == "OK"
    assert summary.span_count == 3
    assert summary.error_count == 0
    assert summary.request_preview == '{"x":4}'
    assert summary.response_preview == "4"

    trace = store.get(summary.trace_id)
    assert [s.name for s in trace.spans] == ["Trace Test", "add_1", "minus_1"]
    root, add, minus = trace.spans
    assert root.parent_id is None
    assert root.span_type == "UNKNOWN"
    assert (root.inputs, root.outputs) == ({"x": 4}, 4)
    assert add.parent_id == root.span_id and minus.parent_id == root.span_id
    assert (add.span_type, add.attributes, add.inputs, add.outputs) == ("func", {"key": "value"}, {"x": 4}, 5)
    assert (minus.span_type, minus.attributes, minus.inputs, minus.outputs) == (
        "func",
        {"key1": "value1"},
        {"x": 5},
        4,
    )
    assert all(span.status == "OK" and span.end_ns is not None for span in trace.spans)
    assert len(summary.trace_id) == 32 and len(root.span_id) == 16


def test_duplicate_span_names_get_numbered_suffixes(trace_dir):
    """Spans sharing a name within one trace are shown as name_1, name_2 in start order (raw name kept)."""

    @tracer.trace(span_type="func", attributes={"key": "value"})
    def add_1(x):
        return x + 1

    @tracer.trace(name="Trace Test")
    def trace_test(x):
        return add_1(add_1(x))

    assert trace_test(1) == 3

    trace = last_trace(trace_dir)
    assert [(s.name, s.raw_name) for s in trace.spans] == [
        ("Trace Test", "Trace Test"),
        ("add_1_1", "add_1"),
        ("add_1_2", "add_1"),
    ]
    spans = by_name(trace)
    assert spans["add_1_1"].inputs == {"x": 1} and spans["add_1_2"].inputs == {"x": 2}


# -- Customising spans ----------------------------------------------------------------------------------


def test_custom_name_span_type_and_attributes(trace_dir):
    """name=, span_type=SpanType.LLM and attributes= set the span's name, type and attributes."""
    client = FakeLocalLLMClient()

    @tracer.trace(name="call-local-llm", span_type=SpanType.LLM, attributes={"model": "gpt-4o-mini"})
    def invoke(prompt: str):
        return client.invoke(messages=[{"role": "user", "content": prompt}], model="gpt-4o-mini")

    result = invoke("What is MLflow?")
    assert result == {"model": "gpt-4o-mini", "content": "echo: What is MLflow?"}
    assert client.calls == [
        {"messages": [{"role": "user", "content": "What is MLflow?"}], "model": "gpt-4o-mini"}
    ]

    [span] = last_trace(trace_dir).spans
    assert span.name == span.raw_name == "call-local-llm"
    assert span.span_type == "LLM"
    assert span.attributes == {"model": "gpt-4o-mini"}
    assert span.inputs == {"prompt": "What is MLflow?"}
    assert span.outputs == result
    assert span.location is not None and span.location["qualname"].endswith("invoke")


def test_get_current_active_span_set_attributes(trace_dir):
    """get_current_active_span() inside a traced function returns its span; set_attributes lands on it."""
    client = FakeLocalLLMClient()
    seen: list[Any] = []

    @tracer.trace(span_type=SpanType.LLM)
    def invoke(prompt: str):
        model_id = "gpt-4o-mini"
        # Get the current span (created by the @tracer.trace decorator)
        span = tracer.get_current_active_span()
        seen.append(span)
        # Set the attribute to the span
        span.set_attributes({"model": model_id})
        return client.invoke(messages=[{"role": "user", "content": prompt}], model=model_id)

    assert tracer.get_current_active_span() is None
    invoke("hi")
    assert tracer.get_current_active_span() is None

    [live] = seen
    assert live.name == "invoke" and live.span_type == "LLM"
    assert live.request_id == live.trace_id == tracer.get_last_active_trace_id()
    [span] = last_trace(trace_dir).spans
    assert span.span_id == live.span_id
    assert span.span_type == "LLM"
    assert span.attributes == {"model": "gpt-4o-mini"}
    assert span.outputs == {"model": "gpt-4o-mini", "content": "echo: hi"}


# -- @trace with other decorators -----------------------------------------------------------------------


def test_decorator_ordering_with_simple_timing_decorator(trace_dir, capsys):
    """Outermost @trace encloses the timing decorator's time; innermost is enclosed by it; names as given."""
    timings: dict[str, tuple[int, int]] = {}

    # A hypothetical additional decorator (as the guide's, plus a nanosecond record for the test)
    def simple_timing_decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            start_ns = time.time_ns()
            start_time = time.time()
            result = func(*args, **kwargs)
            end_time = time.time()
            timings[func.__name__] = (start_ns, time.time_ns())
            print(
                f"{func.__name__} executed in {end_time - start_time:.4f} seconds by simple_timing_decorator."
            )
            return result

        return wrapper

    # Correct order: @tracer.trace is outermost
    @tracer.trace(name="my_decorated_function_correct_order")
    @simple_timing_decorator
    def my_complex_function(x, y):
        time.sleep(0.1)  # Simulate work
        return x + y

    # Incorrect order: @tracer.trace is NOT outermost
    @simple_timing_decorator
    @tracer.trace(name="my_decorated_function_incorrect_order")
    def my_other_complex_function(x, y):
        time.sleep(0.1)
        return x * y

    assert my_complex_function(5, 3) == 8
    correct_id = tracer.get_last_active_trace_id()
    assert my_other_complex_function(5, 3) == 15
    incorrect_id = tracer.get_last_active_trace_id()
    assert correct_id != incorrect_id

    out = capsys.readouterr().out
    assert "my_complex_function executed in 0.1" in out
    assert "my_other_complex_function executed in 0.1" in out

    store = load(trace_dir)
    assert len(store) == 2
    [correct] = store.get(correct_id).spans
    [incorrect] = store.get(incorrect_id).spans
    assert correct.name == "my_decorated_function_correct_order"
    assert incorrect.name == "my_decorated_function_incorrect_order"
    # Both see the real parameters (functools.wraps keeps the signature) and the real result.
    assert (correct.inputs, correct.outputs) == ({"x": 5, "y": 3}, 8)
    assert (incorrect.inputs, incorrect.outputs) == ({"x": 5, "y": 3}, 15)
    assert correct.duration_ns >= 100_000_000 and incorrect.duration_ns >= 100_000_000

    # Correct order: the span encloses the timing decorator's whole measurement.
    timed_start, timed_end = timings["my_complex_function"]
    assert correct.start_ns <= timed_start and timed_end <= correct.end_ns
    # Incorrect order: the timing decorator runs outside the span, which sits inside its measurement.
    timed_start, timed_end = timings["my_other_complex_function"]
    assert timed_start <= incorrect.start_ns and incorrect.end_ns <= timed_end


# -- Trace tags and previews ----------------------------------------------------------------------------


def test_update_current_trace_tags(trace_dir):
    """update_current_trace(tags=...) inside a traced function tags the trace."""

    @tracer.trace
    def my_func(x):
        tracer.update_current_trace(tags={"fruit": "apple"})
        return x + 1

    assert my_func(1) == 2

    store = load(trace_dir)
    [summary] = store.summaries()
    assert summary.tags == {"fruit": "apple"}
    assert store.get(summary.trace_id).tags == {"fruit": "apple"}
    assert store.get(summary.trace_id).to_json()["tags"] == {"fruit": "apple"}
    # Both the trace-update record and the closing summary record carry the tag.
    assert store.get(summary.trace_id).summary_record["tags"] == {"fruit": "apple"}


def test_custom_request_and_response_previews(trace_dir):
    """request_preview / response_preview set with update_current_trace replace the default previews."""

    @tracer.trace(name="Summarization Pipeline")
    def summarize_document(document_content: str, user_instructions: str):
        # Construct a custom preview for the request column
        request_p = f"Doc: {document_content[:30]}... Instr: {user_instructions[:30]}..."
        tracer.update_current_trace(request_preview=request_p)

        summary = (
            f"Summary of document starting with '{document_content[:20]}...' based on '{user_instructions}'"
        )

        # Customize the response preview
        response_p = f"Summary: {summary[:50]}..."
        tracer.update_current_trace(response_preview=response_p)

        return summary

    long_document = "This is a very long document that contains many details about various topics..." * 10
    instructions = "Focus on the key takeaways regarding topic X."
    summary_result = summarize_document(long_document, instructions)

    assert summary_result == (
        "Summary of document starting with 'This is a very long ...' based on "
        "'Focus on the key takeaways regarding topic X.'"
    )
    store = load(trace_dir)
    [summary] = store.summaries()
    assert summary.name == "Summarization Pipeline"
    assert summary.request_preview == (
        "Doc: This is a very long document t... Instr: Focus on the key takeaways reg..."
    )
    assert summary.response_preview == "Summary: Summary of document starting with 'This is a very ..."
    [span] = store.get(summary.trace_id).spans
    # The span itself keeps the full inputs and output.
    assert span.inputs == {"document_content": long_document, "user_instructions": instructions}
    assert span.outputs == summary_result


# -- Automatic exception handling -----------------------------------------------------------------------


def test_exception_is_recorded_as_event_and_reraised_unchanged(trace_dir):
    """A raise gives an `exception` event (type/message/stacktrace), ERROR spans and trace, same exception."""
    error = ValueError("Invalid input: -1")

    @tracer.trace(span_type=SpanType.TOOL)
    def validate(x):
        if x < 0:
            raise error
        return x

    @tracer.trace(name="pipeline")
    def pipeline(x):
        return validate(x) * 2

    with pytest.raises(ValueError) as caught:
        pipeline(-1)
    assert caught.value is error

    store = load(trace_dir)
    [summary] = store.summaries()
    assert summary.status == "ERROR"
    assert summary.error_count == 2
    assert summary.response_preview is None
    spans = by_name(store.get(summary.trace_id))
    for name in ("pipeline", "validate"):
        span = spans[name]
        assert span.status == "ERROR"
        assert span.status_message == "ValueError: Invalid input: -1"
        assert span.outputs is None
        [event] = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"] == "ValueError"
        assert event.attributes["exception.message"] == "Invalid input: -1"
        stacktrace = event.attributes["exception.stacktrace"]
        assert stacktrace.startswith("Traceback (most recent call last):")
        assert "raise error" in stacktrace and "in validate" in stacktrace
        assert stacktrace.rstrip().endswith("ValueError: Invalid input: -1")
        assert "tracer/decorator.py" not in stacktrace
    # The partial data is there: the failing span's inputs.
    assert spans["validate"].inputs == {"x": -1}
    assert spans["validate"].parent_id == spans["pipeline"].span_id


def test_exception_caught_by_parent_leaves_trace_ok(trace_dir):
    """A child's exception handled by its parent marks only the child ERROR; the trace stays OK."""

    @tracer.trace
    def flaky():
        raise TimeoutError("upstream timed out")

    @tracer.trace
    def resilient():
        try:
            return flaky()
        except TimeoutError:
            return "fallback"

    assert resilient() == "fallback"
    trace = last_trace(trace_dir)
    spans = by_name(trace)
    assert spans["flaky"].status == "ERROR"
    assert [e.name for e in spans["flaky"].events] == ["exception"]
    assert spans["resilient"].status == "OK" and spans["resilient"].outputs == "fallback"
    assert spans["resilient"].events == []
    assert trace.summary().status == "OK"
    assert trace.summary().error_count == 1


# -- Complex workflow: nested start_span ----------------------------------------------------------------


def test_nested_start_span_data_pipeline(trace_dir):
    """start_span blocks inside a traced function become its children, each with the outputs it set."""

    def extract_from_source(data_source: str) -> list[dict[str, int]]:
        return [{"id": i, "value": i * 10} for i in range(5)]

    def apply_transformations(raw_data: list[dict[str, int]]) -> list[dict[str, int]]:
        return [row for row in raw_data if row["value"] >= 20]

    def load_to_destination(transformed: list[dict[str, int]]) -> dict[str, int]:
        return {"loaded": len(transformed)}

    @tracer.trace(name="data_pipeline")
    def process_data_pipeline(data_source: str):
        # Extract phase
        with tracer.start_span(name="extract") as extract_span:
            raw_data = extract_from_source(data_source)
            extract_span.set_outputs({"record_count": len(raw_data)})

        # Transform phase
        with tracer.start_span(name="transform") as transform_span:
            transformed = apply_transformations(raw_data)
            transform_span.set_outputs({"transformed_count": len(transformed)})

        # Load phase
        with tracer.start_span(name="load") as load_span:
            result = load_to_destination(transformed)
            load_span.set_outputs({"status": "success"})

        return result

    assert process_data_pipeline("s3://bucket/data.csv") == {"loaded": 3}

    trace = last_trace(trace_dir)
    assert [s.name for s in trace.spans] == ["data_pipeline", "extract", "transform", "load"]
    root = trace.root
    assert root.name == "data_pipeline"
    assert root.inputs == {"data_source": "s3://bucket/data.csv"}
    assert root.outputs == {"loaded": 3}
    assert [c.name for c in trace.children(root.span_id)] == ["extract", "transform", "load"]
    spans = by_name(trace)
    assert spans["extract"].outputs == {"record_count": 5}
    assert spans["transform"].outputs == {"transformed_count": 3}
    assert spans["load"].outputs == {"status": "success"}
    for name in ("extract", "transform", "load"):
        assert spans[name].status == "OK"
        assert spans[name].span_type == "UNKNOWN"
        assert root.start_ns <= spans[name].start_ns <= spans[name].end_ns <= root.end_ns
    assert spans["extract"].end_ns <= spans["transform"].start_ns
    assert spans["transform"].end_ns <= spans["load"].start_ns


# -- Multithreading -------------------------------------------------------------------------------------

QUESTIONS = [
    "What is the capital of France?",
    "What is the capital of Germany?",
]
ANSWERS = {QUESTIONS[0]: "Paris", QUESTIONS[1]: "Berlin"}


def test_multithreading_with_copy_context_gives_one_trace(trace_dir):
    """Workers submitted with copy_context().run are children of `main` in one trace."""
    client = FakeOpenAI(answers=ANSWERS)

    @tracer.trace
    def worker(question: str) -> str:
        messages = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": question},
        ]
        response = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            temperature=0.1,
            max_tokens=100,
        )
        return response.choices[0].message.content

    @tracer.trace
    def main(questions: list[str]) -> list[str]:
        results = []
        # 1. Copy the context in the main thread using copy_context()
        # 2. Use ctx.run() to run the worker in the copied context
        with ThreadPoolExecutor(max_workers=2) as executor:
            futures = []
            for question in questions:
                ctx = contextvars.copy_context()
                futures.append(executor.submit(ctx.run, worker, question))
            for future in as_completed(futures):
                results.append(future.result())
        return results

    results = main(QUESTIONS)
    assert sorted(results) == ["Berlin", "Paris"]

    store = load(trace_dir)
    [summary] = store.summaries()
    assert summary.name == "main"
    assert summary.span_count == 3
    trace = store.get(summary.trace_id)
    root = trace.root
    assert root.raw_name == "main" and root.inputs == {"questions": QUESTIONS}
    assert sorted(root.outputs) == ["Berlin", "Paris"]
    workers = trace.children(root.span_id)
    assert sorted(w.name for w in workers) == ["worker_1", "worker_2"]
    assert {w.raw_name for w in workers} == {"worker"}
    assert {w.inputs["question"]: w.outputs for w in workers} == ANSWERS
    assert all(w.status == "OK" for w in workers)


def test_multithreading_without_copy_context_splits_traces(trace_dir):
    """Without copying the context, each worker thread starts a trace of its own (as the guide warns)."""
    client = FakeOpenAI(answers=ANSWERS)

    @tracer.trace
    def worker(question: str) -> str:
        response = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return response.choices[0].message.content

    @tracer.trace
    def main(questions: list[str]) -> list[str]:
        with ThreadPoolExecutor(max_workers=2) as executor:
            futures = [executor.submit(worker, question) for question in questions]
            return sorted(future.result() for future in as_completed(futures))

    assert main(QUESTIONS) == ["Berlin", "Paris"]
    main_id = tracer.get_last_active_trace_id()

    store = load(trace_dir)
    summaries = store.summaries()
    assert len(summaries) == 3
    assert sorted(s.name for s in summaries) == ["main", "worker", "worker"]
    assert [s.name for s in store.get(main_id).spans] == ["main"]
    for summary in summaries:
        [span] = store.get(summary.trace_id).spans
        assert span.parent_id is None
        assert summary.span_count == 1
    workers = {s.request_preview: s.response_preview for s in summaries if s.name == "worker"}
    assert workers == {
        '{"question":"What is the capital of France?"}': "Paris",
        '{"question":"What is the capital of Germany?"}': "Berlin",
    }


def test_wrap_context_helper_matches_copy_context(trace_dir):
    """tracer.wrap_context(fn) with executor.map gives the same single trace as copy_context().run."""

    @tracer.trace
    def square(n: int) -> int:
        return n * n

    @tracer.trace
    def main(numbers: list[int]) -> list[int]:
        with ThreadPoolExecutor(max_workers=2) as executor:
            return list(executor.map(tracer.wrap_context(square), numbers))

    assert main([1, 2, 3]) == [1, 4, 9]
    trace = last_trace(trace_dir)
    assert len(load(trace_dir)) == 1
    children = trace.children(trace.root.span_id)
    assert sorted((c.inputs["n"], c.outputs) for c in children) == [(1, 1), (2, 4), (3, 9)]


# -- asyncio --------------------------------------------------------------------------------------------


async def test_async_function_and_tasks_inherit_context(trace_dir):
    """async def is traced; tasks from gather/create_task inherit the context and nest without copying."""

    @tracer.trace(span_type=SpanType.TOOL)
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.01 * (3 - i))
        return i * 2

    @tracer.trace(span_type=SpanType.AGENT)
    async def gather_all(n: int) -> list[int]:
        results = await asyncio.gather(*(fetch(i) for i in range(n)))
        extra = await asyncio.create_task(fetch(10))
        return [*results, extra]

    assert await gather_all(3) == [0, 2, 4, 20]

    store = load(trace_dir)
    [summary] = store.summaries()
    assert summary.name == "gather_all" and summary.span_count == 5 and summary.status == "OK"
    trace = store.get(summary.trace_id)
    root = trace.root
    assert root.span_type == "AGENT"
    assert root.inputs == {"n": 3} and root.outputs == [0, 2, 4, 20]
    children = trace.children(root.span_id)
    assert len(children) == 4
    assert {c.raw_name for c in children} == {"fetch"}
    assert all(c.span_type == "TOOL" for c in children)
    assert sorted((c.inputs["i"], c.outputs) for c in children) == [(0, 0), (1, 2), (2, 4), (10, 20)]
    assert tracer.get_current_active_span() is None


# -- Streaming outputs: generators ----------------------------------------------------------------------


def test_generator_output_is_list_of_items_with_chunk_events(trace_dir):
    """A traced generator's span outputs [0..4] and has one mlflow.chunk.item.{i} event per item."""

    @tracer.trace
    def stream_data():
        for i in range(5):  # noqa: UP028 - as in the guide
            yield i

    gen = stream_data()
    # The span starts only when consumption starts.
    assert load(trace_dir).summaries() == []
    assert list(gen) == [0, 1, 2, 3, 4]

    store = load(trace_dir)
    [summary] = store.summaries()
    assert summary.name == "stream_data" and summary.status == "OK"
    assert summary.response_preview == "[0,1,2,3,4]"
    [span] = store.get(summary.trace_id).spans
    assert span.outputs == [0, 1, 2, 3, 4]
    assert span.inputs == {}
    assert chunk_events(span) == [(f"mlflow.chunk.item.{i}", i) for i in range(5)]
    assert [type(value) for _, value in chunk_events(span)] == [int] * 5  # JSON values, not strings
    assert "stream.closed_early" not in span.attributes


def test_output_reducer_join(trace_dir):
    """output_reducer=lambda x: ",".join(x) makes the span output "h,e,l,l,o"; raw chunks stay as events."""

    @tracer.trace(output_reducer=lambda x: ",".join(x))
    def stream_data():
        for c in "hello":  # noqa: UP028 - as in the guide
            yield c

    assert "".join(stream_data()) == "hello"
    [span] = last_trace(trace_dir).spans
    assert span.outputs == "h,e,l,l,o"
    assert chunk_events(span) == [(f"mlflow.chunk.item.{i}", c) for i, c in enumerate("hello")]


def aggregate_tokens(chunks: list[str]) -> str:
    """Concatenate streaming tokens into complete text"""
    return "".join(chunks)


def test_output_reducer_aggregate_tokens(trace_dir):
    """aggregate_tokens concatenates the streamed words into "Hello World!"."""

    @tracer.trace(output_reducer=aggregate_tokens)
    def stream_text():
        for word in ["Hello", " ", "World", "!"]:  # noqa: UP028 - as in the guide
            yield word

    assert list(stream_text()) == ["Hello", " ", "World", "!"]
    [span] = last_trace(trace_dir).spans
    assert span.outputs == "Hello World!"
    assert [value for _, value in chunk_events(span)] == ["Hello", " ", "World", "!"]


def aggregate_metrics(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate streaming metrics into summary statistics"""
    values = [c["value"] for c in chunks if "value" in c]
    return {
        "count": len(values),
        "sum": sum(values),
        "average": sum(values) / len(values) if values else 0,
        "max": max(values) if values else None,
        "min": min(values) if values else None,
    }


def test_output_reducer_aggregate_metrics(trace_dir):
    """aggregate_metrics summarises ten metric dicts; each dict is a JSON object in its chunk event."""

    @tracer.trace(output_reducer=aggregate_metrics)
    def stream_metrics():
        for i in range(10):
            yield {"value": i * 2, "timestamp": time.time()}

    items = list(stream_metrics())
    [span] = last_trace(trace_dir).spans
    assert span.outputs == {"count": 10, "sum": 90, "average": 9.0, "max": 18, "min": 0}
    events = chunk_events(span)
    assert len(events) == 10
    assert [value["value"] for _, value in events] == [i * 2 for i in range(10)]
    assert [value["timestamp"] for _, value in events] == [item["timestamp"] for item in items]


def collect_results_and_errors(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Separate successful results from errors"""
    results = []
    errors = []

    for chunk in chunks:
        if chunk.get("error"):
            errors.append(chunk["error"])
        else:
            results.append(chunk.get("data"))

    return {
        "results": results,
        "errors": errors,
        "success_rate": len(results) / len(chunks) if chunks else 0,
        "has_errors": len(errors) > 0,
    }


def test_output_reducer_collect_results_and_errors(trace_dir):
    """collect_results_and_errors splits the stream into results and errors with a success rate."""

    @tracer.trace(output_reducer=collect_results_and_errors)
    def process_batch(items: list[str]):
        for item in items:
            if item.startswith("bad"):
                yield {"error": f"cannot process {item}"}
            else:
                yield {"data": item.upper()}

    list(process_batch(["a", "bad1", "b", "c"]))
    [span] = last_trace(trace_dir).spans
    assert span.inputs == {"items": ["a", "bad1", "b", "c"]}
    assert span.outputs == {
        "results": ["A", "B", "C"],
        "errors": ["cannot process bad1"],
        "success_rate": 0.75,
        "has_errors": True,
    }
    assert span.status == "OK"


# -- Real-world reducers: JSON parsing ------------------------------------------------------------------


def parse_json_from_llm(content: str) -> str:
    """Extract and clean JSON from LLM responses that may include markdown"""
    # Remove common markdown code block wrappers
    if content.startswith("```json") and content.endswith("```"):
        content = content[7:-3]  # Remove ```json prefix and ``` suffix
    elif content.startswith("```") and content.endswith("```"):
        content = content[3:-3]  # Remove generic ``` wrappers
    return content.strip()


def json_stream_reducer(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate LLM streaming output and parse JSON response"""
    full_content = ""
    metadata = {}
    errors = []

    # Process different chunk types
    for chunk in chunks:
        chunk_type = chunk.get("type", "content")

        if chunk_type == "content" or chunk_type == "token":
            full_content += chunk.get("content", "")
        elif chunk_type == "metadata":
            metadata.update(chunk.get("data", {}))
        elif chunk_type == "error":
            errors.append(chunk.get("error"))

    # Return early if errors occurred
    if errors:
        return {"status": "error", "errors": errors, "raw_content": full_content, **metadata}

    # Try to parse accumulated content as JSON
    try:
        cleaned_content = parse_json_from_llm(full_content)
        parsed_data = json.loads(cleaned_content)

        return {"status": "success", "data": parsed_data, "raw_content": full_content, **metadata}
    except json.JSONDecodeError as e:
        return {
            "status": "parse_error",
            "error": f"Failed to parse JSON: {e!s}",
            "raw_content": full_content,
            **metadata,
        }


def test_json_stream_reducer_with_trace_id_from_active_span(trace_dir):
    """generate_structured_output: parsed JSON output plus the trace id read via get_current_active_span()."""

    @tracer.trace(output_reducer=json_stream_reducer)
    def generate_structured_output(prompt: str, schema: dict):
        """Generate structured JSON output from an LLM"""
        # Simulate streaming JSON generation
        yield {"type": "content", "content": '{"name": "John", '}
        yield {"type": "content", "content": '"email": "john@example.com", '}
        yield {"type": "content", "content": '"age": 30}'}

        # Add metadata
        trace_id = tracer.get_current_active_span().request_id if tracer.get_current_active_span() else None
        yield {"type": "metadata", "data": {"trace_id": trace_id, "model": "gpt-4"}}

    person_schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    chunks = list(generate_structured_output("Describe John", person_schema))
    assert len(chunks) == 4

    trace_id = tracer.get_last_active_trace_id()
    assert chunks[3]["data"]["trace_id"] == trace_id
    [span] = last_trace(trace_dir).spans
    assert span.inputs == {"prompt": "Describe John", "schema": person_schema}
    assert span.outputs == {
        "status": "success",
        "data": {"name": "John", "email": "john@example.com", "age": 30},
        "raw_content": '{"name": "John", "email": "john@example.com", "age": 30}',
        "trace_id": trace_id,
        "model": "gpt-4",
    }
    assert len(chunk_events(span)) == 4


def test_json_stream_reducer_parse_error_and_markdown():
    """json_stream_reducer strips ```json fences, reports parse errors and error chunks (no tracing)."""
    fenced = [{"type": "token", "content": '```json\n{"a": 1}\n```'}]
    assert json_stream_reducer(fenced)["data"] == {"a": 1}
    broken = json_stream_reducer([{"content": '{"a": '}])
    assert broken["status"] == "parse_error" and broken["error"].startswith("Failed to parse JSON:")
    failed = json_stream_reducer([{"type": "error", "error": "boom"}])
    assert failed == {"status": "error", "errors": ["boom"], "raw_content": ""}


# -- Structured output with an async generator (OpenAI stand-in) ----------------------------------------


def structured_output_reducer(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """
    Aggregate streaming chunks into structured output with comprehensive error handling.
    Handles token streaming, metadata collection, and JSON parsing.
    """
    content_parts = []
    trace_id = None
    model_info = None
    errors = []

    for chunk in chunks:
        chunk_type = chunk.get("type", "token")

        if chunk_type == "token":
            content_parts.append(chunk.get("content", ""))
        elif chunk_type == "trace_info":
            trace_id = chunk.get("trace_id")
            model_info = chunk.get("model")
        elif chunk_type == "error":
            errors.append(chunk.get("message"))

    # Join all content parts
    full_content = "".join(content_parts)

    # Base response
    response = {"trace_id": trace_id, "model": model_info, "raw_content": full_content}

    # Handle errors
    if errors:
        response["status"] = "error"
        response["errors"] = errors
        return response

    # Try to extract and parse JSON
    try:
        # Clean markdown wrappers if present
        json_content = full_content.strip()
        if json_content.startswith("```json") and json_content.endswith("```"):
            json_content = json_content[7:-3].strip()
        elif json_content.startswith("```") and json_content.endswith("```"):
            json_content = json_content[3:-3].strip()

        parsed_data = json.loads(json_content)
        response["status"] = "success"
        response["data"] = parsed_data

    except json.JSONDecodeError as e:
        response["status"] = "parse_error"
        response["error"] = f"JSON parsing failed: {e!s}"
        response["error_position"] = e.pos if hasattr(e, "pos") else None

    return response


EMAIL = {
    "subject": "Sorry about your damaged product",
    "greeting": "Dear John Doe,",
    "body": "We are sending a replacement today.",
    "closing": "Best regards",
    "priority": "high",
}


def email_chunks() -> list[ChatCompletionChunk]:
    text = "```json\n" + json.dumps(EMAIL) + "\n```"
    pieces = [text[i : i + 17] for i in range(0, len(text), 17)]
    return [
        make_chunk("", role="assistant"),
        *(make_chunk(piece) for piece in pieces),
        make_chunk(None, finish_reason="stop"),
    ]


def make_generate_customer_email(client: FakeAsyncOpenAI) -> Any:
    @tracer.trace(output_reducer=structured_output_reducer)
    async def generate_customer_email(
        customer_name: str, issue: str, sentiment: str = "professional"
    ) -> None:
        """
        Generate a structured customer service email response.
        Demonstrates real-world streaming with OpenAI and structured output parsing.
        """
        # client = openai.AsyncOpenAI()  -- the fake passed in stands in for it

        system_prompt = """You are a customer service assistant. \
Generate a professional email response in JSON format:
{
"subject": "email subject line",
"greeting": "personalized greeting",
"body": "main email content addressing the issue",
"closing": "professional closing",
"priority": "high|medium|low"
}"""

        user_prompt = f"Customer: {customer_name}\nIssue: {issue}\nTone: {sentiment}"

        try:
            # Stream the response
            stream = await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[
                    {"role": "system", "content": system_prompt},
                    {"role": "user", "content": user_prompt},
                ],
                stream=True,
                temperature=0.7,
            )

            # Yield streaming tokens
            async for chunk in stream:
                if chunk.choices[0].delta.content:
                    yield {"type": "token", "content": chunk.choices[0].delta.content}

            # Add trace metadata
            if current_span := tracer.get_current_active_span():
                yield {"type": "trace_info", "trace_id": current_span.request_id, "model": "gpt-4o-mini"}

        except Exception as e:
            yield {"type": "error", "message": f"OpenAI API error: {e!s}"}

    return generate_customer_email


async def test_structured_output_reducer_async_generator(trace_dir, capsys):
    """The async generator generate_customer_email streams tokens; the reducer parses the email JSON."""
    client = FakeAsyncOpenAI(email_chunks())
    generate_customer_email = make_generate_customer_email(client)

    # Example usage
    async def main():
        async for chunk in generate_customer_email(
            customer_name="John Doe", issue="Product arrived damaged", sentiment="empathetic"
        ):
            print(chunk.get("content", ""), end="", flush=True)

    await main()
    assert capsys.readouterr().out == "```json\n" + json.dumps(EMAIL) + "\n```"
    [request] = client.chat.completions.requests
    assert (
        request["messages"][1]["content"]
        == "Customer: John Doe\nIssue: Product arrived damaged\nTone: empathetic"
    )

    trace_id = tracer.get_last_active_trace_id()
    [span] = last_trace(trace_dir).spans
    assert span.name == "generate_customer_email"
    assert span.inputs == {
        "customer_name": "John Doe",
        "issue": "Product arrived damaged",
        "sentiment": "empathetic",
    }
    assert span.status == "OK"
    assert span.outputs == {
        "trace_id": trace_id,
        "model": "gpt-4o-mini",
        "raw_content": "```json\n" + json.dumps(EMAIL) + "\n```",
        "status": "success",
        "data": EMAIL,
    }
    events = chunk_events(span)
    assert events[-1] == (
        f"mlflow.chunk.item.{len(events) - 1}",
        {"type": "trace_info", "trace_id": trace_id, "model": "gpt-4o-mini"},
    )
    assert all(value["type"] == "token" for _, value in events[:-1])


async def test_structured_output_reducer_api_error_path(trace_dir):
    """When the (fake) API call fails, the generator yields an error chunk and the reducer reports it."""
    client = FakeAsyncOpenAI([], error=ConnectionError("connection refused"))
    generate_customer_email = make_generate_customer_email(client)

    chunks = [chunk async for chunk in generate_customer_email("Jane", "Late delivery")]
    assert chunks == [{"type": "error", "message": "OpenAI API error: connection refused"}]

    [span] = last_trace(trace_dir).spans
    assert span.inputs == {"customer_name": "Jane", "issue": "Late delivery", "sentiment": "professional"}
    assert span.status == "OK"  # the generator handled the error itself
    assert span.outputs == {
        "trace_id": None,
        "model": None,
        "raw_content": "",
        "status": "error",
        "errors": ["OpenAI API error: connection refused"],
    }


# -- Multi-model aggregation ----------------------------------------------------------------------------


def multi_model_reducer(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate responses from multiple models"""
    responses = {}
    latencies = {}

    for chunk in chunks:
        model = chunk.get("model")
        if model:
            responses[model] = chunk.get("response", "")
            latencies[model] = chunk.get("latency", 0)

    return {
        "responses": responses,
        "latencies": latencies,
        "fastest_model": min(latencies, key=latencies.get) if latencies else None,
        "consensus": len(set(responses.values())) == 1,
    }


def test_multi_model_reducer(trace_dir):
    """multi_model_reducer picks the fastest model and reports whether the models agree."""

    @tracer.trace(output_reducer=multi_model_reducer, span_type=SpanType.CHAIN)
    def ask_models(question: str):
        yield {"model": "gpt-4o-mini", "response": "Paris", "latency": 0.42}
        yield {"model": "claude", "response": "Paris", "latency": 0.31}
        yield {"model": "llama", "response": "Paris", "latency": 0.95}

    assert len(list(ask_models("Capital of France?"))) == 3
    [span] = last_trace(trace_dir).spans
    assert span.span_type == "CHAIN"
    assert span.outputs == {
        "responses": {"gpt-4o-mini": "Paris", "claude": "Paris", "llama": "Paris"},
        "latencies": {"gpt-4o-mini": 0.42, "claude": 0.31, "llama": 0.95},
        "fastest_model": "claude",
        "consensus": True,
    }


# -- Advanced: OpenAI streaming, ChatCompletionChunk -> ChatCompletion ----------------------------------


def aggregate_chunks(outputs: list[ChatCompletionChunk]) -> ChatCompletion | None:
    """Consolidate ChatCompletionChunks to a single ChatCompletion"""
    if not outputs:
        return None

    first_chunk = outputs[0]
    delta = first_chunk.choices[0].delta
    message = ChatCompletionMessage(role=delta.role, content=delta.content, tool_calls=delta.tool_calls or [])
    finish_reason = first_chunk.choices[0].finish_reason
    for chunk in outputs[1:]:
        delta = chunk.choices[0].delta
        message.content += delta.content or ""
        message.tool_calls += delta.tool_calls or []
        finish_reason = finish_reason or chunk.choices[0].finish_reason

    base = ChatCompletion(
        id=first_chunk.id,
        choices=[Choice(index=0, message=message, finish_reason=finish_reason)],
        created=first_chunk.created,
        model=first_chunk.model,
        object="chat.completion",
    )
    return base


def test_chat_completion_chunks_aggregated_into_chat_completion(trace_dir):
    """aggregate_chunks turns real ChatCompletionChunk objects into one ChatCompletion, stored as its JSON."""

    @tracer.trace(output_reducer=aggregate_chunks)
    def predict(messages: list[dict]):
        client = FakeOpenAI(chunks=STREAM_CHUNKS)  # stands in for openai.OpenAI()
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
        for chunk in stream:  # noqa: UP028 - as in the guide
            yield chunk

    received = list(predict([{"role": "user", "content": "Hello"}]))
    assert received == STREAM_CHUNKS

    expected = aggregate_chunks(STREAM_CHUNKS)
    assert expected.choices[0].message.content == "Hello, world!"
    assert expected.choices[0].finish_reason == "stop"

    [span] = last_trace(trace_dir).spans
    assert span.inputs == {"messages": [{"role": "user", "content": "Hello"}]}
    assert span.outputs == expected.model_dump(mode="json")
    assert span.outputs["object"] == "chat.completion"
    assert span.outputs["id"] == "chatcmpl-stream"
    assert span.outputs["choices"][0]["message"] == {
        **span.outputs["choices"][0]["message"],
        "role": "assistant",
        "content": "Hello, world!",
        "tool_calls": [],
    }
    # Each raw chunk is kept as an event holding the chunk's JSON object.
    events = chunk_events(span)
    assert [value for _, value in events] == [chunk.model_dump(mode="json") for chunk in STREAM_CHUNKS]
    assert events[1][1]["choices"][0]["delta"]["content"] == "Hello"


# -- Testing output reducers ----------------------------------------------------------------------------


def my_reducer(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Example reducer to be tested"""
    if not chunks:
        return {"status": "empty", "total": 0}

    total = sum(c.get("value", 0) for c in chunks)
    errors = [c for c in chunks if c.get("error")]

    return {
        "status": "error" if errors else "success",
        "total": total,
        "count": len(chunks),
        "average": total / len(chunks) if chunks else 0,
        "error_count": len(errors),
    }


class _GuideTestOutputReducer(unittest.TestCase):
    """The guide's ``TestOutputReducer``, run by `test_guide_unittest_for_output_reducers_passes`."""

    __test__ = False  # pytest would collect a TestCase subclass on its own

    def test_normal_case(self):
        chunks = [{"value": 10}, {"value": 20}, {"value": 30}]
        result = my_reducer(chunks)
        self.assertEqual(result["status"], "success")
        self.assertEqual(result["total"], 60)
        self.assertEqual(result["average"], 20.0)

    def test_empty_input(self):
        result = my_reducer([])
        self.assertEqual(result["status"], "empty")
        self.assertEqual(result["total"], 0)

    def test_error_handling(self):
        chunks = [{"value": 10}, {"error": "Network timeout"}, {"value": 20}]
        result = my_reducer(chunks)
        self.assertEqual(result["status"], "error")
        self.assertEqual(result["total"], 30)
        self.assertEqual(result["error_count"], 1)

    def test_missing_values(self):
        chunks = [
            {"value": 10},
            {"metadata": "some info"},  # No value field
            {"value": 20},
        ]
        result = my_reducer(chunks)
        self.assertEqual(result["total"], 30)
        self.assertEqual(result["count"], 3)


def test_guide_unittest_for_output_reducers_passes():
    """The guide's unittest TestOutputReducer runs its four cases and they all pass."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(_GuideTestOutputReducer)
    result = unittest.TestResult()
    suite.run(result)
    assert result.testsRun == 4
    assert result.failures == [] and result.errors == []


def test_my_reducer_as_output_reducer(trace_dir):
    """my_reducer also works as an output_reducer: an error chunk shows up in the span's output."""

    @tracer.trace(output_reducer=my_reducer)
    def values():
        yield {"value": 10}
        yield {"error": "Network timeout"}
        yield {"value": 20}

    list(values())
    [span] = last_trace(trace_dir).spans
    assert span.outputs == {"status": "error", "total": 30, "count": 3, "average": 10.0, "error_count": 1}

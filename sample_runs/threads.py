"""Questions answered in parallel worker threads, all nested under one trace (context copied)."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor, as_completed

import tracer
from sample_runs._pace import pause
from tracer import SpanType

CAPITALS = {"France": "Paris", "Germany": "Berlin", "Japan": "Tokyo", "Brazil": "Brasília"}


@tracer.trace(span_type=SpanType.LLM)
def worker(question: str) -> str:
    pause(0.1 + 0.05 * len(question) % 0.3)
    country = question.rsplit(" ", 1)[-1].rstrip("?")
    return f"The capital of {country} is {CAPITALS.get(country, 'unknown')}."


@tracer.trace(span_type=SpanType.CHAIN)
def main_batch(questions: list[str]) -> list[str]:
    results = []
    with ThreadPoolExecutor(max_workers=2) as executor:
        futures = [executor.submit(contextvars.copy_context().run, worker, q) for q in questions]
        for future in as_completed(futures):
            results.append(future.result())
    return sorted(results)


@tracer.trace(span_type=SpanType.CHAIN)
def main_batch_wrapped(questions: list[str]) -> list[str]:
    with ThreadPoolExecutor(max_workers=3) as executor:
        return list(executor.map(tracer.wrap_context(worker), questions))


def main() -> None:
    questions = [f"What is the capital of {country}?" for country in CAPITALS]
    print(main_batch(questions))
    print(main_batch_wrapped(questions))


if __name__ == "__main__":
    main()

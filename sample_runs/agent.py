"""An agent answering a question: plan with a streaming LLM, call tools (one fails), stream the answer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import tracer
from sample_runs._pace import pause
from tracer import SpanType

TOOLS = {
    "search": "Search the web for a query",
    "calculator": "Evaluate an arithmetic expression",
    "weather": "Current weather for a city",
}


def _tokens(text: str) -> Iterator[str]:
    for word in text.split(" "):
        yield word + " "


@tracer.trace(span_type=SpanType.CHAT_MODEL, output_reducer=lambda chunks: "".join(chunks).strip())
def chat_stream(messages: list[dict[str, str]], model: str = "gpt-4o-mini") -> Iterator[str]:
    span = tracer.get_current_active_span()
    if span is not None:
        span.set_attributes({"model": model, "temperature": 0.2})
    last = messages[-1]["content"]
    if last.startswith("PLAN"):
        reply = (
            "I will search for the population of Lisbon and Porto, add them with the calculator, "
            "and check the weather in Lisbon."
        )
    else:
        reply = "Lisbon and Porto together have about 780,000 inhabitants; it is sunny in Lisbon today."
    for token in _tokens(reply):
        pause(0.04)
        yield token
    if span is not None:
        span.set_attribute("usage", {"prompt_tokens": 57, "completion_tokens": len(reply.split())})


@tracer.trace(span_type=SpanType.RETRIEVER)
def search(query: str, top_k: int = 3) -> list[dict[str, object]]:
    pause(0.3)
    return [
        {"title": f"{query} — Wikipedia", "url": "https://en.wikipedia.org/wiki/Lisbon", "score": 0.93},
        {"title": f"{query} (census 2021)", "url": "https://ine.pt", "score": 0.81},
    ][:top_k]


@tracer.trace(span_type=SpanType.TOOL)
def calculator(expression: str) -> float:
    pause(0.05)
    left, _, right = expression.partition("+")
    return float(left) + float(right)


@tracer.trace(span_type=SpanType.TOOL)
def weather(city: str) -> dict[str, object]:
    pause(0.2)
    raise TimeoutError(f"weather service did not answer for {city!r} within 5s")


@tracer.trace(span_type=SpanType.TOOL, name="call_tool")
def call_tool(name: str, arguments: dict[str, object]) -> object:
    tool = {"search": search, "calculator": calculator, "weather": weather}[name]
    try:
        return tool(**arguments)
    except TimeoutError as exc:
        # The agent carries on without the weather: the tool span stays failed, the agent does not.
        return {"error": str(exc)}


@tracer.trace(span_type=SpanType.AGENT)
def run_agent(question: str) -> str:
    tracer.update_current_trace(tags={"user": "ana", "env": "dev"}, metadata={"session": "s-42"})
    plan = "".join(chat_stream([{"role": "user", "content": f"PLAN {question}"}]))
    with tracer.start_span("tools", span_type=SpanType.CHAIN) as tools_span:
        results = [
            call_tool("search", {"query": "population of Lisbon"}),
            call_tool("search", {"query": "population of Porto"}),
            call_tool("calculator", {"expression": "545000+232000"}),
            call_tool("weather", {"city": "Lisbon"}),
        ]
        tools_span.set_outputs({"calls": len(results)})
    context = json.dumps(results)[:500]
    answer = "".join(
        chat_stream(
            [
                {"role": "system", "content": f"Plan: {plan}"},
                {"role": "user", "content": f"{question}\nContext: {context}"},
            ]
        )
    )
    return answer


def main() -> None:
    print(run_agent("How many people live in Lisbon and Porto, and what's the weather?"))


if __name__ == "__main__":
    main()

"""An async fan-out: one request queries several models concurrently and streams the fastest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import tracer
from sample_runs._pace import apause
from tracer import SpanType

MODELS = {"gpt-4o-mini": 0.25, "claude-haiku": 0.18, "llama-3-8b": 0.4}


@tracer.trace(span_type=SpanType.LLM)
async def ask(model: str, prompt: str) -> dict[str, object]:
    await apause(MODELS[model])
    return {
        "model": model,
        "response": f"[{model}] Rust and Go both compile to native code.",
        "latency": MODELS[model],
    }


@tracer.trace(span_type=SpanType.LLM, output_reducer=lambda chunks: "".join(chunks))
async def stream_answer(text: str) -> AsyncIterator[str]:
    for word in text.split(" "):
        await apause(0.03)
        yield word + " "


def multi_model_reducer(chunks: list[dict[str, object]]) -> dict[str, object]:
    latencies = {c["model"]: c["latency"] for c in chunks}
    return {"fastest_model": min(latencies, key=latencies.get), "models": sorted(latencies)}  # type: ignore[arg-type]


@tracer.trace(span_type=SpanType.AGENT)
async def fan_out(prompt: str) -> str:
    answers = await asyncio.gather(*(ask(model, prompt) for model in MODELS))
    fastest = min(answers, key=lambda a: a["latency"])  # type: ignore[arg-type,return-value]
    tracer.update_current_trace(tags={"fastest": str(fastest["model"])})
    return "".join([chunk async for chunk in stream_answer(str(fastest["response"]))]).strip()


def main() -> None:
    print(asyncio.run(fan_out("Compare Rust and Go in one sentence.")))


if __name__ == "__main__":
    main()

"""A data pipeline: extract, transform, load, with nested spans and a reported row count."""

from __future__ import annotations

import random

import tracer
from sample_runs._pace import pause
from tracer import SpanType


@tracer.trace(span_type=SpanType.RETRIEVER)
def extract(source: str) -> list[dict[str, object]]:
    pause(0.2)
    rng = random.Random(7)
    return [
        {"id": i, "amount": round(rng.uniform(1, 500), 2), "country": rng.choice("PT ES FR")}
        for i in range(40)
    ]


@tracer.trace(span_type=SpanType.PARSER)
def clean(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    pause(0.05)
    return [row for row in rows if row["country"] != " "]


@tracer.trace(span_type=SpanType.TASK)
def convert_currency(rows: list[dict[str, object]], rate: float = 1.08) -> list[dict[str, object]]:
    pause(0.05)
    return [{**row, "amount_usd": round(float(row["amount"]) * rate, 2)} for row in rows]


@tracer.trace(name="data_pipeline", span_type=SpanType.WORKFLOW)
def process_data_pipeline(data_source: str) -> dict[str, object]:
    with tracer.start_span(name="extract") as extract_span:
        raw = extract(data_source)
        extract_span.set_outputs({"record_count": len(raw)})
    with tracer.start_span(name="transform") as transform_span:
        transformed = convert_currency(clean(raw))
        transform_span.set_outputs({"transformed_count": len(transformed)})
    with tracer.start_span(name="load", attributes={"table": "sales_usd"}) as load_span:
        for batch in range(0, len(transformed), 10):
            with tracer.start_span(name="write_batch", span_type=SpanType.TASK) as batch_span:
                pause(0.03)
                batch_span.set_outputs({"rows": len(transformed[batch : batch + 10])})
        load_span.set_outputs({"status": "success"})
    return {"rows": len(transformed), "destination": "warehouse.sales_usd"}


def main() -> None:
    print(process_data_pipeline("s3://bucket/sales/2026-11-25.csv"))


if __name__ == "__main__":
    main()

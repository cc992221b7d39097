"""A run that fails: a parser error deep in the call stack, re-raised up to the root."""

from __future__ import annotations

import json

import tracer
from sample_runs._pace import pause
from tracer import SpanType


@tracer.trace(span_type=SpanType.PARSER)
def parse_invoice(raw: str) -> dict[str, object]:
    pause(0.05)
    return json.loads(raw)


@tracer.trace(span_type=SpanType.TASK)
def total(invoice: dict[str, object]) -> float:
    return sum(float(line["price"]) * int(line["qty"]) for line in invoice["lines"])  # type: ignore[index,union-attr]


@tracer.trace(span_type=SpanType.WORKFLOW)
def process_invoice(raw: str) -> float:
    invoice = parse_invoice(raw)
    return total(invoice)


def main() -> None:
    print(process_invoice('{"lines": [{"price": "9.90", "qty": 2}]}'))
    try:
        process_invoice('{"lines": [{"price": "9.90", "qty": 2}, {"price": 3.5 "qty": 1}]}')
    except json.JSONDecodeError as exc:
        print("failed as expected:", exc)


if __name__ == "__main__":
    main()

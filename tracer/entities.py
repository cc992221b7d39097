"""MLflow-compatible home of the span entities, so ``from tracer.entities import SpanType`` works as
``from mlflow.entities import SpanType`` does in MLflow's guides."""

from __future__ import annotations

from tracer.span import LiveSpan, SpanEvent, SpanStatus, SpanStatusCode, SpanType

__all__ = ["LiveSpan", "SpanEvent", "SpanStatus", "SpanStatusCode", "SpanType"]

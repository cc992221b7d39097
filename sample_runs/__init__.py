"""Instrumented example programs and the trace files they recorded.

Each module is a small, realistic program traced with `tracer`; the ``.jsonl`` files beside them are
real recordings of those programs. ``python -m sample_runs.record`` records them again;
``tracetui watch sample_runs`` opens them; ``tracetui demo`` replays the agent live.
"""

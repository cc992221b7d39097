"""Write a synthetic trace directory at a given scale, for the index benchmark (bench/index_bench.py).

    python bench/make_traces.py --out /tmp/bench-traces                      # 100,000 traces x 10 spans
    python bench/make_traces.py --traces 2000 --spans-per-trace 10 --out /tmp/small

Each trace is an agent run: a root AGENT span over a retriever, chat-model calls (prompts and completions
of a few hundred bytes to a few KB), tool calls (inputs and outputs), a parser and a guardrail. About 5%
of the traces fail in a tool with an exception event and its traceback (half of those fail the root
too); about 10% stream their last model call as chunk events; about 30% carry tags/metadata through a
trace_update record. Records are written in the order the SDK writes them (a span's start when it opens,
its end when it closes, the summary after the root's end), with the schema's own `encode_*` functions,
into segment files named as the SDK names them (`<UTC ts>-<host>-<pid>-<seq>.jsonl`, rotated past
`--file-mb`, each starting with a process record). Several simulated processes write one after the
other. Files are generated in parallel (one worker per core); the output is deterministic for a seed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracer import schema

HOST = "bench-host"
BASE_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
TRACE_GAP_NS = 2 * 10**9  # a trace every ~2 s: 100,000 traces cover ~2.3 days
PREVIEW_MAX_CHARS = 1000

_WORDS = (
    "the a of to and in is for that on with as it be by this are from or an at which model query "
    "result document tool agent answer user context token response request search database table "
    "customer order invoice payment shipping refund account policy section paragraph summary error "
    "value field record file index vector embedding score rank retrieve generate evaluate step plan "
    "observation thought action input output function call return status latency cost price region "
    "europe america asia weather forecast temperature report quarterly revenue growth margin product "
    "feature release version bug fix deploy cluster node service request timeout retry cache memory"
).split()
_CORPUS = ""


def _corpus(seed: int) -> str:
    global _CORPUS
    if not _CORPUS:
        rng = random.Random(seed)
        words = rng.choices(_WORDS, k=400_000)
        for i in range(0, len(words), 17):
            words[i] = words[i].capitalize()
            words[i - 1] += "."
        _CORPUS = " ".join(words)
    return _CORPUS


class _Gen:
    """Builds the records of one trace at a time (all randomness from one seeded generator)."""

    def __init__(self, seed: int, spans_per_trace: int) -> None:
        self.rng = random.Random(seed)
        self.corpus = _corpus(0)
        self.spans_per_trace = spans_per_trace

    def text(self, low: int, high: int) -> str:
        rng = self.rng
        size = rng.randint(low, high)
        start = rng.randrange(0, len(self.corpus) - size - 1)
        return self.corpus[start : start + size]

    def sid(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def location(self, qualname: str, line: int) -> dict:
        return {"file": "/srv/app/agent/pipeline.py", "line": line, "qualname": qualname}

    def trace(self, index: int) -> list[bytes]:
        rng = self.rng
        tid = f"{rng.getrandbits(128):032x}"
        now = BASE_NS + index * TRACE_GAP_NS + rng.randrange(0, TRACE_GAP_NS // 2)
        out: list[bytes] = []
        root_id = self.sid()
        question = self.text(80, 600)
        root_inputs = {"question": question, "user_id": f"u{rng.randrange(10_000)}", "session": tid[:12]}
        out.append(
            schema.encode_span_start(
                tid, root_id, None, "agent_run", "AGENT", now, root_inputs,
                {"app.version": "1.4.2"}, self.location("Agent.run", 41),
            )
        )  # fmt: skip
        fails = rng.random() < 0.05
        root_fails = fails and rng.random() < 0.5
        streams = rng.random() < 0.10
        children = self.spans_per_trace - 1
        plan = ["retrieve", *(["llm", "tool"] * ((children - 3) // 2 + 1))][: max(0, children - 2)]
        plan += ["parser", "guardrail"][: children - len(plan)]
        fail_at = rng.choice([i for i, step in enumerate(plan) if step == "tool"] or [-1]) if fails else -1
        last_llm = max((i for i, step in enumerate(plan) if step == "llm"), default=-1)
        errors = 0
        for i, step in enumerate(plan):
            now += rng.randrange(100_000, 2_000_000)
            span_id = self.sid()
            events: list[bytes] = []
            status, message, attrs_end = schema.STATUS_OK, "", {}
            if step == "retrieve":
                name, kind = "retrieve_documents", "RETRIEVER"
                inputs = {"query": self.text(40, 200), "top_k": 4}
                outputs = [
                    {"id": f"doc-{rng.randrange(10**6)}", "score": round(rng.random(), 4),
                     "text": self.text(150, 700)}
                    for _ in range(4)
                ]  # fmt: skip
                attrs = {"index": "kb-main"}
                duration = rng.randrange(5, 80) * 10**6
            elif step == "llm":
                name, kind = "chat_completion", "CHAT_MODEL"
                inputs = {
                    "messages": [
                        {"role": "system", "content": self.text(200, 800)},
                        {"role": "user", "content": self.text(200, 2200)},
                    ],
                    "model": "gpt-4o-mini",
                    "temperature": 0.2,
                }
                content = self.text(150, 1800)
                outputs = {
                    "content": content,
                    "finish_reason": "stop",
                    "usage": {
                        "prompt_tokens": rng.randrange(100, 3000),
                        "completion_tokens": len(content) // 4,
                    },
                }
                attrs = {"llm.model": "gpt-4o-mini", "llm.provider": "openai"}
                duration = rng.randrange(300, 4000) * 10**6
                if streams and i == last_llm:
                    at = now
                    pieces = [content[j : j + 40] for j in range(0, len(content), 40)]
                    for n, piece in enumerate(pieces):
                        at += rng.randrange(5, 40) * 10**6
                        events.append(
                            schema.encode_span_event(
                                tid,
                                span_id,
                                f"{schema.CHUNK_EVENT_PREFIX}{n}",
                                at,
                                {schema.CHUNK_VALUE: piece},
                            )
                        )
                    outputs = content
                    duration = at - now + 10**6
            elif step == "tool":
                name = rng.choice(("search_web", "run_sql", "call_api", "read_file"))
                kind = "TOOL"
                inputs = {"args": {"q": self.text(20, 300)}, "timeout_s": 30}
                outputs = {"result": self.text(100, 2100), "rows": rng.randrange(0, 50)}
                attrs = {"tool.name": name}
                duration = rng.randrange(10, 900) * 10**6
                if i == fail_at:
                    status = schema.STATUS_ERROR
                    message = f"TimeoutError: {name} did not answer within 30 s"
                    outputs = None
                    frames = "".join(
                        f'  File "/srv/app/agent/tools.py", line {rng.randrange(10, 900)}, in step_{k}\n'
                        f"    {self.text(30, 90)}\n"
                        for k in range(rng.randrange(6, 18))
                    )
                    events.append(
                        schema.encode_span_event(
                            tid, span_id, schema.EXCEPTION_EVENT, now + duration,
                            {
                                schema.EXCEPTION_TYPE: "TimeoutError",
                                schema.EXCEPTION_MESSAGE: message[14:],
                                schema.EXCEPTION_STACKTRACE: "Traceback (most recent call last):\n"
                                + frames + f"TimeoutError: {message[14:]}\n",
                            },
                        )
                    )  # fmt: skip
                    errors += 1
            elif step == "parser":
                name, kind = "parse_answer", "PARSER"
                inputs = {"text": self.text(50, 400)}
                outputs = {"answer": self.text(50, 400), "citations": [1, 3]}
                attrs = {}
                duration = rng.randrange(1, 5) * 10**6
            else:
                name, kind = "check_policy", "GUARDRAIL"
                inputs = {"answer": self.text(50, 300)}
                outputs = {"allowed": True, "categories": []}
                attrs = {"policy": "default"}
                duration = rng.randrange(1, 50) * 10**6
            out.append(
                schema.encode_span_start(
                    tid, span_id, root_id, name, kind, now, inputs, attrs, self.location(name, 100 + i)
                )
            )
            out.extend(events)
            now += duration
            out.append(schema.encode_span_end(tid, span_id, now, status, message, outputs, attrs_end))
            if status == schema.STATUS_ERROR and root_fails:
                break
        tags: dict = {}
        metadata: dict = {}
        if rng.random() < 0.3:
            tags = {"env": rng.choice(("prod", "staging")), "customer": f"c{rng.randrange(500)}"}
            metadata = {"request_id": f"req-{rng.getrandbits(48):012x}"}
            out.append(schema.encode_trace_update(tid, {schema.TAGS: tags, schema.METADATA: metadata}))
        now += rng.randrange(1, 5) * 10**6
        if root_fails:
            status, message, outputs = schema.STATUS_ERROR, "TimeoutError: tool step failed", None
            errors += 1
        else:
            status, message, outputs = schema.STATUS_OK, "", {"answer": self.text(200, 1500)}
        out.append(schema.encode_span_end(tid, root_id, now, status, message, outputs, {}))
        start_ns = BASE_NS + index * TRACE_GAP_NS
        out.append(
            schema.encode_trace_summary(
                tid,
                root_span_id=root_id,
                name="agent_run",
                status=status,
                start_ns=start_ns,
                end_ns=now,
                span_count=sum(1 for b in out if b.startswith(b'{"kind":"span_start"')),
                error_count=errors,
                request_preview=_preview(root_inputs),
                response_preview=_preview(outputs),
                tags=tags,
                metadata=metadata,
            )
        )
        return out


def _preview(value: object) -> str | None:
    if value is None:
        return None
    import orjson

    text = orjson.dumps(value).decode()
    return text if len(text) <= PREVIEW_MAX_CHARS else text[: PREVIEW_MAX_CHARS - 3] + "..."


def _write_file(job: tuple[str, int, int, int, int, int, int, int]) -> tuple[str, int, int, int]:
    """Write traces [first, last) into one segment file; (name, bytes, spans, lines)."""
    out_dir, seed, spans_per_trace, first, last, pid, seq, proc_start_ns = job
    gen = _Gen(seed * 1_000_003 + first, spans_per_trace)
    stamp_ns = BASE_NS + first * TRACE_GAP_NS
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(stamp_ns / 1e9))
    name = f"{stamp}-{HOST}-{pid}-{seq:03d}{schema.FILE_SUFFIX}"
    header = schema.encode_process(
        pid=pid,
        host=HOST,
        argv=["agent_server.py", "--workers", "1"],
        python="3.11.7",
        tracer_version="0.1.0",
        start_ns=proc_start_ns,
    )
    size = spans = lines = 0
    with open(os.path.join(out_dir, name), "wb", buffering=0) as handle:
        handle.write(header)
        size += len(header)
        lines += 1
        batch: list[bytes] = []
        for index in range(first, last):
            records = gen.trace(index)
            batch.extend(records)
            lines += len(records)
            spans += sum(1 for r in records if r.startswith(b'{"kind":"span_start"'))
            if len(batch) > 4000:
                data = b"".join(batch)
                handle.write(data)
                size += len(data)
                batch.clear()
        data = b"".join(batch)
        handle.write(data)
        size += len(data)
    return name, size, spans, lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--spans-per-trace", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-traces"))
    parser.add_argument("--file-mb", type=float, default=64.0, help="segment size (MiB), as the SDK rotates")
    parser.add_argument("--files-per-process", type=int, default=8, help="segments before a new pid")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--force", action="store_true", help="replace --out if it holds .jsonl files")
    args = parser.parse_args()
    if args.spans_per_trace < 1:
        parser.error("--spans-per-trace must be at least 1")

    out: Path = args.out
    if out.exists() and any(out.glob("*.jsonl")):
        if not args.force:
            parser.error(f"{out} already holds trace files (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)

    began = time.perf_counter()
    # Calibrate: how many traces fill one segment file.
    sample = _Gen(args.seed, args.spans_per_trace)
    per_trace = sum(len(b) for i in range(300) for b in sample.trace(i)) / 300
    per_file = max(1, int(args.file_mb * 2**20 / per_trace))
    jobs = []
    for n, first in enumerate(range(0, args.traces, per_file)):
        pid = 4000 + 37 * (n // args.files_per_process)
        seq = n % args.files_per_process + 1
        proc_start = BASE_NS + (n - n % args.files_per_process) * per_file * TRACE_GAP_NS - 10**9
        last = min(args.traces, first + per_file)
        jobs.append((str(out), args.seed, args.spans_per_trace, first, last, pid, seq, proc_start))
    total_bytes = total_spans = total_lines = 0
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for name, size, spans, lines in pool.map(_write_file, jobs):
            total_bytes += size
            total_spans += spans
            total_lines += lines
            print(f"  {name}  {size / 2**20:7.1f} MiB  {spans:>9,} spans", flush=True)
    elapsed = time.perf_counter() - began
    print(
        f"wrote {out}: {len(jobs)} files, {total_bytes:,} bytes ({total_bytes / 1e9:.2f} GB), "
        f"{args.traces:,} traces, {total_spans:,} spans, {total_lines:,} records in {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main()

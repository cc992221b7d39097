"""The `tracetui` command: thin typer commands over the trace store and the viewer.

Heavy imports (Textual, Rich rendering) happen inside the commands that need them, so `tracetui ls
--json` stays quick to start.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import orjson
import typer

from tracer.config import DEFAULT_DIR, ENV_DIR

app = typer.Typer(
    name="tracetui",
    help="Watch and inspect traces written by the `tracer` SDK.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def default_dir() -> Path:
    """$TRACETUI_DIR, else ./traces — the same default the SDK writes to."""
    return Path(os.environ.get(ENV_DIR) or DEFAULT_DIR)


DirOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on Python 3.10
    typer.Option("--dir", "-d", help="Trace directory (default: $TRACETUI_DIR, else ./traces)."),
]


def _resolve_dir(positional: Path | None, option: Path | None) -> Path:
    return positional or option or default_dir()


# orjson reads JSON nested up to 1,024 levels but writes at most 255: deeper parts of a value read from a
# trace file are printed as this marker instead of failing the whole command.
_MAX_JSON_DEPTH = 200
_TOO_DEEP = "…[tracetui: nested too deep to print]"


def _limit_depth(value: object, depth: int = 0) -> object:
    if isinstance(value, dict):
        if depth >= _MAX_JSON_DEPTH:
            return _TOO_DEEP
        return {key: _limit_depth(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        if depth >= _MAX_JSON_DEPTH:
            return _TOO_DEEP
        return [_limit_depth(item, depth + 1) for item in value]
    return value


def _print_json(value: object) -> None:
    options = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    try:
        data = orjson.dumps(value, option=options)
    except TypeError:  # "Recursion limit reached": a value nested deeper than orjson writes
        data = orjson.dumps(_limit_depth(value), option=options)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"tracetui: {message}", err=True)
    return typer.Exit(code=1)


@app.command("ls")
def ls_command(
    directory: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="Trace directory or file (default: $TRACETUI_DIR, else ./traces)."),
    ] = None,
    dir_option: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """List traces, newest first."""
    from tui.index import open_store

    path = _resolve_dir(directory, dir_option)
    store, _ = open_store(path)
    summaries = store.summaries()
    if as_json:
        # The index keeps previews cut for the list; JSON consumers get them whole.
        full = (store.full_summary(summary.trace_id) or summary for summary in summaries)
        _print_json([summary.to_json() for summary in full])
    else:
        from tui.render import print_trace_list

        print_trace_list(summaries, store)
    _report_skipped(store)


@app.command("show")
def show_command(
    trace_id: Annotated[str, typer.Argument(help="Trace id, or a unique prefix of one.")],
    dir_option: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the trace as JSON.")] = False,
) -> None:
    """Print one trace: its span tree, inputs, outputs, events and tracebacks."""
    from tui.index import open_store

    path = _resolve_dir(None, dir_option)
    store, _ = open_store(path)
    matches = store.find(trace_id)
    if not matches:
        raise _fail(f"no trace with id {trace_id!r} in {path}")
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:5])
        raise _fail(f"{trace_id!r} is ambiguous: {len(matches)} traces match ({shown}, …)")
    trace = store.get(matches[0])
    assert trace is not None
    if as_json:
        _print_json(trace.to_json())
    else:
        from tui.render import print_trace

        print_trace(trace)
    _report_skipped(store)


@app.command("prune")
def prune_command(
    directory: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="Trace directory (default: $TRACETUI_DIR, else ./traces)."),
    ] = None,
    dir_option: DirOption = None,
    older_than: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--older-than", help="Delete files last written longer ago than this (30m, 12h, 7d, 2w)."
        ),
    ] = None,
    max_size: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--max-size", help="Delete the oldest files until the rest fit (500MB, 2GB, 1.5GiB)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be deleted.")] = False,
) -> None:
    """Delete whole old trace files; never one a live writer may still hold open."""
    from tui.prune import PruneError, run

    try:
        code = run(
            _resolve_dir(directory, dir_option),
            older_than=older_than,
            max_size=max_size,
            dry_run=dry_run,
            echo=typer.echo,
        )
    except PruneError as exc:
        raise _fail(str(exc))
    raise typer.Exit(code)


@app.command("watch")
def watch_command(
    directory: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="Trace directory or file (default: $TRACETUI_DIR, else ./traces)."),
    ] = None,
    dir_option: DirOption = None,
    poll: Annotated[
        bool, typer.Option("--poll", help="Poll for changes instead of using filesystem events.")
    ] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep the newest trace selected.")] = False,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Neither read nor write the index kept next to the data.")
    ] = False,
) -> None:
    """Open the live viewer on a trace directory (waits for it to appear if it does not exist yet)."""
    from tui.app import make_app

    make_app(_resolve_dir(directory, dir_option), poll=poll, follow=follow, use_index=not no_index).run()


@app.command("demo")
def demo_command(
    pace: Annotated[float, typer.Option(help="Pause factor of the demo program (2 = twice as slow).")] = 1.0,
) -> None:
    """Record a realistic sample run into a temporary directory while showing it live."""
    import subprocess
    import tempfile

    from tui.app import make_app

    with tempfile.TemporaryDirectory(prefix="tracetui-demo-") as tmp:
        env = {**os.environ, ENV_DIR: tmp, "SAMPLE_PACE": str(pace)}
        program = subprocess.Popen(
            [sys.executable, "-m", "sample_runs.demo", "--loop"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            make_app(Path(tmp), follow=True).run()
        finally:
            program.terminate()
            try:
                program.wait(timeout=5)
            except subprocess.TimeoutExpired:
                program.kill()


def _report_skipped(store: object) -> None:
    skipped = getattr(store, "lines_skipped", 0)
    first = getattr(store, "first_skipped", None)
    if skipped and first is not None:
        typer.echo(
            f"tracetui: skipped {skipped} malformed line(s); first at {first.source}:{first.line} "
            f"({first.reason})",
            err=True,
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()

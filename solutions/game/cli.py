"""The plugin's edges: read the request, answer with one result; and the `record` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from . import golden, options
from .golden import GoldenError
from .options import OptionError
from .replay import InputError, read_inputs, run_game, write_inputs

BEGIN = "----- BEGIN plugin_result/v1 -----"
END = "----- END plugin_result/v1 -----"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
OUT_ENV = "ORCH_PLUGIN_OUT"
"""Directory for the plugin's files (plot, frames, SARIF); the engine copies listed artifacts to the run."""


def version() -> str:
    data: dict[str, Any] = json.loads(Path(__file__).with_name("plugin.json").read_text(encoding="utf-8"))
    return str(data["version"])


def out_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get(OUT_ENV):
        return Path(os.environ[OUT_ENV])
    return Path(tempfile.gettempdir()) / "game-plugin"


def task_file(request: dict[str, Any]) -> str:
    return f"taskpacks/{request.get('task', {}).get('id', 'unknown')}/task.yml"


def error_result(message: str) -> dict[str, Any]:
    return {
        "schema": "plugin_result/v1",
        "name": "game",
        "version": version(),
        "status": "error",
        "summary": message[:2000],
        "findings": [],
        "metrics": {},
    }


def emit(result: dict[str, Any], stream: TextIO) -> None:
    stream.write(f"{BEGIN}\n{json.dumps(result, indent=2, sort_keys=True)}\n{END}\n")
    stream.flush()


def plugin_main(argv: list[str], stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Reads plugin_request/v1 on stdin, prints plugin_result/v1. Bad options: a located error, exit 2."""
    parser = argparse.ArgumentParser(
        prog="plugin.py", description="The game plugin (reads plugin_request/v1)."
    )
    parser.add_argument("--out", help=f"directory for the plot, frames and SARIF (default ${OUT_ENV})")
    args = parser.parse_args(argv)
    try:
        request = json.load(stdin)
    except json.JSONDecodeError as exc:
        return fail(f"stdin:{exc.lineno}:{exc.colno}: plugin request is not JSON: {exc.msg}", stdout)
    if not isinstance(request, dict):
        return fail("stdin: plugin request is not a JSON object", stdout)
    where = task_file(request)
    from .check import Context, evaluate

    try:
        opts = options.parse(request.get("options", {}))
        ctx = Context(opts, Path(request.get("workspace") or Path.cwd()), out_dir(args.out), version(), where)
        result = evaluate(ctx)
    except (OptionError, InputError, GoldenError) as exc:
        return fail(f"{where}: {exc}", stdout)
    emit(result, stdout)
    return EXIT_OK


def fail(message: str, stdout: TextIO) -> int:
    emit(error_result(message), stdout)
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def task_options(path: Path) -> dict[str, Any]:
    import yaml

    file = path / "task.yml" if path.is_dir() else path
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise OptionError(f"{file}: cannot be read as YAML: {exc}") from None
    plugin = data.get("plugin") if isinstance(data, dict) else None
    if not isinstance(plugin, dict) or plugin.get("name") != "game":
        raise OptionError(f"{file}: plugin: is not {{name: game, options: ...}}")
    raw = plugin.get("options") or {}
    return dict(raw) if isinstance(raw, dict) else {"": raw}


def record_main(argv: list[str]) -> int:
    """`python -m solutions.game record`: replays the game and writes the golden hashes it gives."""
    parser = argparse.ArgumentParser(prog="python -m solutions.game record", description=record_main.__doc__)
    parser.add_argument(
        "--task", type=Path, help="a task pack (dir or task.yml) whose game plugin options to use"
    )
    parser.add_argument("--entry", help="package.module:factory")
    parser.add_argument("--command", nargs="+", help="argv of a headless game (put it last)")
    parser.add_argument("--replay", help="JSON Lines inputs, one line per tick")
    parser.add_argument("--ticks", type=int, help="input-free run of this many ticks")
    parser.add_argument("--seed", type=int, help="factory seed (default 0)")
    parser.add_argument("--golden", help="the golden file to write")
    parser.add_argument("--path", action="append", dest="python_path", help="import root (default src and .)")
    args = parser.parse_args(argv)
    try:
        raw = task_options(args.task) if args.task else {}
        for name in ("entry", "command", "replay", "ticks", "seed", "golden", "python_path"):
            value = getattr(args, name)
            if value is not None:
                raw[name] = value
                other = {"entry": "command", "command": "entry", "replay": "ticks", "ticks": "replay"}.get(
                    name
                )
                if other and getattr(args, other) is None:
                    raw.pop(other, None)
        opts = options.parse(raw)
        if not opts.golden:
            raise OptionError(
                "plugin.options.golden: say where to write it (--golden or the task pack's option)"
            )
        workspace = Path.cwd()
        inputs = read_inputs(workspace, opts)
    except (OptionError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with tempfile.TemporaryDirectory() as tmp:
        inputs_file = write_inputs(inputs, Path(tmp) / "inputs.jsonl")
        first, second = (
            run_game(opts, workspace, inputs_file, len(inputs), seed) for seed in opts.hash_seeds[:2]
        )
    for trace in (first, second):
        if trace.error:
            print(f"error: the game stopped at tick {trace.error_tick}: {trace.error}", file=sys.stderr)
            return EXIT_FAILED
    if first.hashes != second.hashes:
        tick = next(t for t, (a, b) in enumerate(zip(first.hashes, second.hashes, strict=True)) if a != b)
        print(
            f"error: not recorded: PYTHONHASHSEED={first.hash_seed} and {second.hash_seed} differ from tick "
            f"{tick}; a golden of a nondeterministic game would not hold",
            file=sys.stderr,
        )
        return EXIT_FAILED
    golden.write(workspace / opts.golden, golden.Golden(opts.seed, first.hashes, opts.replay))
    print(f"recorded {len(first.hashes)} tick hashes (ticks 0..{len(first.hashes) - 1}) to {opts.golden}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["record"]:
        return record_main(argv[1:])
    print(
        "usage: python -m solutions.game record [--task PACK] [--entry M:F | --command ...] "
        "[--replay FILE | --ticks N] [--seed N] --golden FILE",
        file=sys.stderr,
    )
    return EXIT_BAD_INPUT

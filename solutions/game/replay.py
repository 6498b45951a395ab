"""Runs a game once over the recorded inputs, in its own process, and reads the tick protocol back.

Both ways of connecting a game end in the same lines on stdout, one per tick, ticks from 0:
`{"tick": n, "state_hash": "...", "ms": 1.25}`. An `entry` game is driven by runner.py in a
fresh interpreter; a `command` game prints them itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .options import Options

RUNNER = Path(__file__).with_name("runner.py")
TAIL_CHARS = 2000


class InputError(Exception):
    """The inputs cannot be read (replay file missing or not JSON Lines); the message is located."""


@dataclass(frozen=True)
class Trace:
    """What one run of the game said, tick by tick."""

    hash_seed: int
    hashes: tuple[str, ...]
    ms: tuple[float, ...]
    source: str | None = None
    error: str | None = None
    """Why the run stopped early (the game raised, hung, broke the protocol); None for a full run."""
    error_tick: int | None = None
    error_file: str | None = None
    error_line: int | None = None
    log: str = ""
    states: dict[int, Any] = field(default_factory=dict)
    """Snapshots a command game sent along (`"state"` in its lines), by tick."""


def read_inputs(workspace: Path, options: Options) -> list[str]:
    """One JSON text per tick. A replay is checked line by line, so a bad line is named."""
    if options.replay is None:
        return ["null"] * (options.ticks or 0)
    path = workspace / options.replay
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"plugin.options.replay: {options.replay} does not exist in the workspace") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"plugin.options.replay: {options.replay} cannot be read: {exc}") from None
    lines = text.splitlines()
    if not lines:
        raise InputError(f"{options.replay}: empty replay (one JSON value per tick expected)")
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{options.replay}:{number}:{exc.colno}: tick {number - 1}: not JSON: {exc.msg}"
            ) from None
        out.append(json.dumps(value, sort_keys=True, separators=(",", ":")))
    return out


def write_inputs(inputs: list[str], path: Path) -> Path:
    path.write_text("".join(line + "\n" for line in inputs), encoding="utf-8")
    return path


def command_argv(options: Options, inputs_file: Path, ticks: int) -> list[str]:
    values = {"inputs": str(inputs_file), "seed": str(options.seed), "ticks": str(ticks)}
    out = []
    for arg in options.command or ():
        for name, value in values.items():
            arg = arg.replace("{" + name + "}", value)
        out.append(arg)
    return out


def entry_argv(
    options: Options, inputs_file: Path, detail: tuple[int, ...] = (), out: Path | None = None
) -> list[str]:
    argv = [
        sys.executable,
        "-s",
        str(RUNNER),
        "--entry",
        options.entry or "",
        "--seed",
        str(options.seed),
        "--inputs",
        str(inputs_file),
    ]
    for root in options.python_path:
        argv += ["--path", root]
    if detail:
        argv += ["--detail", ",".join(str(t) for t in detail), "--out", str(out)]
    return argv


def parse_lines(stdout: str, hash_seed: int, log: str) -> Trace:
    """Reads the tick protocol. Ticks must come in order from 0; other lines are the game's own log."""
    hashes: list[str] = []
    ms: list[float] = []
    states: dict[int, Any] = {}
    source = None
    for raw in stdout.splitlines():
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if not isinstance(line, dict):
            continue
        if "error" in line:
            return Trace(
                hash_seed,
                tuple(hashes),
                tuple(ms),
                source,
                str(line["error"]),
                line.get("at_tick"),
                line.get("file"),
                line.get("line"),
                log,
                states,
            )
        if "source" in line and "tick" not in line:
            source = str(line["source"])
            continue
        if "tick" not in line:
            continue
        tick, digest, took = line.get("tick"), line.get("state_hash"), line.get("ms")
        expected = len(hashes)
        if (
            tick != expected
            or not isinstance(digest, str)
            or not digest
            or isinstance(took, bool)
            or not isinstance(took, int | float)
        ):
            shape = '{"tick": ' + str(expected) + ', "state_hash": "...", "ms": <number>}'
            problem = f"protocol: expected {shape}, got {raw[:200]}"
            return Trace(
                hash_seed, tuple(hashes), tuple(ms), source, problem, expected, log=log, states=states
            )
        hashes.append(digest)
        ms.append(float(took))
        if "state" in line:
            states[tick] = line["state"]
    return Trace(hash_seed, tuple(hashes), tuple(ms), source, log=log, states=states)


def run_once(
    argv: list[str],
    workspace: Path,
    hash_seed: int,
    timeout: float,
    expected_ticks: int,
    extra_env: dict[str, str] | None = None,
) -> Trace:
    env = dict(os.environ) | (extra_env or {})
    env |= {
        "PYTHONHASHSEED": str(hash_seed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
    }
    try:
        done = subprocess.run(
            argv,
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        trace = parse_lines(out, hash_seed, "")
        return Trace(
            hash_seed,
            trace.hashes,
            trace.ms,
            trace.source,
            f"still running after {timeout:g} s",
            len(trace.hashes),
            log="",
        )
    except OSError as exc:
        return Trace(hash_seed, (), (), error=f"cannot start {argv[0]}: {exc.strerror}", error_tick=0)
    log = done.stderr[-TAIL_CHARS:]
    trace = parse_lines(done.stdout, hash_seed, log)
    if trace.error is None and done.returncode != 0:
        last = next((ln for ln in reversed(done.stderr.splitlines()) if ln.strip()), "no output")
        return Trace(
            hash_seed,
            trace.hashes,
            trace.ms,
            trace.source,
            f"exit {done.returncode}: {last[:300]}",
            len(trace.hashes),
            log=log,
            states=trace.states,
        )
    if trace.error is None and len(trace.hashes) != expected_ticks:
        return Trace(
            hash_seed,
            trace.hashes,
            trace.ms,
            trace.source,
            f"printed {len(trace.hashes)} tick(s), the inputs have {expected_ticks}",
            len(trace.hashes),
            log=log,
            states=trace.states,
        )
    return trace


def run_game(options: Options, workspace: Path, inputs_file: Path, ticks: int, hash_seed: int) -> Trace:
    argv = command_argv(options, inputs_file, ticks) if options.command else entry_argv(options, inputs_file)
    env = {"GAME_INPUTS": str(inputs_file), "GAME_SEED": str(options.seed), "GAME_TICKS": str(ticks)}
    return run_once(argv, workspace, hash_seed, options.run_timeout_seconds, ticks, env)


def detail_run(
    options: Options, workspace: Path, inputs_file: Path, hash_seed: int, ticks: tuple[int, ...], out: Path
) -> tuple[dict[int, Any], dict[int, Path]]:
    """Runs an entry game again up to the last of `ticks`, keeping those ticks' snapshots and frames."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    argv = entry_argv(options, inputs_file, ticks, out)
    run_once(argv, workspace, hash_seed, options.run_timeout_seconds, max(ticks) + 1)
    states = {
        t: json.loads((out / f"state-{t}.json").read_text(encoding="utf-8"))
        for t in ticks
        if (out / f"state-{t}.json").is_file()
    }
    frames = {t: out / f"frame-{t}.npy" for t in ticks if (out / f"frame-{t}.npy").is_file()}
    return states, frames

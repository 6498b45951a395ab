"""Drives one `entry` game for one replay, in a fresh interpreter: the tick protocol's Python side.

    python runner.py --entry arena.game:make --seed 7 --inputs inputs.jsonl --path src [--detail 36,37]

It imports `factory` from the workspace, calls `factory(seed)`, then for every line of the
inputs file (tick 0 first) calls `step(inputs)` and prints one line on stdout:

    {"tick": 0, "state_hash": "<sha256 of the canonical snapshot>", "ms": 0.412}

the same line a `command` game prints (see README.md). `ms` times `step()` alone. With
`--detail`, the listed ticks' snapshots (and frames, when the game has `render()`) are
written to `--out` for the divergence report.

This file is standard library only (numpy is imported only to save frames) and imports
nothing from its own directory, so a module of the game can never be shadowed by it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

GAME_FAILURES: tuple[type[Exception], ...] = (Exception,)
"""Whatever the game's code raises is reported as data (the tick, the message, the file and line)."""


class SnapshotError(Exception):
    """snapshot() returned something without one canonical JSON form; the message names where."""


def canonical(value: Any, path: str = "$") -> Any:
    """The snapshot as plain JSON data: tuples become lists, keys strings; sets and NaN are refused."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SnapshotError(f"{path}: {value!r} has no JSON form")
        return float(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise SnapshotError(f"{path}: key {key!r} is not a string or number")
            name = json.dumps(key) if not isinstance(key, str) else key
            out[name] = canonical(item, f"{path}.{name}")
        return out
    if isinstance(value, list | tuple):
        return [canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        raise SnapshotError(f"{path}: a set has no order; return sorted(...) instead")
    raise SnapshotError(f"{path}: {type(value).__name__} is not JSON data")


def canonical_json(value: Any) -> str:
    return json.dumps(
        canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def state_hash(value: Any) -> str:
    """sha256 of the canonical JSON of a snapshot, as `sha256:<hex>`: the hash runs and golden files compare.

    The algorithm prefix keeps a golden file from reading as a list of high-entropy secrets to a scanner.
    """
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def load_factory(entry: str, roots: list[str]) -> tuple[Any, str | None]:
    module_name, _, attr = entry.partition(":")
    for root in reversed(roots):
        sys.path.insert(0, str(Path(root).resolve()))
    module = importlib.import_module(module_name)
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part)
    try:
        source = inspect.getsourcefile(factory) or getattr(module, "__file__", None)
    except TypeError:
        source = getattr(module, "__file__", None)
    if source:
        try:
            source = Path(source).resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            source = None
    return factory, source


def save_frame(game: Any, out: Path, tick: int) -> None:
    """Saves render()'s RGB array (or a pygame Surface) for the frame strip; never stops the replay."""
    render = getattr(game, "render", None)
    if not callable(render):
        return
    try:
        import numpy

        frame = render()
        if hasattr(frame, "get_size"):  # a pygame Surface
            import pygame

            frame = pygame.surfarray.array3d(frame).swapaxes(0, 1)
        array = numpy.asarray(frame, dtype=numpy.uint8)
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"render() gave shape {array.shape}, expected (height, width, 3)")
        numpy.save(out / f"frame-{tick}.npy", array)
    except GAME_FAILURES as exc:  # a picture never stops the replay
        print(f"no frame for tick {tick}: {type(exc).__name__}: {exc}", file=sys.stderr)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--inputs", required=True, type=Path)
    parser.add_argument("--path", action="append", default=[])
    parser.add_argument("--detail", default="")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    detail = {int(t) for t in args.detail.split(",") if t}
    # The protocol owns stdout; whatever the game prints goes to stderr.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    tick = -1
    try:
        factory, source = load_factory(args.entry, args.path)
        if source:
            proto.write(json.dumps({"source": source}) + "\n")
        game = factory(args.seed)
        with args.inputs.open(encoding="utf-8") as lines:
            for tick, line in enumerate(lines):
                inputs = json.loads(line)
                start = time.perf_counter()
                game.step(inputs)
                ms = (time.perf_counter() - start) * 1000.0
                snapshot = game.snapshot()
                proto.write(
                    json.dumps({"tick": tick, "state_hash": state_hash(snapshot), "ms": round(ms, 4)}) + "\n"
                )
                if tick in detail and args.out is not None:
                    (args.out / f"state-{tick}.json").write_text(canonical_json(snapshot), encoding="utf-8")
                    save_frame(game, args.out, tick)
                if detail and tick >= max(detail):
                    break
    except GAME_FAILURES as exc:  # the game's own failure is the finding, reported as data
        frames = traceback.extract_tb(exc.__traceback__)
        where = next((f for f in reversed(frames) if f.filename != __file__), None)
        report = {"error": f"{type(exc).__name__}: {exc}", "at_tick": tick if tick >= 0 else None}
        if where is not None:
            report |= {"file": where.filename, "line": where.lineno}
        proto.write(json.dumps(report) + "\n")
        traceback.print_exc()
        return 1
    finally:
        proto.flush()
    return 0


if __name__ == "__main__":
    # Run as a script: drop this file's directory from the import path before the game is imported.
    sys.path.pop(0)
    sys.exit(main(sys.argv[1:]))

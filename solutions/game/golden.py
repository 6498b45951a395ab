"""Golden replay files: the per-tick state hashes of a known-good run, committed beside the replay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SCHEMA = "game_golden/v1"


class GoldenError(Exception):
    """The golden file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Golden:
    seed: int
    hashes: tuple[str, ...]
    inputs: str | None


def render(golden: Golden) -> str:
    """The file's text: stable key order, one hash a line, so a re-record reviews as a plain diff."""
    data = {
        "schema": SCHEMA,
        "seed": golden.seed,
        "ticks": len(golden.hashes),
        "inputs": golden.inputs,
        "hashes": list(golden.hashes),
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def line_of(tick: int) -> int:
    """The line of a tick's hash in a rendered golden file ("hashes" sorts first: `{`, `"hashes": [`)."""
    return tick + 3


def load(path: Path, shown: str) -> Golden:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoldenError(
            f"plugin.options.golden: {shown} does not exist (record it with "
            "`python -m solutions.game record`)"
        ) from None
    except json.JSONDecodeError as exc:
        raise GoldenError(f"{shown}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenError(f"{shown}: cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise GoldenError(f"{shown}: not a golden file (schema must be {SCHEMA!r})")
    hashes = data.get("hashes")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise GoldenError(f"{shown}: hashes: must be a list of strings")
    seed = data.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise GoldenError(f"{shown}: seed: must be an integer")
    inputs = data.get("inputs")
    return Golden(seed, tuple(hashes), inputs if isinstance(inputs, str) else None)


def write(path: Path, golden: Golden) -> None:
    """Atomic: a temp file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(render(golden), encoding="utf-8")
    temp.replace(path)

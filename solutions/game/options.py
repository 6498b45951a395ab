"""The plugin's options: checked against options.schema.json, then read into one typed value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema

SCHEMA_FILE = Path(__file__).with_name("options.schema.json")
PAIRS = (("entry", "command"), ("replay", "ticks"))


class OptionError(Exception):
    """A bad option; the message starts with where it is (`plugin.options.<name>`)."""


@dataclass(frozen=True)
class Options:
    entry: str | None
    command: tuple[str, ...] | None
    replay: str | None
    ticks: int | None
    seed: int
    golden: str | None
    tick_budget_ms: float | None
    warmup_ticks: int
    hash_seeds: tuple[int, ...]
    python_path: tuple[str, ...]
    run_timeout_seconds: float


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return data


def defaults() -> dict[str, Any]:
    return {name: spec["default"] for name, spec in schema()["properties"].items() if "default" in spec}


def where(path: list[str | int] | tuple[str | int, ...]) -> str:
    text = "plugin.options"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def relative_path(value: str, name: str) -> None:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        raise OptionError(
            f"{where([name])}: {value!r} must be a path inside the workspace, relative, without '..'"
        )


def parse(raw: Any) -> Options:
    """Validates plugin options; raises OptionError naming the first bad one."""
    if not isinstance(raw, Mapping):
        raise OptionError(f"plugin.options: must be a mapping, got {type(raw).__name__}")
    for first, second in PAIRS:
        if first in raw and second in raw:
            raise OptionError(f"{where([second])}: give {first} or {second}, not both")
        if first not in raw and second not in raw:
            raise OptionError(f"plugin.options: one of {first} or {second} is required")
    errors = sorted(
        jsonschema.Draft202012Validator(schema()).iter_errors(dict(raw)), key=lambda e: list(e.path)
    )
    if errors:
        error = errors[0]
        raise OptionError(f"{where(list(error.path))}: {error.message}")
    for name in ("replay", "golden"):
        if name in raw:
            relative_path(raw[name], name)
    for index, entry in enumerate(raw.get("python_path", [])):
        relative_path(entry, f"python_path[{index}]")
    data = defaults() | dict(raw)
    return Options(
        entry=data.get("entry"),
        command=tuple(data["command"]) if "command" in data else None,
        replay=data.get("replay"),
        ticks=data.get("ticks"),
        seed=data["seed"],
        golden=data.get("golden"),
        tick_budget_ms=float(data["tick_budget_ms"]) if "tick_budget_ms" in data else None,
        warmup_ticks=data["warmup_ticks"],
        hash_seeds=tuple(data["hash_seeds"]),
        python_path=tuple(data["python_path"]),
        run_timeout_seconds=float(data["run_timeout_seconds"]),
    )

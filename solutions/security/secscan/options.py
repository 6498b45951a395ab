"""The plugin's options, checked against options.schema.json (the same file the engine's validate reads)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secscan.model import Check, Level

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "options.schema.json"


class OptionError(Exception):
    """A located problem with the task pack's plugin options."""


@dataclass(frozen=True)
class Options:
    fail_on: Level | None
    """None: never fail."""
    checks: tuple[Check, ...]
    exclude: tuple[str, ...]
    rules: tuple[str, ...]
    baseline: bool
    osv_url: str
    require_all: bool
    max_file_bytes: int


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def located(error: Any) -> str:
    where = "plugin.options" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
    )
    return f"{where}: {error.message}"


def parse(raw: Any) -> Options:
    """Options with defaults applied; the first problem (in path order) raises OptionError."""
    from jsonschema import Draft202012Validator

    document = schema()
    errors = sorted(
        Draft202012Validator(document).iter_errors(raw), key=lambda e: list(map(str, e.absolute_path))
    )
    if errors:
        raise OptionError(located(errors[0]))
    defaults = {name: spec["default"] for name, spec in document["properties"].items()}
    value = {**defaults, **raw}
    return Options(
        fail_on=None if value["fail_on"] == "never" else Level(value["fail_on"]),
        checks=tuple(Check(c) for c in value["tools"]),
        exclude=tuple(value["exclude"]),
        rules=tuple(value["rules"]),
        baseline=value["baseline"] == "base",
        osv_url=value["osv_url"].rstrip("/"),
        require_all=bool(value["require_all"]),
        max_file_bytes=int(value["max_file_bytes"]),
    )

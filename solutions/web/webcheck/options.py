"""Options: validated against the schema the plugin ships, turned into typed Options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .model import CheckName, Options

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "options.schema.json"


class BadOptions(ValueError):
    """An option is wrong; the message says which one and why."""


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def first_problem(raw: Any) -> str | None:
    """`options.<path>: <message>` for the most relevant schema error, or None when valid."""
    error = best_match(Draft202012Validator(schema()).iter_errors(raw))
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"options{where}: {error.message}"


def parse(raw: Any) -> Options:
    if raw is None:
        raw = {}
    if problem := first_problem(raw):
        raise BadOptions(problem)
    serve = raw.get("serve")
    return Options(
        root=raw.get("root", "site").strip("/") or ".",
        pages=tuple(raw.get("pages", ())),
        checks=tuple(CheckName(c) for c in raw.get("checks", [c.value for c in CheckName])),
        fail_on_impact=raw.get("fail_on_impact", "serious"),
        external_hosts=tuple(h.lower() for h in raw.get("external_hosts", ())),
        serve=tuple(serve) if isinstance(serve, list) else serve,
        url=raw.get("url"),
        serve_timeout_seconds=float(raw.get("serve_timeout_seconds", 30)),
        require_all=bool(raw.get("require_all", False)),
        baseline=raw.get("baseline", "base"),
    )

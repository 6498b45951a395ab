"""The solution plugin protocol (docs/plugins.md), as pure functions: a plugin's descriptor
(`solutions/<name>/plugin.json`), the command it runs, the `plugin_request/v1` it gets on stdin
and the `plugin_result/v1` it prints between two marker lines on stdout."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.redact import Redactor
from orchestrator.schemas import first_error

DESCRIPTOR = "plugin.json"


RESULT_BEGIN = "----- BEGIN plugin_result/v1 -----"


RESULT_END = "----- END plugin_result/v1 -----"


NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
"""The task pack's plugin name pattern: a plain directory name, never a path."""


PYTHON_NAMES = ("python", "python3")
"""entry[0] values that mean the orchestrator's own interpreter, whatever PATH holds."""


class PluginProblem(Exception):
    """The plugin could not produce a usable result; the message says why, for the manifest."""


@dataclass(frozen=True)
class Descriptor:
    """A parsed, checked plugin.json."""

    name: str
    version: str
    entry: tuple[str, ...]
    description: str
    timeout_seconds: float
    dir: Path
    options_schema: str = ""


def parse_descriptor(data: Any, plugin_dir: Path, expected_name: str) -> Descriptor:
    """Checks plugin.json field by field so a broken plugin is reported by what to fix."""
    where = f"solutions/{expected_name}/{DESCRIPTOR}"
    if not isinstance(data, dict):
        raise PluginProblem(f"{where}: must be a JSON object")
    name = data.get("name")
    if name != expected_name:
        raise PluginProblem(f"{where}: name: is {name!r}, must be {expected_name!r} (the directory name)")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise PluginProblem(f"{where}: version: must be a non-empty string")
    entry = data.get("entry")
    if not isinstance(entry, list) or not entry or not all(isinstance(a, str) and a for a in entry):
        raise PluginProblem(
            f'{where}: entry: must be a non-empty list of strings, e.g. ["python", "plugin.py"]'
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise PluginProblem(f"{where}: description: must be a string")
    timeout = data.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise PluginProblem(f"{where}: timeout_seconds: must be a positive number")
    options_schema = data.get("options_schema", "")
    if not isinstance(options_schema, str):
        raise PluginProblem(f"{where}: options_schema: must be a file name inside the plugin directory")
    return Descriptor(name, version, tuple(entry), description, float(timeout), plugin_dir, options_schema)


def resolve_argv(entry: Sequence[str], plugin_dir: Path, python: str = sys.executable) -> list[str]:
    """Makes entry runnable from the workspace: paths are relative to the plugin, not the cwd.

    `python`/`python3` first means this interpreter; a first element with a slash and any
    later element naming a file inside the plugin directory become absolute paths.
    """
    root = plugin_dir.resolve()

    def inside(arg: str) -> str | None:
        if Path(arg).is_absolute():
            return None
        candidate = (root / arg).resolve()
        if candidate.is_relative_to(root) and candidate.exists():
            return str(candidate)
        return None

    first, *rest = entry
    if first in PYTHON_NAMES:
        head = python
    elif "/" in first:
        head = inside(first) or first
    else:
        head = first
    return [head, *(inside(arg) or arg for arg in rest)]


def extract_result(output: str) -> dict[str, Any]:
    """The JSON between the last pair of marker lines; everything around it is log."""
    lines = output.splitlines()
    ends = [i for i, line in enumerate(lines) if line.strip() == RESULT_END]
    if not ends:
        raise PluginProblem(f"printed no result (no line {RESULT_END!r})")
    end = ends[-1]
    begins = [i for i, line in enumerate(lines[:end]) if line.strip() == RESULT_BEGIN]
    if not begins:
        raise PluginProblem(f"printed {RESULT_END!r} without {RESULT_BEGIN!r} before it")
    text = "\n".join(lines[begins[-1] + 1 : end])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PluginProblem(
            f"result is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(value, dict):
        raise PluginProblem("result is not a JSON object")
    return value


def check_result(result: dict[str, Any], descriptor: Descriptor) -> None:
    if problem := first_error("plugin_result.v1.json", result):
        raise PluginProblem(f"result does not match plugin_result/v1: {problem}")
    if result["name"] != descriptor.name:
        raise PluginProblem(f"result name {result['name']!r} is not the plugin's name {descriptor.name!r}")


def redact_tree(value: Any, redactor: Redactor) -> Any:
    """Redacts every string in a JSON value, so the written result never holds a known secret."""
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, list):
        return [redact_tree(v, redactor) for v in value]
    if isinstance(value, dict):
        return {redactor.redact(k): redact_tree(v, redactor) for k, v in value.items()}
    return value


def load_descriptor(plugin_dir: Path, name: str) -> Descriptor:
    try:
        data = json.loads((plugin_dir / DESCRIPTOR).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PluginProblem(
            f"solutions/{name}/{DESCRIPTOR}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginProblem(f"solutions/{name}/{DESCRIPTOR}: cannot be read: {exc}") from None
    return parse_descriptor(data, plugin_dir, name)


DEFAULT_TIMEOUT_SECONDS = 300.0
"""Artifacts read as text pass through secret redaction like every other persisted output."""

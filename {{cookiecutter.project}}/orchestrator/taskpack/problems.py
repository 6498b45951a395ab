"""Schema errors as located problems: the field a person would name, where it is, and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import cache
from typing import Any

from jsonschema.exceptions import ValidationError

from orchestrator.errors import Problem
from orchestrator.schemas import load
from orchestrator.taskpack.marks import Document, Mark, Path_, field_path, type_name
from orchestrator.taskpack.model import SCHEMA, SLUG


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0].strip()
    return head.rstrip(".")


@cache
def _schema_index() -> dict[Path_, dict[str, Any]]:
    """Subschemas by instance path (list indices as 0), for hints that quote a field's description."""
    index: dict[Path_, dict[str, Any]] = {}

    def walk(schema: Any, path: Path_) -> None:
        if not isinstance(schema, dict):
            return
        index.setdefault(path, schema)
        for key, sub in schema.get("properties", {}).items():
            walk(sub, (*path, key))
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], (*path, 0))

    walk(load(SCHEMA), ())
    return index


def _generic(path: Path_) -> Path_:
    return tuple(0 if isinstance(p, int) else p for p in path)


def _describe(path: Path_) -> str:
    schema = _schema_index().get(_generic(path), {})
    return _first_sentence(schema.get("description", ""))


def _allowed_keys(schema: Mapping[str, Any], path: Path_) -> list[str]:
    full = _schema_index().get(_generic(path), schema)
    return sorted(full.get("properties", schema.get("properties", {})))


def _at(value: Any, path: Path_) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


_TYPE_HINTS = {
    "integer": "write a whole number without quotes",
    "string": "write text; quote it if YAML reads it as something else",
    "array": "write a list: one '- item' per line, or [a, b]",
    "object": "write a mapping of 'key: value' lines",
}
_TYPE_NAMES = {"array": "a list", "object": "a mapping", "integer": "an integer", "string": "a string"}
_PATTERNS = {
    SLUG.pattern: (
        "is not a slug",
        "use lowercase letters, digits and '-', starting with a letter or digit (e.g. add-slugify)",
    ),
    "^(@[a-z][a-z0-9-]{0,30}|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?)$": (
        "is not a host name",
        (
            "write the bare host, optionally with a port (pypi.org, example.com:8443), or a preset "
            "such as @python"
        ),
    ),
    "^[A-Z_][A-Z0-9_]*$": (
        "is not an environment variable name",
        "write the variable's NAME (e.g. LOCAL_API_KEY)",
    ),
    "^https?://[^\\s]+$": ("is not an http(s) URL", "write e.g. http://127.0.0.1:8080/v1"),
    "^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$": ("is not a valid name", "use letters, digits, '_' and '-'"),
}


def problems_from_error(error: ValidationError, doc: Document, display: str) -> list[Problem]:
    """The problems one jsonschema error stands for (a `required` error names each missing key)."""
    path: Path_ = tuple(error.absolute_path)
    keyword = error.validator if isinstance(error.validator, str) else None  # None: a `false` subschema
    expected: Any = error.validator_value
    value: Any = error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    where = doc.mark(path)

    def problem(p: Path_, at: Mark, message: str, hint: str) -> Problem:
        return Problem(display, at[0], at[1], field_path(p), message, hint)

    if keyword == "required":
        found = [k for k in expected if isinstance(value, dict) and k not in value]
        out = []
        for key in found:
            desc = _describe((*path, key))
            hint = f"add '{key}:'" + (f" - {desc}" if desc else "")
            out.append(problem((*path, key), where, "is missing (required)", hint))
        return out
    if keyword == "additionalProperties":
        allowed = _allowed_keys(schema, path)
        out = []
        for key in value:
            if key in schema.get("properties", {}):
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys here: {', '.join(allowed)}"
            out.append(problem((*path, key), doc.key_mark((*path, key)), f"unknown key '{key}'", hint))
        return out
    if keyword is None:  # a `false` subschema: a key this variant does not take (jsonschema omits the key)
        parent = _at(doc.data, path)
        props = _at(load(SCHEMA), tuple(error.schema_path))
        if not isinstance(parent, dict) or not isinstance(props, dict):
            return [problem(path, where, error.message, "remove it")]
        kind = parent.get("kind")
        what = f"is not used by executor kind '{kind}'" if path == ("executor",) else "is not allowed here"
        return [
            problem((*path, key), doc.key_mark((*path, key)), what, "remove it, or change executor.kind")
            for key, sub in props.items()
            if sub is False and key in parent
        ]
    if keyword == "type":
        names: list[str] = expected if isinstance(expected, list) else [expected]
        shown = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        hint = _TYPE_HINTS.get(names[0], f"write {shown}") if len(names) == 1 else f"write {shown}"
        if path == ("plugin",):
            hint = "write a solution name (plugin: security) or a mapping {name: security, options: {...}}"
        return [problem(path, where, f"must be {shown}, not {type_name(value)}", hint)]
    if keyword == "enum":
        allowed = [str(v) for v in expected]
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"use one of: {', '.join(allowed)}"
        return [problem(path, where, f"{value!r} is not an allowed value", hint)]
    if keyword == "const":
        return [
            problem(
                path, where, f"must be '{expected}', not {value!r}", f"write {field_path(path)}: {expected}"
            )
        ]
    if keyword == "pattern":
        what, hint = _PATTERNS.get(expected, ("is not valid", f"match {expected}"))
        return [problem(path, where, f"{value!r} {what}", hint)]
    if keyword in ("minimum", "maximum"):
        word = "at least" if keyword == "minimum" else "at most"
        return [
            problem(
                path,
                where,
                f"must be {word} {expected}, not {value!r}",
                f"use a whole number {word} {expected}",
            )
        ]
    if keyword == "minItems":
        desc = _describe(path)
        return [
            problem(
                path,
                where,
                f"must have at least {expected} item{'s' if expected != 1 else ''}, has {len(value)}",
                f"add an entry ({desc})" if desc else "add an entry",
            )
        ]
    if keyword == "minLength":
        return [
            problem(path, where, "must not be empty", "write a value, or remove the key if it is optional")
        ]
    if keyword == "maxLength":
        return [problem(path, where, f"is longer than {expected} characters", "shorten it")]
    if keyword == "uniqueItems":
        return [problem(path, where, "has duplicate entries", "list each entry once")]
    return [problem(path, where, error.message, "see orchestrator/schemas/taskpack.v1.md")]

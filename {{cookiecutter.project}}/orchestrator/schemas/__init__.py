"""The JSON Schemas of the v1 contracts, compiled once per process."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

HERE = Path(__file__).parent


Json: TypeAlias = "str | int | float | bool | Mapping[str, Json] | Sequence[Json] | None"
"""A value as JSON (or YAML read as JSON) holds it: what a schema validates."""


@cache
def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((HERE / name).read_text(encoding="utf-8"))
    return schema


def first_error(name: str, value: Json) -> str | None:
    """`where: message` of the first error (by path) of `value` against schema `name`, or None.

    One line for a person: the rest are counted, not listed.
    """
    errors = sorted(validator(name).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return None
    where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {errors[0].message}{more}"


@cache
def validator(name: str) -> Validator:
    """A compiled validator for `name` (e.g. "manifest.v1.json"), with format checks on."""
    return Draft202012Validator(load(name), format_checker=Draft202012Validator.FORMAT_CHECKER)

"""The schema's defaults, filled into a valid pack (also those of the if/then branches that apply)."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from orchestrator.schemas import load
from orchestrator.taskpack.model import SCHEMA


@cache
def _if_validator(key: str) -> Validator:
    return Draft202012Validator(_branches()[key])


@cache
def _branches() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(schema: Any, where: str) -> None:
        if not isinstance(schema, dict):
            return
        for index, branch in enumerate(schema.get("allOf", [])):
            if isinstance(branch, dict) and "if" in branch:
                found[f"{where}/allOf/{index}"] = branch["if"]
        for key, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}/properties/{key}")
        walk(schema.get("items"), f"{where}/items")

    walk(load(SCHEMA), "")
    return found


def _matches(key: str, condition: dict[str, Any], value: dict[str, Any]) -> bool:
    """An `if` of the form {properties: {k: {const: v}}, required: [k]} is checked directly.

    Other conditions go to jsonschema.
    """
    props = condition.get("properties", {})
    if set(condition) <= {"properties", "required"} and all(
        isinstance(s, dict) and set(s) == {"const"} for s in props.values()
    ):
        return all(k in value for k in condition.get("required", [])) and all(
            k not in value or value[k] == s["const"] for k, s in props.items()
        )
    return bool(_if_validator(key).is_valid(value))


def apply_defaults(schema: dict[str, Any], value: Any, where: str = "") -> None:
    """Fills in the schema's `default`s (also those of matching if/then branches), in place."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if isinstance(sub, dict) and key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        for key, sub in properties.items():
            if key in value and isinstance(sub, dict):
                apply_defaults(sub, value[key], f"{where}/properties/{key}")
        for index, branch in enumerate(schema.get("allOf", [])):
            key = f"{where}/allOf/{index}"
            if isinstance(branch, dict) and "if" in branch and _matches(key, branch["if"], value):
                apply_defaults(branch.get("then", {}), value, where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(schema["items"], item, f"{where}/items")

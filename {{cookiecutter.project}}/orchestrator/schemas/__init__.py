"""The JSON Schemas of the v1 contracts, compiled once per process."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

HERE = Path(__file__).parent


@cache
def load(name: str) -> dict:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


@cache
def validator(name: str) -> Validator:
    """A compiled validator for `name` (e.g. "manifest.v1.json"), with format checks on."""
    return Draft202012Validator(load(name), format_checker=Draft202012Validator.FORMAT_CHECKER)

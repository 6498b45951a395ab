"""A task pack's plugin options, checked against the JSON Schema the plugin ships.

A plugin names its schema in plugin.json (`"options_schema": "options.schema.json"`, a file
in its directory). validate checks `plugin: {name, options}` against it when the plugin
is present in the repository, so a bad option is a located error before anything runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

Located = tuple[tuple[str | int, ...], str, str]
"""(path in the task pack, message, hint)."""


def option_problems(repo: Path, data: dict[str, Any]) -> list[Located]:
    plugin = data.get("plugin")
    if not isinstance(plugin, dict) or not isinstance(plugin.get("name"), str):
        return []
    options = plugin.get("options", {})
    name = plugin["name"]
    plugin_dir = (repo / "solutions" / name).resolve()
    try:
        descriptor = json.loads((plugin_dir / "plugin.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # no plugin here (or a broken one, which the plugin phase reports)
    schema_name = descriptor.get("options_schema") if isinstance(descriptor, dict) else None
    if not isinstance(schema_name, str) or not schema_name:
        return []
    where = f"solutions/{name}/{schema_name}"
    schema_file = (plugin_dir / schema_name).resolve()
    try:
        if not schema_file.is_relative_to(plugin_dir):
            raise OSError("outside the plugin directory")
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
        validator = Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(options), key=lambda e: [str(p) for p in e.absolute_path])
    except (OSError, ValueError, SchemaError) as exc:
        return [
            (
                ("plugin", "name"),
                f"plugin {name}'s options schema {where} cannot be used: {exc}",
                f"fix {where}",
            )
        ]
    return [
        (("plugin", "options", *error.absolute_path), error.message, f"see the options in {where}")
        for error in errors
    ]

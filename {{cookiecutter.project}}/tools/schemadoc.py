"""The task pack reference page, generated from the schema so the two cannot drift apart.

Regenerate after editing the schema: `python -m tools.schemadoc`
(a test fails while the committed page differs from the generated one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1] / "orchestrator" / "schemas"


def _type(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " | ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "")
    kinds = kind if isinstance(kind, list) else [kind]
    words: list[str] = []
    for item in kinds:
        if item == "array" and isinstance(schema.get("items"), dict):
            inner = _type(schema["items"])
            words.append(f"list of {inner}" if inner else "list")
        else:
            words.append({"object": "mapping", "array": "list"}.get(item, str(item)))
    return " or ".join(w for w in words if w)


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    for key, word in (
        ("pattern", "pattern"),
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minItems", "min items"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
    ):
        if key in schema:
            value = schema[key]
            parts.append(f"{word} `{value}`" if key == "pattern" else f"{word} {value}")
    if schema.get("uniqueItems"):
        parts.append("unique")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(schema: dict[str, Any], prefix: str, rows: list[str], required_by: dict[str, str]) -> None:
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        if not isinstance(sub, dict):
            continue
        path = f"{prefix}{name}"
        need = "yes" if name in required else required_by.get(path, "")
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        rows.append(
            f"| `{path}` | {_cell(_type(sub))} | {need} | {default} | {_cell(_constraints(sub))} | "
            f"{_cell(sub.get('description', ''))} |"
        )
        _rows(sub, f"{path}.", rows, _conditional_required(sub, f"{path}."))
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in items:
            _rows(items, f"{path}[].", rows, _conditional_required(items, f"{path}[]."))


def _conditional_required(schema: dict[str, Any], prefix: str) -> dict[str, str]:
    """`required` inside if/then branches, shown as 'when kind = shell'."""
    found: dict[str, str] = {}
    for branch in schema.get("allOf", []):
        condition = branch.get("if", {}).get("properties", {})
        then = branch.get("then", {})
        when = ", ".join(f"{k} = {v.get('const')}" for k, v in condition.items() if isinstance(v, dict))
        for name in then.get("required", []):
            found[f"{prefix}{name}"] = f"when {when}"
    return found


def _variants(schema: dict[str, Any], prefix: str, out: list[str]) -> None:
    for name, sub in schema.get("properties", {}).items():
        if not isinstance(sub, dict):
            continue
        for branch in sub.get("allOf", []):
            condition = branch.get("if", {}).get("properties", {})
            then = branch.get("then", {})
            when = ", ".join(f"`{k}: {v.get('const')}`" for k, v in condition.items() if isinstance(v, dict))
            needs = ", ".join(f"`{k}`" for k in then.get("required", [])) or "nothing more"
            refused = (
                ", ".join(f"`{k}`" for k, v in then.get("properties", {}).items() if v is False) or "none"
            )
            defaults = ", ".join(
                f"`{k}` = `{json.dumps(v['default'])}`"
                for k, v in then.get("properties", {}).items()
                if isinstance(v, dict) and "default" in v
            )
            line = f"- `{prefix}{name}` with {when}: requires {needs}; not allowed: {refused}"
            out.append(line + (f"; defaults: {defaults}" if defaults else "") + ".")
        _variants(sub, f"{prefix}{name}.", out)


def render(schema: dict[str, Any]) -> str:
    """Markdown reference of a JSON Schema: one table row per field, then the per-kind rules."""
    rows: list[str] = []
    _rows(schema, "", rows, {})
    variants: list[str] = []
    _variants(schema, "", variants)
    lines = [
        f"# {schema.get('title', schema.get('$id', 'Schema'))} (`{schema.get('$id', '')}`)",
        "",
        "<!-- Generated from taskpack.v1.json by `python -m tools.schemadoc`; do not edit by hand. -->",
        "",
        schema.get("description", ""),
        "",
        "Unknown keys are errors at every level, so a typo is caught rather than ignored.",
        "",
        "| field | type | required | default | constraints | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    if variants:
        lines += ["", "## Rules that depend on another field", "", *variants]
    return "\n".join(lines) + "\n"


def main() -> None:
    schema = json.loads((HERE / "taskpack.v1.json").read_text(encoding="utf-8"))
    (HERE / "taskpack.v1.md").write_text(render(schema), encoding="utf-8")


if __name__ == "__main__":
    main()

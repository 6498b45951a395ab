"""`nox -s draft -- "<objective>"`: a first task pack from a model, for a person to check and approve.

It calls the OpenAI Responses API with structured output: a JSON Schema derived from
taskpack/v1 in strict-mode form (every property required, optional ones nullable, no keywords
strict mode refuses). The answer becomes YAML, is validated like any proposal, printed with its
problems, and held in `.orchestrator/proposals/<id>/` until `nox -s approve -- <id>`. Nothing is
committed here. `OPENAI_API_KEY` holds the key; `ORCH_DRAFT_BASE_URL` and `ORCH_DRAFT_MODEL`
override the endpoint and the model.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import load_settings
from orchestrator.errors import BadInput, OrchestratorError
from orchestrator.mcpserver.proposals import PROPOSALS, check_text
from orchestrator.schemas import load as load_schema
from orchestrator.taskpack import SLUG, TASK_FILE

KEY_VAR = "OPENAI_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-5.5"
TIMEOUT_SECONDS = 120
DRAFTED = ("schema", "id", "title", "objective", "executor", "scope", "acceptance", "safety", "limits")
"""The top-level fields a draft holds; the rest keep their defaults or are left to the person."""
KEPT = ("type", "properties", "items", "enum", "const", "description", "required")
GUIDE = Path(__file__).with_name("guide.md")


class DraftFailed(OrchestratorError):
    """The model endpoint could not give a draft (bad input to the draft: exit 2)."""

    exit_code = 2


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """One schema node in strict structured-output form."""
    out = {key: copy.deepcopy(value) for key, value in schema.items() if key in KEPT}
    if "properties" in out:
        optional = set(out["properties"]) - set(schema.get("required", []))
        props = {}
        for name, sub in out["properties"].items():
            node = strict(sub)
            if name in optional:
                node = _nullable(node)
            props[name] = node
        out.update(properties=props, required=sorted(props), additionalProperties=False)
        out.setdefault("type", "object")
    if "items" in out and isinstance(out["items"], dict):
        out["items"] = strict(out["items"])
    if "const" in out and "type" not in out:
        out["type"] = "string"
    if "enum" in out and "type" not in out:
        kinds = {type(v).__name__ for v in out["enum"]}
        out["type"] = (
            "string" if kinds == {"str"} else sorted({"str": "string", "int": "integer"}[k] for k in kinds)
        )
    return out


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if "enum" in node:
        return {
            **node,
            "enum": [*node["enum"], None],
            "type": [*_as_list(node.get("type", "string")), "null"],
        }
    if "type" in node:
        return {**node, "type": [*_as_list(node["type"]), "null"]}
    return {"anyOf": [node, {"type": "null"}]}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def draft_schema() -> dict[str, Any]:
    """The strict-mode schema of a draft: taskpack/v1's drafted fields, every one required."""
    full = load_schema("taskpack.v1.json")
    subset = {
        "type": "object",
        "properties": {k: full["properties"][k] for k in DRAFTED},
        "required": [k for k in full.get("required", []) if k in DRAFTED],
    }
    out = strict(subset)
    executor = out["properties"]["executor"]
    executor["properties"] = {
        k: v for k, v in executor["properties"].items() if k in ("kind", "commands", "prompt")
    }
    executor["required"] = sorted(executor["properties"])
    return out


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return _object_without_nulls(value)
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _object_without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _without_nulls(v) for k, v in value.items() if v is not None}


def request_body(objective: str, model: str) -> dict[str, Any]:
    return {
        "model": model,
        "input": [
            {
                "role": "system",
                "content": "You write task packs (taskpack/v1) for Codex Orchestrator. "
                + GUIDE.read_text(encoding="utf-8"),
            },
            {"role": "user", "content": f"Objective:\n{objective}"},
        ],
        "text": {
            "format": {"type": "json_schema", "name": "taskpack", "strict": True, "schema": draft_schema()}
        },
    }


def ask(objective: str, environ: Mapping[str, str]) -> dict[str, Any]:
    key = environ.get(KEY_VAR, "")
    if not key:
        raise BadInput(f"no API key: set {KEY_VAR} (drafting calls the OpenAI Responses API)")
    base = environ.get("ORCH_DRAFT_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    model = environ.get("ORCH_DRAFT_MODEL", DEFAULT_MODEL)
    request = urllib.request.Request(
        f"{base}/responses",
        data=json.dumps(request_body(objective, model)).encode("utf-8"),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise DraftFailed(f"the model endpoint answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise DraftFailed(f"no usable answer from the model endpoint {base}: {exc}") from None
    items = answer.get("output", []) if isinstance(answer, dict) else []
    for item in items if isinstance(items, list) else []:
        parts = item.get("content", []) if isinstance(item, dict) and item.get("type") == "message" else []
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and part.get("type") == "output_text":
                try:
                    draft = json.loads(str(part.get("text")))
                except ValueError:
                    break
                if isinstance(draft, dict):
                    return _object_without_nulls(draft)
                break
    raise DraftFailed("the model's answer held no JSON task pack (no output_text holding a JSON object)")


def slug(text: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-")
    return value or "draft"


def draft_command(repo: Path, objective: str, task_id: str | None, environ: Mapping[str, str]) -> int:
    data = ask(objective, environ)
    data["schema"] = "taskpack/v1"
    data["id"] = task_id or slug(str(data.get("id") or data.get("title") or "draft"))
    if not SLUG.fullmatch(data["id"]):
        raise BadInput(f"--id {data['id']!r} is not a task id (lowercase letters, digits and '-')")
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    held = load_settings(repo).state_dir / PROPOSALS / data["id"]
    shutil.rmtree(held, ignore_errors=True)
    held.mkdir(parents=True)
    (held / TASK_FILE).write_text(text, encoding="utf-8")
    checked = check_text(repo, text)
    print(text, end="")
    print(f"--- draft held in {held.relative_to(repo)}/{TASK_FILE} (nothing committed)")
    if checked.problems:
        for problem in checked.problems:
            print(f"problem: {problem}")
        print(f"edit the draft, then `nox -s approve -- {data['id']}` (approve checks it again)")
        return 2
    print(f"valid; commit it with `nox -s approve -- {data['id']}`")
    return 0

"""What a task pack is once it is valid, and the names of where packs live."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import Problem
from orchestrator.globs import match_any

SCHEMA = "taskpack.v1.json"
TASKPACKS = "taskpacks"
TASK_FILE = "task.yml"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

MAX_BYTES = 256 * 1024
"""A task pack is a page of YAML; anything larger is refused before it is read."""


def declared_hosts(data: Mapping[str, Any]) -> list[str]:
    """`safety.network.hosts` of a pack's data (as loaded, or as an old run recorded it); [] when absent."""
    safety = data.get("safety") or {}
    return [str(host) for host in (safety.get("network") or {}).get("hosts") or []]


def declared_providers(data: Mapping[str, Any]) -> list[str]:
    """`safety.cloud.providers` of a pack's data; [] when absent."""
    safety = data.get("safety") or {}
    return [str(provider) for provider in (safety.get("cloud") or {}).get("providers") or []]


def in_allowed_paths(scope: Mapping[str, Any], path: str) -> bool:
    """The scope rule, half one: a changed path must match a glob of `scope.allowed_paths`."""
    return match_any(list(scope.get("allowed_paths") or []), path)


def in_forbidden_paths(scope: Mapping[str, Any], path: str) -> bool:
    """The scope rule, half two: a changed path must match no glob of `scope.forbidden_paths`."""
    return match_any(list(scope.get("forbidden_paths") or []), path)


@dataclass(frozen=True)
class TaskPack:
    """A valid task pack; `data` has the schema defaults applied, `sha256` pins the file's bytes."""

    id: str
    dir: Path
    file: Path
    data: dict[str, Any] = field(compare=False)
    sha256: str

    @property
    def title(self) -> str:
        return str(self.data["title"])

    @property
    def objective(self) -> str:
        return str(self.data["objective"])

    @property
    def executor(self) -> dict[str, Any]:
        executor: dict[str, Any] = self.data["executor"]
        return executor

    @property
    def scope(self) -> dict[str, Any]:
        scope: dict[str, Any] = self.data["scope"]
        return scope

    @property
    def acceptance(self) -> list[dict[str, Any]]:
        acceptance: list[dict[str, Any]] = self.data["acceptance"]
        return acceptance

    @property
    def safety(self) -> dict[str, Any]:
        safety: dict[str, Any] = self.data["safety"]
        return safety

    @property
    def network_hosts(self) -> list[str]:
        return declared_hosts(self.data)

    @property
    def cloud_providers(self) -> list[str]:
        return declared_providers(self.data)

    @property
    def limits(self) -> dict[str, int]:
        limits: dict[str, int] = self.data["limits"]
        return limits

    @property
    def plugin_name(self) -> str | None:
        plugin = self.data.get("plugin")
        name: str | None = plugin["name"] if isinstance(plugin, dict) else plugin
        return name

    @property
    def plugin_options(self) -> dict[str, Any]:
        plugin = self.data.get("plugin")
        return dict(plugin.get("options", {})) if isinstance(plugin, dict) else {}

    @property
    def context(self) -> list[str]:
        return list(self.data.get("context", []))


@dataclass(frozen=True)
class Checked:
    """The outcome of checking several refs: the valid packs, and every problem of the rest."""

    packs: list[TaskPack]
    problems: list[Problem]
    bad: int

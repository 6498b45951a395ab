"""Repository settings: `[tool.orchestrator]` in pyproject.toml, overridden by ORCH_* variables.

Read once per command; phases receive the resulting `Settings` instead of looking
at the environment themselves, so what a run was configured with is explicit.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import BadInput, Problem
from orchestrator.globs import GlobError, glob_to_regex

TRUE = {"1", "true", "yes", "on"}


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = environ.get(name)
    return default if value is None or value == "" else value.strip().lower() in TRUE


@dataclass(frozen=True)
class Policy:
    """What the repository allows task packs to declare at all."""

    allow_network: bool = True
    allow_cloud: bool = True
    control_plane: tuple[str, ...] = ()
    """The repository's own control-plane globs, added to the built-in list (`orchestrator.controlplane`)."""


@dataclass(frozen=True)
class Settings:
    repo: Path
    base_branch: str
    branch_override: str | None
    default_executor: str
    plugins_enabled: bool
    plugins_strict: bool
    push: bool
    unsafe_no_isolation: bool
    policy: Policy

    def branch_for(self, task_id: str) -> str:
        return self.branch_override or f"codex/{task_id}"

    @property
    def runs_dir(self) -> Path:
        return self.repo / "runs"

    @property
    def state_dir(self) -> Path:
        """Private, git-ignored state: workspaces, the STOP file, the repo evidence index."""
        return self.repo / ".orchestrator"


def find_repo(start: Path | None = None) -> Path:
    """The repository root: the nearest directory holding taskpacks/ or orchestrator/."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "orchestrator").is_dir() and (candidate / "pyproject.toml").is_file():
            return candidate
    raise BadInput(
        f"{here}: not inside an orchestrated repository (no orchestrator/ and pyproject.toml above it)"
    )


def read_tool_section(repo: Path) -> dict[str, Any]:
    path = repo / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(
            "pyproject.toml is not valid TOML",
            [Problem("pyproject.toml", 1, 1, "(file)", str(exc), "fix the TOML syntax")],
        ) from None
    section = data.get("tool", {}).get("orchestrator", {})
    return section if isinstance(section, dict) else {}


def _policy_line(repo: Path, key: str) -> int:
    try:
        lines = (repo / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    return next((n for n, line in enumerate(lines, start=1) if line.strip().startswith(key)), 1)


def control_plane_additions(repo: Path, value: object) -> tuple[str, ...]:
    """`[tool.orchestrator.policy] control_plane`: a list of repository-relative globs, else exit 2."""
    where = "tool.orchestrator.policy.control_plane"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadInput(
            "pyproject.toml: the repository's control-plane additions are not a list of globs",
            [
                Problem(
                    "pyproject.toml",
                    _policy_line(repo, "control_plane"),
                    1,
                    where,
                    f"expected a list of strings, got {value!r}",
                    'write control_plane = ["deploy/**"]',
                )
            ],
        )
    for item in value:
        try:
            glob_to_regex(item)
        except GlobError as exc:
            raise BadInput(
                "pyproject.toml: a control-plane addition is not a valid glob",
                [
                    Problem(
                        "pyproject.toml",
                        _policy_line(repo, "control_plane"),
                        1,
                        where,
                        f"{item!r} {exc}",
                        "use repository-relative globs such as deploy/** or **/secrets.yaml",
                    )
                ],
            ) from None
    return tuple(value)


def load_settings(repo: Path, environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    section = read_tool_section(repo)
    policy = section.get("policy", {}) if isinstance(section.get("policy"), dict) else {}
    return Settings(
        repo=repo,
        base_branch=env.get("BASE_BRANCH") or str(section.get("base_branch", "main")),
        branch_override=env.get("ORCH_BRANCH_NAME") or None,
        default_executor=str(section.get("default_executor", "shell")),
        plugins_enabled=_flag(env, "ORCH_ENABLE_PLUGINS", bool(section.get("enable_plugins", False))),
        plugins_strict=_flag(env, "ORCH_PLUGINS_STRICT", bool(section.get("plugins_strict", False))),
        push=_flag(env, "ORCH_PUSH", False),
        unsafe_no_isolation=_flag(env, "ORCH_UNSAFE_NO_ISOLATION", False),
        policy=Policy(
            allow_network=bool(policy.get("allow_network", True)),
            allow_cloud=bool(policy.get("allow_cloud", True)),
            control_plane=control_plane_additions(repo, policy.get("control_plane", [])),
        ),
    )

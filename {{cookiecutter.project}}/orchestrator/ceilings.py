"""Policy ceilings: the most a task pack may ask for in this repository (its risk posture).

`[tool.orchestrator.policy]` in pyproject.toml sets them; a key left out sets no ceiling:

    allowed_hosts = ["pypi.org", "@python"]     # hosts (or presets) a pack may declare
    allowed_providers = []                      # cloud providers a pack may declare
    allowed_executors = ["shell", "codex"]      # executor kinds
    never_in_scope = ["deploy/**"]              # paths no allowed_paths pattern may reach
    require_approval = false                    # proposals wait for `nox -s approve -- <id>`
    max_concurrent_runs = 2                     # runs a control plane may have going at once
    [tool.orchestrator.policy.max_limits]       # the largest value of each `limits` field
    wall_seconds = 1800

They apply to every pack at the safety phase, whoever wrote it, and to a proposal before it
is written (`propose_taskpack`). A pack over a ceiling gets a located problem naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.config import read_tool_section
from orchestrator.egress import DEFAULT_PORTS, parse_allowlist, split_target
from orchestrator.environment import preset_hosts
from orchestrator.errors import BadInput, Problem
from orchestrator.globs import match_path
from orchestrator.taskpack import Document, declared_hosts, declared_providers, parse_yaml

DEFAULT_MAX_CONCURRENT_RUNS = 2
PROBE_SUFFIX = "__orchestrator_probe__"
"""A name appended to a never_in_scope directory pattern to ask whether allowed_paths reach into it."""


@dataclass(frozen=True)
class Ceilings:
    allowed_hosts: tuple[str, ...] | None = None
    allowed_providers: tuple[str, ...] | None = None
    allowed_executors: tuple[str, ...] | None = None
    never_in_scope: tuple[str, ...] = ()
    max_limits: Mapping[str, int] = field(default_factory=dict)
    require_approval: bool = False
    max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS


def _strings(policy: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = policy.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadInput(
            "pyproject.toml [tool.orchestrator.policy] is invalid",
            [
                Problem(
                    "pyproject.toml",
                    1,
                    1,
                    f"tool.orchestrator.policy.{key}",
                    "must be a list of strings",
                    f'write e.g. {key} = ["..."]',
                )
            ],
        )
    return tuple(value)


def from_policy(policy: Mapping[str, Any]) -> Ceilings:
    """The ceilings of a `[tool.orchestrator.policy]` table; a malformed entry is bad input."""
    limits = policy.get("max_limits", {})
    if not isinstance(limits, dict) or not all(isinstance(v, int) and v > 0 for v in limits.values()):
        raise BadInput(
            "pyproject.toml [tool.orchestrator.policy] is invalid",
            [
                Problem(
                    "pyproject.toml",
                    1,
                    1,
                    "tool.orchestrator.policy.max_limits",
                    "must map limit names to positive integers",
                    "write e.g. [tool.orchestrator.policy.max_limits] then wall_seconds = 1800",
                )
            ],
        )
    concurrent = policy.get("max_concurrent_runs", DEFAULT_MAX_CONCURRENT_RUNS)
    if not isinstance(concurrent, int) or concurrent < 1:
        raise BadInput(
            "pyproject.toml [tool.orchestrator.policy] is invalid",
            [
                Problem(
                    "pyproject.toml",
                    1,
                    1,
                    "tool.orchestrator.policy.max_concurrent_runs",
                    "must be a positive integer",
                    "write e.g. max_concurrent_runs = 2",
                )
            ],
        )
    return Ceilings(
        allowed_hosts=_strings(policy, "allowed_hosts"),
        allowed_providers=_strings(policy, "allowed_providers"),
        allowed_executors=_strings(policy, "allowed_executors"),
        never_in_scope=_strings(policy, "never_in_scope") or (),
        max_limits=dict(limits),
        require_approval=bool(policy.get("require_approval", False)),
        max_concurrent_runs=concurrent,
    )


def of_repository(repo: Path) -> Ceilings:
    """The ceilings `[tool.orchestrator.policy]` of this repository's pyproject.toml sets."""
    policy = read_tool_section(repo).get("policy", {})
    return from_policy(policy if isinstance(policy, dict) else {})


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether every host:port a declared entry opens is one the ceiling opens
    (presets expanded on both sides)."""
    rules = parse_allowlist(h for entry in allowed for h in preset_hosts(entry))
    for name in preset_hosts(host):
        target, port = split_target(name, 0)
        ports = [port] if port else list(DEFAULT_PORTS)
        if not all(any(rule.permits(target, p) for rule in rules) for p in ports):
            return False
    return bool(preset_hosts(host))


def _reaches(pattern: str, forbidden: str) -> bool:
    """Whether an allowed_paths pattern can match a path the forbidden pattern covers."""

    def concrete(glob: str) -> str:
        return glob.rstrip("/").replace("**", PROBE_SUFFIX).replace("*", PROBE_SUFFIX).replace("?", "x")

    return match_path(pattern, concrete(forbidden)) or match_path(forbidden, concrete(pattern))


def problems(data: Mapping[str, Any], ceilings: Ceilings, doc: Document, display: str) -> list[Problem]:
    """Every field of a (schema-valid) pack that asks for more than the ceilings allow, located."""
    out: list[Problem] = []

    def over(path: tuple[str | int, ...], message: str, ceiling: str, hint: str) -> None:
        line, column = doc.mark(path)
        field_name = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        out.append(Problem(display, line, column, field_name, f"{message} (ceiling: {ceiling})", hint))

    env_hosts = ((data.get("environment") or {}).get("network") or {}).get("hosts", [])
    for section, hosts in (
        ("safety", declared_hosts(data)),
        ("environment", env_hosts),
    ):
        if ceilings.allowed_hosts is None:
            break
        for i, host in enumerate(hosts):
            if not _host_allowed(str(host), ceilings.allowed_hosts):
                over(
                    (section, "network", "hosts", i),
                    f"host {host!r} is beyond the repository's allowed hosts",
                    f"allowed_hosts = {list(ceilings.allowed_hosts)}",
                    "declare only allowed hosts, or widen [tool.orchestrator.policy] allowed_hosts",
                )
    if ceilings.allowed_providers is not None:
        for i, provider in enumerate(declared_providers(data)):
            if provider not in ceilings.allowed_providers:
                over(
                    ("safety", "cloud", "providers", i),
                    f"cloud provider {provider!r} is not allowed here",
                    f"allowed_providers = {list(ceilings.allowed_providers)}",
                    "remove it, or widen [tool.orchestrator.policy] allowed_providers",
                )
    kind = (data.get("executor") or {}).get("kind")
    if ceilings.allowed_executors is not None and kind not in ceilings.allowed_executors:
        over(
            ("executor", "kind"),
            f"executor {kind!r} is not allowed here",
            f"allowed_executors = {list(ceilings.allowed_executors)}",
            "use an allowed executor kind",
        )
    limits = data.get("limits") or {}
    for name, ceiling in sorted(ceilings.max_limits.items()):
        value = limits.get(name)
        if isinstance(value, int) and value > ceiling:
            over(
                ("limits", name),
                f"{name} = {value} is above the repository's maximum",
                f"max_limits.{name} = {ceiling}",
                f"lower limits.{name} to {ceiling} or less",
            )
    for i, pattern in enumerate((data.get("scope") or {}).get("allowed_paths", [])):
        for forbidden in ceilings.never_in_scope:
            if _reaches(str(pattern), forbidden):
                over(
                    ("scope", "allowed_paths", i),
                    f"{pattern!r} reaches {forbidden!r}, which may never be in scope",
                    f"never_in_scope = {list(ceilings.never_in_scope)}",
                    "narrow allowed_paths",
                )
    return out


def check_file(file: Path, display: str, data: Mapping[str, Any], ceilings: Ceilings) -> list[Problem]:
    """`problems` for a pack on disk (its YAML is parsed again for the marks)."""
    doc = parse_yaml(file.read_text(encoding="utf-8").removeprefix("\ufeff"))
    return problems(data, ceilings, doc, display)

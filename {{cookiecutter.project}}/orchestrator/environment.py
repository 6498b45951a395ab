"""A task's environment: what its `prepare` phase installs before the agent starts.

A pack's `environment` (or, when it has none, `[tool.orchestrator.environment]` in
pyproject.toml) names setup commands, the hosts they may reach (presets such as `@python`
expand to registry hosts) and the files whose content keys the cache. Setup runs in the same
jail as execute, with only those hosts reachable; what it writes to ignored paths (`.venv/`,
`node_modules/`) stays for the later phases and is never part of the change.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from orchestrator.errors import BadInput, Problem

PRESETS_FILE = Path(__file__).parent / "schemas" / "presets.json"
SETUP_NETWORK = ("any", "presets", "none")
"""Repository policy `setup_network`: any declared host, presets only, or no setup network at all."""
PATH_DIRS = (".venv/bin", "node_modules/.bin")
"""Prepared tool directories put first on PATH for execute, verify and the plugin, when they exist."""


@cache
def presets() -> dict[str, tuple[str, ...]]:
    data = json.loads(PRESETS_FILE.read_text(encoding="utf-8"))
    return {name: tuple(hosts) for name, hosts in data.items() if not name.startswith("$")}


def preset_hosts(host: str) -> list[str]:
    """The hosts one declared entry stands for: a preset's hosts, else the entry itself (unknown: none)."""
    return list(presets().get(host[1:], ())) if host.startswith("@") else [host]


def expand(hosts: Sequence[str]) -> list[str]:
    """Declared hosts with every `@preset` replaced by its hosts; unknown presets are bad input."""
    out: list[str] = []
    for host in hosts:
        if host.startswith("@"):
            known = presets()
            if host[1:] not in known:
                raise BadInput(
                    f"unknown host preset {host!r}; presets are: "
                    + ", ".join(f"@{name}" for name in sorted(known))
                )
            out.extend(known[host[1:]])
        else:
            out.append(host)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Environment:
    setup: tuple[str, ...]
    hosts: tuple[str, ...]
    cache_key: tuple[str, ...]
    source: str
    """Where it was declared: `task pack` or `pyproject.toml`."""

    @property
    def expanded_hosts(self) -> list[str]:
        return expand(self.hosts)

    def record(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "setup": list(self.setup),
            "hosts": list(self.hosts),
            "expanded_hosts": self.expanded_hosts,
            "cache_key_files": list(self.cache_key),
        }


def _from_mapping(data: Mapping[str, Any], source: str) -> Environment:
    network = data.get("network") or {}
    return Environment(
        tuple(data.get("setup") or ()),
        tuple(network.get("hosts") or ()),
        tuple(data.get("cache_key") or ()),
        source,
    )


def declared(task_data: Mapping[str, Any], tool_section: Mapping[str, Any]) -> Environment | None:
    """The pack's environment, else the repository default; None when neither declares setup."""
    if isinstance(task_data.get("environment"), dict):
        env = _from_mapping(task_data["environment"], "task pack")
    elif isinstance(tool_section.get("environment"), dict):
        env = _from_mapping(tool_section["environment"], "pyproject.toml")
    else:
        return None
    return env if env.setup else None


def policy_problems(env: Environment, policy: Mapping[str, Any]) -> list[str]:
    """Why the repository's `setup_network` policy refuses this environment's hosts ([] when it allows)."""
    mode = policy.get("setup_network", "any")
    if mode not in SETUP_NETWORK:
        raise BadInput(
            "pyproject.toml [tool.orchestrator.policy] is invalid",
            [
                Problem(
                    "pyproject.toml",
                    1,
                    1,
                    "tool.orchestrator.policy.setup_network",
                    f"{mode!r} is not one of {SETUP_NETWORK}",
                    'write setup_network = "any", "presets" or "none"',
                )
            ],
        )
    if mode == "none" and env.hosts:
        return [
            (
                f'the repository forbids setup network (setup_network = "none"), but {env.source} declares '
                f"{', '.join(env.hosts)}"
            )
        ]
    if mode == "presets":
        literal = [h for h in env.hosts if not h.startswith("@")]
        if literal:
            return [
                (
                    f'the repository allows only presets for setup (setup_network = "presets"), but '
                    f"{env.source} declares {', '.join(literal)}; use @python, @node, ..."
                )
            ]
    return []


def key(env: Environment, workspace: Path) -> str:
    """The cache key: the setup, the hosts it may reach, the keyed files' content and the interpreter."""
    files = {}
    for name in env.cache_key:
        path = workspace / name
        files[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    material = {
        "setup": list(env.setup),
        "hosts": env.expanded_hosts,
        "files": files,
        "python": sys.version,
        "executable": str(Path(sys.executable).resolve()),
        "machine": platform.machine(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def path_prefix(workspace: Path, prepared: Sequence[str]) -> list[Path]:
    """The prepared tool directories in PATH order: only under paths the prepare phase recorded, so a
    `.venv/bin` the executor planted never comes first on PATH."""
    return [
        workspace / d
        for d in PATH_DIRS
        if d.split("/")[0] in prepared and (workspace / d).is_dir() and not (workspace / d).is_symlink()
    ]


def readonly_roots() -> tuple[Path, ...]:
    """Host paths every jail sees read-only: links from prepared paths may resolve into them."""
    system = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/opt", "/etc")
    return tuple(dict.fromkeys(Path(p).resolve() for p in (*system, sys.prefix, sys.base_prefix)))


def tolerated_link(workspace: Path, prepared: Sequence[str], entry: str) -> bool:
    """Whether a `path -> target` link found in the workspace is ordinary setup output.

    Only inside the prepared (ignored) paths, and only when it resolves into the workspace or a
    read-only system path (a venv's `bin/python` -> the interpreter): anything else is an escape."""
    rel = entry.partition(" -> ")[0]
    if not any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in prepared):
        return False
    resolved = (workspace / rel).resolve()
    roots = (workspace.resolve(), *readonly_roots())
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


def snapshot_dir(scratch: Path) -> Path:
    """The run's pristine copy of its prepared paths, beside its scratch (removed with it), in no jail."""
    return scratch.with_name(scratch.name + "-prepared")

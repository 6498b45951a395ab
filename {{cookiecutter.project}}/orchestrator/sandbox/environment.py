"""The jail's environment: allowlisted variables, a private HOME and TMPDIR, and the cloud-CLI shims.

A refused cloud CLI reports itself to the host's audit socket (`audit.AuditServer`),
never to a file inside the jail, so the command cannot erase the record.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from orchestrator.redact import SECRET_NAME, looks_secret, secret_values
from orchestrator.sandbox.scratch import fresh_dir
from orchestrator.sandbox.spec import CLOUD_CLIS, CLOUD_ENV, SandboxSpec

LOG = logging.getLogger("orchestrator.sandbox")

ENV_ALLOWLIST = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "SOURCE_DATE_EPOCH")
"""The only variables taken from the parent environment (plus declared cloud ones)."""

FIXED = {"PYTHONDONTWRITEBYTECODE": "1", "ORCH_SANDBOX": "1", "GIT_CONFIG_NOSYSTEM": "1"}
"""Set in every jail: no stray bytecode in the worktree, and no system git config (credential helpers)."""


def cloud_var(name: str) -> str | None:
    """The provider a variable belongs to, if any."""
    for provider, prefixes in CLOUD_ENV.items():
        if any(name == p or name.startswith(p) for p in prefixes):
            return provider
    return None


def shim_dir(spec: SandboxSpec) -> Path:
    return spec.scratch / "shims"


def home_dir(spec: SandboxSpec) -> Path:
    return spec.scratch / "home"


def sandbox_path(spec: SandboxSpec) -> str:
    return os.pathsep.join(
        [
            str(shim_dir(spec)),
            *map(str, spec.path_prefix),
            str(Path(sys.executable).parent),
            "/usr/local/bin",
            "/usr/bin",
            "/bin",
        ]
    )


def build_env(spec: SandboxSpec, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """Allowlist, never denylist: only these names cross, plus what the caller adds.

    Even allowlisted or caller-given variables are dropped when their name looks secret
    or detect-secrets flags their value; cloud variables cross only for a declared
    provider (and are then exempt, being the declared credential).
    """
    env_in = os.environ if parent is None else parent
    home = home_dir(spec)
    tmp = spec.scratch / "tmp"
    for directory in (home, tmp):
        if directory.is_symlink() or not directory.is_dir():
            fresh_dir(directory)
    known = set(secret_values(env_in))
    env: dict[str, str] = {}
    for name in ENV_ALLOWLIST:
        value = env_in.get(name)
        if value is not None and value not in known and not looks_secret(value):
            env[name] = value
    for name, value in env_in.items():
        provider = cloud_var(name)
        if provider is not None and provider in spec.cloud_providers:
            env[name] = value
    env.update(PATH=sandbox_path(spec), HOME=str(home), TMPDIR=str(tmp), **FIXED)
    for name, value in spec.extra_env.items():
        if SECRET_NAME.search(name) or cloud_var(name) is not None:
            LOG.warning("sandbox: dropped variable %s (secret-looking or cloud name)", name)
            continue
        for secret in known:
            value = value.replace(secret, "[REDACTED]")
        env[name] = value
    return env


REFUSING_SHIM = """#!{python} -IS
import socket, sys
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect({socket!r})
        s.sendall({record!r})
except OSError:
    pass
sys.stderr.write({message!r})
sys.exit(126)
"""


def _parent_path_without(exclude: Path) -> str:
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != exclude]
    return os.pathsep.join(parts)


def write_shims(spec: SandboxSpec, audit_socket: Path, python: str) -> list[Path]:
    """One script per cloud CLI; returns host dirs of real (declared) CLIs that must be readable."""
    directory = fresh_dir(shim_dir(spec))
    search = _parent_path_without(directory)
    needed: list[Path] = []
    for provider, names in CLOUD_CLIS.items():
        for name in names:
            if provider in spec.cloud_providers:
                real = shutil.which(name, path=search)
                if real is None:
                    body = (
                        f'#!/bin/sh\necho "sandbox: {name} ({provider}) is declared but not installed" >&2\n'
                        "exit 127\n"
                    )
                else:
                    needed.append(Path(real).resolve().parent)
                    body = f'#!/bin/sh\nexec "{Path(real).resolve()}" "$@"\n'
            else:
                record = (json.dumps({"kind": "cloud", "target": name}) + "\n").encode()
                message = (
                    f"sandbox: refused: {name} is a {provider} cloud CLI and this task pack does not declare "
                    f"{provider} in safety.cloud.providers\n"
                )
                body = REFUSING_SHIM.format(
                    python=python, socket=str(audit_socket), record=record, message=message
                )
            path = directory / name
            path.write_text(body, encoding="utf-8")
            path.chmod(0o555)
    return needed

"""How the codex executor configures Codex: the model, the provider and its key (which stays on
the host, with the model proxy), and the `codex exec` command line."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import BadInput
from orchestrator.modelproxy import DEFAULT_BASE_URL, Upstream

DEFAULT_MODEL = "gpt-5.5"
"""A name in codex's built-in catalog, so it offers apply_patch and warns about no missing metadata."""


DEFAULT_PROVIDER = "orchestrator"


JAIL_PROVIDER = "orchestrator"
"""The provider table codex gets inside the jail: the model proxy, with no key."""


ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*$")


BASE_URL = re.compile(r"^https?://\S+$")


BUILTIN_KEYS = ("CODEX_API_KEY", "OPENAI_API_KEY")
"""Key variables read, in order, when neither ORCH_CODEX_ENV_KEY nor the pack names one."""


@dataclass(frozen=True)
class Provider:
    """The model provider codex's turns go to; `base_url=None` means the OpenAI API."""

    name: str
    base_url: str | None = None
    env_key: str | None = None
    wire_api: str = "responses"

    @property
    def upstream(self) -> str:
        return self.base_url or DEFAULT_BASE_URL


def model_for(executor: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The environment wins over the pack: the operator decides where a run's tokens go."""
    return environ.get("ORCH_CODEX_MODEL") or str(executor.get("model") or DEFAULT_MODEL)


def provider_for(executor: Mapping[str, Any], environ: Mapping[str, str]) -> Provider:
    declared = executor.get("provider") or {}
    base_url = environ.get("ORCH_CODEX_BASE_URL") or declared.get("base_url")
    env_key = environ.get("ORCH_CODEX_ENV_KEY") or declared.get("env_key")
    if base_url and not BASE_URL.match(base_url):
        raise BadInput(
            f"codex provider base_url {base_url!r} is not an http(s) URL (set ORCH_CODEX_BASE_URL or "
            "executor.provider.base_url to e.g. http://127.0.0.1:8080/v1)"
        )
    if base_url:
        try:
            Upstream.parse(base_url)
        except ValueError as exc:
            raise BadInput(f"codex provider: {exc}") from None
    if declared.get("base_url") and not environ.get("ORCH_CODEX_BASE_URL") and not _loopback(str(base_url)):
        raise BadInput(
            f"executor.provider.base_url {base_url!r}: a task pack may name only a model server on this "
            "machine "
            "(127.0.0.1, localhost); the key goes to another endpoint only when the operator sets "
            "ORCH_CODEX_BASE_URL"
        )
    if env_key and not ENV_KEY.match(env_key):
        raise BadInput(
            f"codex provider env_key {env_key!r} must be the NAME of a variable (A-Z, 0-9, _), "
            "never the key itself"
        )
    name = str(declared.get("name") or DEFAULT_PROVIDER)
    if not base_url and not declared:
        return Provider(name="openai", base_url=None, env_key=env_key)
    return Provider(
        name=name,
        base_url=base_url or None,
        env_key=env_key,
        wire_api=str(declared.get("wire_api") or "responses"),
    )


def _loopback(base_url: str) -> bool:
    host = Upstream.parse(base_url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def model_key(provider: Provider, environ: Mapping[str, str]) -> tuple[str, str]:
    """(variable name, key) the model proxy sends; refused before codex starts when it is not set."""
    names = [provider.env_key] if provider.env_key else list(BUILTIN_KEYS)
    for name in names:
        if environ.get(name):
            return name, environ[name]
    wanted = names[0] if len(names) == 1 else " or ".join(names)
    raise BadInput(
        f"the codex executor needs a model API key and {wanted} is not set: export {names[0]}=<your key> "
        "(for another endpoint set ORCH_CODEX_BASE_URL, and ORCH_CODEX_ENV_KEY to the NAME of the variable "
        "holding its key); the key stays outside the jail, in the host-side model proxy"
    )


def provider_args(port: int, wire_api: str = "responses") -> list[str]:
    """`-c` overrides that point codex at the model proxy inside the jail, with no key (`env_key` absent).

    Retries are off: a failing endpoint fails the attempt at once, and the
    orchestrator's own attempts and breakers decide what happens next.
    """
    table = {"name": JAIL_PROVIDER, "base_url": f"http://127.0.0.1:{port}/v1", "wire_api": wire_api}
    body = ", ".join(f"{k}={_toml(v)}" for k, v in table.items())
    body += ", request_max_retries=0, stream_max_retries=0, supports_websockets=false"
    return [
        "-c",
        f"model_provider={_toml(JAIL_PROVIDER)}",
        "-c",
        f"model_providers.{JAIL_PROVIDER}={{{body}}}",
    ]


def hardening_args() -> list[str]:
    """Flags that make codex fail closed; its own sandbox is off because ours holds it and its commands.

    The environment codex hands its commands is our jail's (already an allowlist with no key), minus
    codex's default excludes (`*KEY*`, `*SECRET*`, `*TOKEN*`); no login shell, whose profile would reset
    PATH and hide the run's interpreter.
    """
    return [
        "--strict-config",
        "--ephemeral",
        "--skip-git-repo-check",
        "--sandbox",
        "danger-full-access",
        "-c",
        "shell_environment_policy.inherit=all",
        "-c",
        "shell_environment_policy.ignore_default_excludes=false",
        "-c",
        "allow_login_shell=false",
        "-c",
        "check_for_update_on_startup=false",
        "-c",
        "analytics.enabled=false",
        "-c",
        "feedback.enabled=false",
        "--disable",
        "plugins",
        "--disable",
        "unbounded_connection_retries",
    ]


def build_argv(
    binary: str, workspace: Path, model: str, *, port: int, wire_api: str, last_message: Path, prompt: str
) -> list[str]:
    """The jailed command line. `env NO_PROXY=127.0.0.1` keeps codex's own requests to the model proxy off
    the egress proxy (HTTP(S)_PROXY stay set for the commands it runs, which reach declared hosts only)."""
    return [
        "/usr/bin/env",
        "NO_PROXY=127.0.0.1",
        "no_proxy=127.0.0.1",
        binary,
        "exec",
        "--json",
        *hardening_args(),
        "-C",
        str(workspace),
        "-m",
        model,
        *provider_args(port, wire_api),
        "-o",
        str(last_message),
        "--",
        prompt,
    ]


def _toml(value: str) -> str:
    return json.dumps(value)

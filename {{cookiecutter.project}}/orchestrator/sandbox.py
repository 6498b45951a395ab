"""The one runner for every execution-plane process (executor commands, acceptance, plugins).

(Initial version: own process group, allowlisted environment, private HOME/TMPDIR,
wall-time and output breakers that kill the whole group, network namespace via
`unshare --net`. The safety work hardens it: mount namespace, egress proxy,
cloud CLI shims, credential files.)
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import Refused

ENV_ALLOWLIST = ("LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "SOURCE_DATE_EPOCH")


@dataclass(frozen=True)
class SandboxSpec:
    """How one process may run. Built by the caller from the task pack and settings."""

    workspace: Path
    scratch: Path
    """Private directory for HOME and TMPDIR (inside the run's state, never the user's)."""
    wall_seconds: float
    max_output_bytes: int
    network_hosts: tuple[str, ...] = ()
    cloud_providers: tuple[str, ...] = ()
    isolate: bool = True
    """False only under ORCH_UNSAFE_NO_ISOLATION=1: runs without namespaces, recorded as UNSAFE."""
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Execution:
    """The outcome of one process; `breaker` names a tripped limit (None when none tripped)."""

    argv: list[str]
    exit_code: int | None
    duration: float
    output: str
    output_bytes: int
    breaker: str | None = None
    limit: float = 0
    measured: float = 0
    denied: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.breaker is None and self.exit_code == 0


def build_env(spec: SandboxSpec, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """Allowlist, never denylist: only these names cross, plus what the caller adds."""
    env_in = os.environ if parent is None else parent
    home = spec.scratch / "home"
    tmp = spec.scratch / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: env_in[k] for k in ENV_ALLOWLIST if k in env_in}
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        HOME=str(home),
        TMPDIR=str(tmp),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(spec.extra_env)
    return env


def isolation_prefix(spec: SandboxSpec) -> list[str]:
    if not spec.isolate:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise Refused(
            "network isolation is unavailable: `unshare` is not installed; install util-linux, "
            "or set ORCH_UNSAFE_NO_ISOLATION=1 to run UNSAFE without isolation"
        )
    prefix = [unshare, "--net"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    return prefix


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kills the whole process group, so backgrounded children die with the parent."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(
    argv: Sequence[str],
    spec: SandboxSpec,
    *,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    timeout: float | None = None,
) -> Execution:
    """Runs argv in the sandbox; output is read as it comes so the output breaker is exact."""
    limit_seconds = min(x for x in (timeout, spec.wall_seconds) if x is not None)
    full = [*isolation_prefix(spec), *argv]
    start = time.monotonic()
    proc = subprocess.Popen(
        full,
        cwd=cwd or spec.workspace,
        env=build_env(spec),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if stdin is not None and proc.stdin:
        try:
            proc.stdin.write(stdin)
        except BrokenPipeError:
            pass
        proc.stdin.close()
    chunks: list[bytes] = []
    total = 0
    breaker: tuple[str, float, float] | None = None
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    try:
        while True:
            remaining = limit_seconds - (time.monotonic() - start)
            if remaining <= 0:
                breaker = ("wall_seconds", limit_seconds, round(time.monotonic() - start, 3))
                break
            if not selector.select(timeout=min(remaining, 0.5)):
                if proc.poll() is not None and not _readable(proc):
                    break
                continue
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            total += len(data)
            if total > spec.max_output_bytes:
                keep = spec.max_output_bytes - (total - len(data))
                chunks.append(data[: max(keep, 0)])
                breaker = ("max_output_bytes", spec.max_output_bytes, total)
                break
            chunks.append(data)
        if breaker is None:
            remaining = max(limit_seconds - (time.monotonic() - start), 0.01)
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                breaker = ("wall_seconds", limit_seconds, round(time.monotonic() - start, 3))
    finally:
        selector.close()
        kill_group(proc)
        proc.wait()
        proc.stdout.close()
    output = b"".join(chunks).decode("utf-8", "replace")
    result = Execution(
        argv=list(argv),
        exit_code=None if breaker else proc.returncode,
        duration=round(time.monotonic() - start, 3),
        output=output,
        output_bytes=total,
    )
    if breaker:
        result.breaker, result.limit, result.measured = breaker
    return result


def _readable(proc: subprocess.Popen[bytes]) -> bool:
    return False

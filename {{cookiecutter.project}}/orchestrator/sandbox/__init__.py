"""The one runner for every execution-plane process: executor commands, acceptance, plugins.

Each process runs in a bubblewrap jail (`jail`): new user, mount, PID, network, IPC, UTS
and cgroup namespaces; uid 1000 inside with no capabilities; no user namespaces; a
seccomp filter refusing the mount family (`seccomp`); only the worktree, a private
scratch, the system (read-only) and a named list of read-only exceptions visible. The
host side (`supervisor`) watches output, time, the kill switch, memory and processes,
and keeps the audit record (`audit`); the jail's only way out is the egress proxy
(`orchestrator.egress`) and the declared forwards, reached through its loopback.

Where the jail cannot be built the run is refused (errors.Refused, exit 3) unless the
caller sets `isolate=False` (ORCH_UNSAFE_NO_ISOLATION=1), which the manifest records.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from orchestrator.breakers import kill_switch_reason
from orchestrator.egress import EgressProxy, parse_allowlist
from orchestrator.errors import Refused
from orchestrator.sandbox import jail, seccomp
from orchestrator.sandbox.audit import AuditServer, escaping_symlinks
from orchestrator.sandbox.environment import build_env, write_shims
from orchestrator.sandbox.gitview import prepare as prepare_git
from orchestrator.sandbox.limits import Cgroups, enforced, make_cgroups
from orchestrator.sandbox.spec import (
    CLOUD_CLIS,
    CLOUD_ENV,
    INSTALL_HINT,
    OVERRIDE_HINT,
    PROXY_PORT,
    Execution,
    Forward,
    LineHook,
    SandboxSpec,
)
from orchestrator.sandbox.supervisor import Channels, SetupFailed, supervise

__all__ = [
    "CLOUD_CLIS",
    "CLOUD_ENV",
    "OVERRIDE_HINT",
    "Execution",
    "Forward",
    "LineHook",
    "SandboxSpec",
    "build_env",
    "escaping_symlinks",
    "isolation_available",
    "kill_group",
    "platform_hint",
    "run",
]

LOG = logging.getLogger("orchestrator.sandbox")
INSIDE = Path(__file__).with_name("inside.py")
INIT_TASKS = 4
"""Tasks of the jail besides the command's: bubblewrap outside and as PID 1, the init and its relay thread."""
CGROUP_ENTER = 'IFS=:; for f in $1; do echo $$ > "$f" || exit 125; done; shift; exec "$@"'
"""Joins the jail's cgroups before bubblewrap starts, so every process of the jail is counted."""


def stop_file_for(spec: SandboxSpec) -> Path | None:
    if spec.stop_file is not None:
        return spec.stop_file
    parent = spec.workspace.parent
    if parent.name == "worktrees" and parent.parent.name == ".orchestrator":
        return parent.parent / "STOP"
    return None


def platform_hint() -> str:
    """What usually blocks the jail on this machine, and the fix, when it can be told."""
    if jail.bwrap_path() is None:
        return f"bubblewrap is not installed: {INSTALL_HINT}"
    apparmor = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    try:
        if apparmor.read_text(encoding="ascii").strip() == "1":
            return (
                "AppArmor restricts unprivileged user namespaces here (Ubuntu 23.10+): run "
                "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
            )
    except OSError:
        pass
    try:
        if Path("/proc/sys/user/max_user_namespaces").read_text(encoding="ascii").strip() == "0":
            return "user namespaces are disabled: run `sudo sysctl -w user.max_user_namespaces=15000`"
    except OSError:
        pass
    return ""


@lru_cache(maxsize=1)
def _probe() -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="orch-probe-") as tmp:
        base = Path(tmp)
        (base / "ws").mkdir()
        spec = SandboxSpec(
            workspace=base / "ws",
            scratch=base / "scratch",
            wall_seconds=20,
            max_output_bytes=65536,
            max_processes=16,
        )
        try:
            result = run(["/bin/sh", "-c", "echo probe > probe.txt && cat probe.txt"], spec)
        except Refused as exc:
            return False, str(exc)
        if result.exit_code != 0 or "probe" not in result.output:
            return False, f"the jail probe failed (exit {result.exit_code}): {result.output.strip()[:400]}"
        return True, "bubblewrap jail: user, mount, pid and network namespaces, no capabilities, seccomp"


def isolation_available() -> tuple[bool, str]:
    """Whether the jail can be built on this machine, and why not (probed once per process)."""
    if sys.platform != "linux":
        return False, f"isolation needs Linux namespaces; this is {sys.platform}. {OVERRIDE_HINT}"
    return _probe()


def _refuse(why: str) -> Refused:
    hint = platform_hint()
    return Refused(f"isolation is unavailable: {why}; {hint + '; or ' if hint else ''}{OVERRIDE_HINT}")


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()]
    except (OSError, ValueError):
        return []


def kill_group(proc: subprocess.Popen[bytes], cgroup: Cgroups | None = None) -> None:
    """Kills a host process (not a jail), its children and its process group, and waits for it."""
    for child in _children(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill_all()


def _proxy_env(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    return {
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "http_proxy": url,
        "https_proxy": url,
        "ALL_PROXY": url,
        "all_proxy": url,
        "NO_PROXY": "",
        "no_proxy": "",
    }


def run(
    argv: Sequence[str],
    spec: SandboxSpec,
    *,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    timeout: float | None = None,
    on_line: LineHook | None = None,
) -> Execution:
    """Runs argv in the jail; output is read as it comes so the output breaker is exact.

    `on_line` sees every output line live (progress on the terminal, agent event breakers)."""
    if not argv:
        raise ValueError("sandbox.run: empty argv")
    if reason := kill_switch_reason(os.environ, stop_file_for(spec)):
        return Execution(
            list(argv), None, 0.0, f"[not started: kill switch: {reason}]\n", 0, "kill_switch", 0, 1
        )
    if not spec.isolate:
        from orchestrator.sandbox.unsafe import run_unsafe

        return run_unsafe(
            argv, spec, cwd=cwd, stdin=stdin, timeout=timeout, on_line=on_line, stop_file=stop_file_for(spec)
        )
    bwrap = jail.bwrap_path()
    if bwrap is None:
        raise _refuse("bubblewrap (bwrap) is not installed")
    spec.scratch.mkdir(parents=True, exist_ok=True)
    host_dir = Path(tempfile.mkdtemp(prefix="orch-jail-", dir="/tmp" if os.path.isdir("/tmp") else None))
    audit_server: AuditServer | None = None
    proxy: EgressProxy | None = None
    cgroups: Cgroups | None = None
    fds: list[int] = []
    try:
        (host_dir / "empty").touch(mode=0o444)
        audit_server = AuditServer(host_dir / "audit").start()
        proxy = EgressProxy(host_dir / "egress", parse_allowlist(spec.network_hosts)).start()
        clis = write_shims(spec, audit_server.path, jail.init_python())
        env = {**_proxy_env(PROXY_PORT), **build_env(spec)}  # a caller's NO_PROXY (for a forward) wins
        extra = [
            jail.ReadOnly("host_sockets", host_dir),
            *(jail.ReadOnly("declared_cloud_cli", p) for p in clis),
            *(jail.ReadOnly("argv", p) for p in jail.argv_paths(argv)),
            *(jail.ReadOnly("forwards", f.socket.resolve(), chosen_by_engine=True) for f in spec.forwards),
        ]
        exceptions = jail.read_only_exceptions(spec, extra)
        git = prepare_git(spec.workspace, spec.scratch)
        try:
            program = seccomp.for_this_machine()
        except seccomp.UnsupportedMachine as exc:
            raise _refuse(str(exc)) from None
        filter_r, filter_w = os.pipe()
        fds += [filter_r]
        os.write(filter_w, program)
        os.close(filter_w)
        bwrap_r, bwrap_w = os.pipe()
        init_r, init_w = os.pipe()
        fds += [bwrap_r, bwrap_w, init_r, init_w]
        workdir = (cwd or spec.workspace).resolve()
        forwards = [Forward(PROXY_PORT, proxy.socket_path), *spec.forwards]
        config = {
            "argv": list(argv),
            "status_fd": init_w,
            "nproc": spec.max_processes + INIT_TASKS,
            "forwards": [{"port": f.port, "socket": str(f.socket)} for f in forwards],
        }
        full = [
            *jail.bwrap_argv(bwrap, spec, workdir, exceptions, git, filter_r, bwrap_w, host_dir / "empty"),
            "--",
            jail.init_python(),
            "-I",
            "-S",
            "-c",
            INSIDE.read_text(encoding="utf-8"),
            json.dumps(config),
        ]
        cgroups = make_cgroups(spec.max_memory_mb, spec.max_processes + INIT_TASKS)
        if cgroups is not None:
            full = [
                "/bin/sh",
                "-c",
                CGROUP_ENTER,
                "orch-cgroup",
                ":".join(map(str, cgroups.procs_files())),
                *full,
            ]
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                full,
                cwd=workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(filter_r, bwrap_w, init_w),
            )
        except OSError as exc:
            raise _refuse(f"cannot start bubblewrap: {exc}") from None
        for fd in (filter_r, bwrap_w, init_w):
            os.close(fd)
            fds.remove(fd)
        channels = Channels(bwrap_status=bwrap_r, init_status=init_r)
        try:
            result, left = supervise(
                argv, proc, spec, channels, stdin, timeout, start, stop_file_for(spec), cgroups, on_line
            )
        except SetupFailed as exc:
            raise _refuse(f"the jail could not be built: {exc}") from None
        result.limits_enforced = enforced(cgroups)
        if left:
            result.denied.append(
                {
                    "kind": "process",
                    "target": f"{len(left)} background process(es) still running at exit, killed",
                }
            )
        result.denied.extend(proxy.denied)
        result.allowed.extend(proxy.allowed)
        proxy_stopped, proxy = proxy, None
        proxy_stopped.stop()
        result.denied.extend(audit_server.stop())
        audit_server = None
        result.denied.extend({"kind": "symlink", "target": t} for t in escaping_symlinks(spec.workspace))
        for item in result.denied:
            LOG.info("sandbox: denied %s %s", item["kind"], item["target"])
        return result
    finally:
        if proxy is not None:
            proxy.stop()
        if audit_server is not None:
            audit_server.stop()
        if cgroups is not None:
            cgroups.remove()
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(host_dir, ignore_errors=True)

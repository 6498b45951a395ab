"""The prepare phase: the task's environment, installed before the agent starts.

Setup commands run in order in the workspace, in the same jail as execute, with only the
environment's hosts reachable (through the egress proxy) and no secrets. They may write only
paths git ignores (`.venv/`, `node_modules/`, build output); anything else is refused, because
it would be a change nobody reviewed. What they wrote stays for execute, verify and the plugin,
and is cached per repository under a key of the setup, its hosts, the keyed files and the
interpreter: a later run with the same key restores it without running setup or touching the
network. Execute and verify get none of the setup hosts.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from orchestrator import envcache, environment, gitops
from orchestrator.config import read_tool_section
from orchestrator.environment import tolerated_link
from orchestrator.errors import Refused, Tripped
from orchestrator.fsio import atomic_write_text
from orchestrator.model import EnvironmentRecord, Status
from orchestrator.phaselog import PhaseLog
from orchestrator.recording import record_execution
from orchestrator.runs import PhaseResult, Run
from orchestrator.sandbox import escaping_symlinks
from orchestrator.sandbox import run as sandboxed
from orchestrator.workspace import create, scratch_dir, spec_for

INVENTORY = "environment"
"""The run's directory of what was installed (pip freeze, npm ls)."""


def prepared_paths(workspace: Path) -> tuple[list[str], list[str]]:
    """(ignored paths present, other changes) in the workspace, from git's own view."""
    raw = gitops.git(
        workspace, "status", "--porcelain=v1", "-z", "--ignored=matching", "--untracked-files=all"
    )
    ignored: list[str] = []
    other: list[str] = []
    for entry in filter(None, raw.split("\0")):
        code, path = entry[:2], entry[3:]
        (ignored if code == "!!" else other).append(path.rstrip("/"))
    return sorted(ignored), sorted(other)


def unsafe_outputs(workspace: Path, paths: list[str]) -> list[str]:
    """Prepared paths that are links themselves, and links inside them that are not ordinary setup output."""
    top = [f"{p} is a symbolic link" for p in paths if (workspace / p).is_symlink()]
    top += [
        f"{p} is not a regular file (a FIFO, socket or device)"
        for p in envcache.special_files(workspace, paths)
    ]
    links = [
        link
        for link in escaping_symlinks(workspace)
        if any(link.startswith((p + "/", p + " ")) for p in paths)
        and not tolerated_link(workspace, paths, link)
    ]
    return [*top, *links]


def snapshot(run: Run, paths: list[str], root: Path, key: str) -> None:
    """Keeps the prepared paths as setup (or the cache) left them: verify and the plugin get this copy,
    never what the executor may have done to the workspace's copy. Hard links to the cache entry when
    there is one (instant), a real copy otherwise."""
    target = environment.snapshot_dir(scratch_dir(run))
    shutil.rmtree(target, ignore_errors=True)
    if not envcache.snapshot_entry(root, key, target):
        envcache.snapshot_workspace(run.workspace, paths, target)


def inventory(run: Run, log: PhaseLog) -> list[Path]:
    """What the environment holds, where a tool can list it; kept as evidence of the run."""
    out_dir = run.dir / INVENTORY
    found: list[Path] = []
    listings = (
        (".venv/bin/python", ["-m", "pip", "freeze", "--all"], "pip-freeze.txt"),
        ("node_modules", None, "npm-ls.json"),
    )
    for marker, args, name in listings:
        if not (run.workspace / marker).exists():
            continue
        argv = [str(run.workspace / marker), *args] if args else ["npm", "ls", "--all", "--json"]
        spec = replace(spec_for(run), network_hosts=())
        try:
            result = sandboxed(argv, spec, cwd=run.workspace)
        except (OSError, subprocess.SubprocessError) as exc:
            log.note(f"inventory {name} not taken: {exc}")
            continue
        out_dir.mkdir(exist_ok=True)
        atomic_write_text(out_dir / name, log.redactor.redact(result.output))
        found.append(out_dir / name)
    return found


def run(run: Run, log: PhaseLog) -> PhaseResult:
    section = read_tool_section(run.repo)
    env = environment.declared(run.task.data, section)
    create(run)
    if env is None:
        run.record.environment(EnvironmentRecord(cache="none"))
        return PhaseResult(Status.SKIPPED, "no environment declared (environment.setup)")
    policy = section.get("policy", {}) if isinstance(section.get("policy"), dict) else {}
    if problems := environment.policy_problems(env, policy):
        raise Refused("; ".join(problems))
    key = environment.key(env, run.workspace)
    record = EnvironmentRecord(**env.record(), key=key)
    run.record.environment(record)
    root = envcache.cache_root(run.settings.state_dir)
    cap = int((section.get("environment") or {}).get("cache_max_mb", envcache.DEFAULT_MAX_MB)) << 20
    restored = envcache.restore(root, key, run.workspace, run.dir / INVENTORY)
    if restored is not None:
        run.record.environment(replace(record, cache="hit", paths=restored))
        snapshot(run, restored, root, key)
        log.note(
            f"environment restored from the cache ({key}): {', '.join(restored)}; setup not run, no network"
        )
        listed = sorted((run.dir / INVENTORY).glob("*")) if (run.dir / INVENTORY).is_dir() else []
        return PhaseResult(
            Status.PASSED, f"environment restored from the cache ({len(restored)} path(s))", 0, listed
        )
    record = replace(record, cache="miss")
    run.record.environment(record)
    hosts = tuple(env.expanded_hosts)
    for command in env.setup:
        spec = replace(spec_for(run), network_hosts=hosts)
        result = sandboxed(["/bin/sh", "-c", command], spec, cwd=run.workspace)
        log.command(
            command, result.exit_code, result.duration, result.output, result.output_bytes, note="setup"
        )
        record = replace(record, paths=prepared_paths(run.workspace)[0])  # links in these are setup output
        run.record.environment(record)
        record_execution(run, log, "prepare", result)
        if result.breaker:
            raise Tripped(result.breaker, result.limit, result.measured, f"setup: {command}")
        if result.exit_code != 0:
            return PhaseResult(Status.FAILED, f"setup command failed (exit {result.exit_code}): {command}", 1)
    paths, other = prepared_paths(run.workspace)
    if other:
        raise Refused(
            "setup changed files git does not ignore (setup may only write ignored paths such as "
            f".venv/ or node_modules/): {', '.join(other[:10])}"
        )
    run.record.environment(replace(record, paths=paths))
    if problems := unsafe_outputs(run.workspace, paths):
        raise Refused(
            "setup left links out of the workspace or special files, which are never cached or used: "
            + "; ".join(problems[:10])
        )
    listed = inventory(run, log)
    log.note(envcache.save(root, key, run.workspace, paths, cap, listed))
    snapshot(run, paths, root, key)
    return PhaseResult(Status.PASSED, f"environment prepared ({len(paths)} path(s)), cache miss", 0, listed)

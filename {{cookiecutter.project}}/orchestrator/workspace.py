"""The workspace of a run: a git worktree at the base commit, and what changed in it.

The execution plane only ever sees this worktree; the user's checkout and the run
directory (the evidence) stay outside its reach.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from orchestrator import gitops
from orchestrator.environment import expand, path_prefix
from orchestrator.errors import Tripped
from orchestrator.fsio import atomic_write_bytes
from orchestrator.redact import Redactor
from orchestrator.runs import Run
from orchestrator.sandbox import SandboxSpec

DIFF = "diff.patch"


def create(run: Run) -> Path:
    path = run.workspace
    if not path.exists():
        gitops.add_worktree(run.repo, path, run.manifest["git"]["base"])
    return path


def ensure(run: Run) -> Path:
    """The workspace as the executor left it: recreated from the recorded tree once discarded.

    A whole run discards its worktree when it is published; a phase rerun alone later
    (verify, plugin) gets it back from `changes.tree`, the tree the manifest recorded.
    """
    path = run.workspace
    if path.exists():
        return path
    create(run)
    tree = run.manifest.get("changes", {}).get("tree")
    if tree:
        gitops.git(path, "read-tree", "--reset", "-u", tree)
    return path


def discard(run: Run) -> str:
    """Removes the worktree and the private scratch space (ORCH_KEEP_WORKSPACE=1 keeps them).

    Returns what happened, for the log; a workspace that cannot be removed (the agent
    made part of it read-only, say) is left behind and said so, never a failed run.
    """
    if os.environ.get("ORCH_KEEP_WORKSPACE", "") not in ("", "0"):
        return f"workspace kept (ORCH_KEEP_WORKSPACE): {run.workspace}"
    for scratch in scratch_dir(run).parent.glob(f"{run.task.id}-{run.id}*"):
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        gitops.remove_worktree(run.repo, run.workspace)
    except (gitops.GitError, OSError) as exc:
        return f"workspace not removed ({exc}); `git worktree remove --force {run.workspace}` removes it"
    return "workspace removed (ORCH_KEEP_WORKSPACE=1 keeps it)"


def scratch_dir(run: Run) -> Path:
    """Private HOME/TMPDIR for sandboxed processes: run state, not evidence."""
    return run.settings.state_dir / "scratch" / f"{run.task.id}-{run.id}"


def run_deadline(run: Run) -> float:
    """Seconds left of the run's wall-time budget (limits.wall_seconds)."""
    started = datetime.strptime(run.manifest["started_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return run.task.limits["wall_seconds"] - (time.time() - started.timestamp())


def spec_for(run: Run, extra_env: dict[str, str] | None = None) -> SandboxSpec:
    """The sandbox a process of this run gets, with the time it has left.

    The timeout is whatever is shorter: what is left of the phase's budget
    (limits.phase_wall_seconds) or of the run's (limits.wall_seconds).
    """
    limits = run.task.limits
    phase_left = limits["phase_wall_seconds"] - (time.monotonic() - run.phase_started)
    run_left = run_deadline(run)
    if run_left <= 0:
        raise Tripped("wall_seconds", limits["wall_seconds"], round(limits["wall_seconds"] - run_left, 3), "run")
    if phase_left <= 0:
        raise Tripped("phase_wall_seconds", limits["phase_wall_seconds"], round(limits["phase_wall_seconds"] - phase_left, 3))
    safety = run.task.safety
    if run_left <= phase_left:
        wall_name, wall_spent = "wall_seconds", limits["wall_seconds"] - run_left
    else:
        wall_name, wall_spent = "phase_wall_seconds", limits["phase_wall_seconds"] - phase_left
    return SandboxSpec(
        workspace=run.workspace,
        scratch=scratch_dir(run),
        wall_seconds=max(min(phase_left, run_left), 0.001),
        max_output_bytes=limits["max_output_bytes"],
        network_hosts=tuple(expand(safety.get("network", {}).get("hosts", []))),
        cloud_providers=tuple(safety.get("cloud", {}).get("providers", [])),
        isolate=not run.settings.unsafe_no_isolation,
        extra_env=extra_env or {},
        max_processes=limits["max_processes"],
        max_memory_mb=limits["max_memory_mb"],
        stop_file=run.settings.state_dir / "STOP",
        wall_name=wall_name,
        wall_spent=max(wall_spent, 0.0),
        path_prefix=tuple(path_prefix(run.workspace, run.manifest.get("environment", {}).get("paths", []))),
    )


def record_changes(run: Run, redactor: Redactor) -> list[gitops.FileChange]:
    """Writes diff.patch (redacted) and the per-file +/- counts into the manifest."""
    base = run.manifest["git"]["base"]
    tree = gitops.workspace_tree(run.workspace)
    changes = gitops.diff_stat(run.workspace, base, tree)
    patch = gitops.diff_patch(run.workspace, base, tree)
    atomic_write_bytes(run.dir / DIFF, redactor.redact(patch.decode("utf-8", "replace")).encode("utf-8"))
    run.manifest["changes"] = {
        "tree": tree,
        "files": [{"path": c.path, "added": c.added, "deleted": c.deleted, "binary": c.binary} for c in changes],
        "files_changed": len(changes),
        "lines_added": sum(c.added for c in changes),
        "lines_deleted": sum(c.deleted for c in changes),
    }
    return changes

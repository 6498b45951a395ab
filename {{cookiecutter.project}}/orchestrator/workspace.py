"""The workspace of a run: a git worktree at the base commit, and what changed in it.

The execution plane only ever sees this worktree; the user's checkout and the run
directory (the evidence) stay outside its reach.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator import envcache, freshcheckout, gitops
from orchestrator.clock import parse_utc
from orchestrator.environment import expand, path_prefix, snapshot_dir
from orchestrator.errors import BadInput, Refused, Tripped
from orchestrator.fsio import atomic_write_bytes
from orchestrator.model import ChangesRecord, FileChange
from orchestrator.redact import Redactor
from orchestrator.runs import Run
from orchestrator.sandbox import SandboxSpec


def create(run: Run) -> Path:
    path = run.workspace
    if not path.exists():
        gitops.add_worktree(run.repo, path, run.manifest.git.base)
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
        freshcheckout.remove(run.repo, checkout_dir(run))
        gitops.remove_worktree(run.repo, run.workspace)
    except (gitops.GitError, OSError) as exc:
        return f"workspace not removed ({exc}); `git worktree remove --force {run.workspace}` removes it"
    return "workspace removed (ORCH_KEEP_WORKSPACE=1 keeps it)"


def scratch_dir(run: Run) -> Path:
    """Private HOME/TMPDIR for sandboxed processes: run state, not evidence."""
    return run.settings.state_dir / "scratch" / f"{run.task.id}-{run.id}"


def run_deadline(run: Run) -> float:
    """Seconds left of the run's wall-time budget (limits.wall_seconds)."""
    started = parse_utc(run.manifest.started_at)
    return run.task.limits["wall_seconds"] - (time.time() - started.timestamp())


@contextmanager
def bounded(run: Run) -> Iterator[Callable[[], float]]:
    """Host-side work on the workspace under the run's remaining time: yields a `seconds left` function;
    a git command still running when the budget ends trips `wall_seconds`."""
    limit = run.task.limits["wall_seconds"]

    def left() -> float:
        remaining = run_deadline(run)
        if remaining <= 0:
            raise Tripped(
                "wall_seconds", limit, round(limit - remaining, 3), "host-side work on the workspace"
            )
        return remaining

    try:
        yield left
    except gitops.GitTimeout as exc:
        raise Tripped("wall_seconds", limit, round(limit - run_deadline(run), 3), str(exc)) from None


def spec_for(run: Run, extra_env: dict[str, str] | None = None, where: Path | None = None) -> SandboxSpec:
    """The sandbox a process of this run gets, in `where` (default: the workspace), with the time it has left.

    The timeout is whatever is shorter: what is left of the phase's budget
    (limits.phase_wall_seconds) or of the run's (limits.wall_seconds).
    """
    limits = run.task.limits
    phase_left = limits["phase_wall_seconds"] - (time.monotonic() - run.phase_started)
    run_left = run_deadline(run)
    if run_left <= 0:
        raise Tripped(
            "wall_seconds", limits["wall_seconds"], round(limits["wall_seconds"] - run_left, 3), "run"
        )
    if phase_left <= 0:
        raise Tripped(
            "phase_wall_seconds",
            limits["phase_wall_seconds"],
            round(limits["phase_wall_seconds"] - phase_left, 3),
        )
    if run_left <= phase_left:
        wall_name, wall_spent = "wall_seconds", limits["wall_seconds"] - run_left
    else:
        wall_name, wall_spent = "phase_wall_seconds", limits["phase_wall_seconds"] - phase_left
    workspace = where or run.workspace
    return SandboxSpec(
        workspace=workspace,
        scratch=scratch_dir(run),
        wall_seconds=max(min(phase_left, run_left), 0.001),
        max_output_bytes=limits["max_output_bytes"],
        network_hosts=tuple(expand(run.task.network_hosts)),
        cloud_providers=tuple(run.task.cloud_providers),
        isolate=not run.settings.unsafe_no_isolation,
        extra_env=extra_env or {},
        max_processes=limits["max_processes"],
        max_memory_mb=limits["max_memory_mb"],
        stop_file=run.settings.state_dir / "STOP",
        wall_name=wall_name,
        wall_spent=max(wall_spent, 0.0),
        path_prefix=tuple(path_prefix(workspace, prepared_paths(run))),
    )


DIFF_CAP = 1 << 20
"""Most bytes of diff.patch. The review reads diff.patch, so a longer patch trips `max_diff_bytes`
rather than being published with a part nobody reviewed."""
FILES_CAP = 1000
"""The manifest's `changes.files` lists at most this many files (`files_changed` counts them all)."""


def record_changes(run: Run, redactor: Redactor, tree: str) -> list[gitops.FileChange]:
    """Writes diff.patch (redacted, at most DIFF_CAP bytes) and the per-file +/- counts (at most
    FILES_CAP files) into the manifest, then trips `max_diff_bytes` when the patch was longer.

    `tree` is the change's tree as `scope.check_workspace` built it (sized first, no filters);
    git runs under the run's remaining time."""
    base = run.manifest.git.base
    with bounded(run) as left:
        changes = gitops.diff_stat(run.workspace, base, tree, timeout=left())
        patch, size = gitops.diff_patch(run.workspace, base, tree, DIFF_CAP, timeout=left())
    text = redactor.redact(patch.decode("utf-8", "replace"))
    if size > DIFF_CAP:
        text += f"\n[diff.patch cut at {DIFF_CAP} of {size} bytes]\n"
    atomic_write_bytes(run.layout.diff, text.encode("utf-8"))
    listed = changes[:FILES_CAP]
    run.record.changes(
        ChangesRecord(
            tree=tree,
            files=[FileChange(c.path, c.added, c.deleted, c.binary) for c in listed],
            files_changed=len(changes),
            lines_added=sum(c.added for c in changes),
            lines_deleted=sum(c.deleted for c in changes),
            files_truncated=True if len(listed) < len(changes) else None,
            diff_truncated=True if size > DIFF_CAP else None,
        )
    )
    if size > DIFF_CAP:
        raise Tripped(
            "max_diff_bytes", DIFF_CAP, size, "the review reads diff.patch, so it must hold the whole change"
        )
    return changes


def checkout_dir(run: Run) -> Path:
    """The fresh checkout verify and the plugin run on (beside the workspace, never the workspace)."""
    return run.workspace.with_name(f"{run.workspace.name}-tested")


def fresh_checkout(run: Run) -> Path:
    """A new checkout of exactly the recorded change tree (`changes.tree`), written without filters.

    Raises BadInput when the run has no recorded tree (its execute phase never got that far)."""
    tree = run.manifest.changes.tree if run.manifest.changes else None
    if not tree and run.workspace.is_dir():  # a phase run alone on a workspace no execute phase recorded
        from orchestrator.scope import change_tree, check_git_file

        if (why := check_git_file(run)) is not None:
            raise Refused(why)
        tree = change_tree(run)
        record_changes(run, Redactor.from_environ(), tree)
    if not tree:
        raise BadInput(
            f"run {run.id} has no recorded change tree: its execute phase did not finish; "
            f"start a new run: nox -s run -- {run.task.id}"
        )
    with bounded(run) as left:
        checkout = freshcheckout.checkout(run.repo, run.manifest.git.base, tree, checkout_dir(run), left())
    if paths := prepared_paths(run):  # the environment setup made, never what the executor did to it
        envcache.reset(snapshot_dir(scratch_dir(run)), paths, checkout)
    return checkout


def prepared_paths(run: Run) -> list[str]:
    """The ignored paths the prepare phase installed (recorded in the manifest); [] without an environment."""
    return run.manifest.prepared_paths()


def record_tested(run: Run, checkout: Path, phase: str) -> None:
    """After checks ran on the checkout: its tracked files must still be the change tree, byte for byte.

    The result is `changes.tested_tree`; publish commits the change only when it is that tree."""
    from orchestrator.errors import Refused

    tree = changes_tree(run)
    with bounded(run) as left:
        now, changed = freshcheckout.tree_after_checks(run.repo, checkout, tree, left())
    run.record.tested_tree(now)
    if changed:
        shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
        raise Refused(
            f"{phase} changed tracked files of the tree under test, so what was tested is not what "
            f"would be published: {shown}"
        )


def changes_tree(run: Run) -> str:
    """The recorded change tree (`changes.tree`); BadInput when the run has none."""
    tree = run.manifest.changes.tree if run.manifest.changes else None
    if not tree:
        raise BadInput(f"run {run.id} has no recorded change tree: its execute phase did not finish")
    return tree


def remove_checkout(run: Run) -> None:
    if os.environ.get("ORCH_KEEP_WORKSPACE", "") in ("", "0"):
        freshcheckout.remove(run.repo, checkout_dir(run))

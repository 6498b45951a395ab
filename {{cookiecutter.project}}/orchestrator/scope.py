"""The workspace guard: what the execution plane changed must stay in bounds.

`check_workspace(run)` runs right after every sandboxed phase (the executor, setup, the
checks): a diff that touches control-plane files or leaves the pack's scope, a symlink
out of the workspace, a replaced workspace `.git`, or a change that would publish
something other than what is tested (`orchestrator.tested`) fails the run with exit 3
even when the write succeeded. What only an escape could change outside the workspace
is compared by `orchestrator.guard`. Its filesystem checks come before any git command
runs in the workspace, because git would execute what a planted `.git` directory
configures. Each violation is also recorded as a `deny` decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator import ceilings, gitops, tested
from orchestrator.breakers import Trip, raise_if
from orchestrator.controlplane import CONTROL_PLANE, is_control_plane
from orchestrator.environment import tolerated_link
from orchestrator.errors import Refused
from orchestrator.model import Ruling
from orchestrator.recording import decide
from orchestrator.runs import Run
from orchestrator.sandbox import escaping_symlinks
from orchestrator.sandbox.gitview import gitdir_file
from orchestrator.taskpack.model import in_allowed_paths, in_forbidden_paths
from orchestrator.workspace import bounded


def scope_with_ceilings(run: Run) -> dict[str, Any]:
    """The pack's scope with the repository's `never_in_scope` added to its forbidden paths: whatever the
    globs of allowed_paths reach, a changed path under a never_in_scope glob is refused."""
    never = list(ceilings.of_repository(run.repo).never_in_scope)
    return {**run.task.scope, "forbidden_paths": [*run.task.scope.get("forbidden_paths", []), *never]}


def _expected_git_dir(run: Run) -> Path:
    return (run.repo / ".git" / "worktrees" / run.workspace.name).resolve()


def check_git_file(run: Run) -> str | None:
    """The workspace's `.git` must still be the file git wrote, naming this run's worktree."""
    dot_git = run.workspace / ".git"
    if dot_git.is_symlink() or dot_git.is_dir():
        return (
            "the workspace's .git was replaced by a directory or symlink (a planted repository: hooks/config)"
        )
    if not dot_git.is_file():
        return "the workspace's .git file was removed"
    found = gitdir_file(run.workspace)
    expected = _expected_git_dir(run)
    if found is None or found.resolve() != expected:
        return f"the workspace's .git file was rewritten (points at {found}, expected {expected})"
    return None


def scope_violations(
    paths: list[str], scope: dict[str, Any], extra_control_plane: tuple[str, ...] = ()
) -> tuple[list[str], list[str], list[str]]:
    """(control-plane paths, paths outside allowed_paths, paths in forbidden_paths)."""
    control = [p for p in paths if is_control_plane(p, extra_control_plane)]
    outside = [p for p in paths if p not in control and not in_allowed_paths(scope, p)]
    banned = [p for p in paths if p not in control and in_forbidden_paths(scope, p)]
    return control, outside, banned


def _listing(items: list[str]) -> str:
    return ", ".join(items[:10]) + (f" and {len(items) - 10} more" if len(items) > 10 else "")


def check_workspace(run: Run, *, scope: bool = True) -> str | None:
    """Refuses (exit 3) a workspace the execution plane has taken out of bounds; returns the change's tree.

    Call it right after the executor, before anything outside the sandbox runs git
    in, or reads files from, the workspace; and with `scope=False` after a sandboxed
    phase whose checks may leave build files but must not leave symlinks out or a
    replaced `.git`. With `scope=True` it sizes the change with lstat first (the
    `max_changed_files` and `max_change_bytes` breakers trip before anything is read),
    refuses what would make the published tree differ from the tested one
    (`tested.refusals`), builds the tree without filters and checks its scope.
    Each violation is also recorded as a `deny` decision.
    """
    if not run.workspace.exists():
        return None
    problems: list[tuple[str, str]] = []
    if (why := check_git_file(run)) is not None:
        problems.append(("workspace.git", why))
        _refuse(run, problems)
    prepared = run.manifest.prepared_paths()
    links = [
        link for link in escaping_symlinks(run.workspace) if not tolerated_link(run.workspace, prepared, link)
    ]
    if links:
        problems.append(("workspace.symlinks", f"symlinks out of the workspace: {_listing(links)}"))
    if problems:
        _refuse(run, problems)
    if not scope:
        return None
    tree = change_tree(run)
    with bounded(run) as left:
        paths = [c.path for c in gitops.diff_stat(run.workspace, run.manifest.git.base, tree, timeout=left())]
    control, outside, banned = scope_violations(
        paths, scope_with_ceilings(run), run.settings.policy.control_plane
    )
    if control:
        problems.append(
            ("workspace.control-plane", f"the change touches control-plane files: {_listing(control)}")
        )
    if outside:
        problems.append(
            ("workspace.scope", f"the change touches paths outside scope.allowed_paths: {_listing(outside)}")
        )
    if banned:
        problems.append(
            (
                "workspace.forbidden",
                (
                    "the change touches scope.forbidden_paths or the repository's "
                    f"never_in_scope: {_listing(banned)}"
                ),
            )
        )
    if problems:
        _refuse(run, problems)
    return tree


def change_tree(run: Run) -> str:
    """The workspace's change as a tree, sized with lstat first, built without filters; refuses what
    would make the published tree differ from the tested one (`tested.refusals`)."""
    with bounded(run) as left:
        base = run.manifest.git.base
        candidates = tested.measure(run.workspace, tested.candidate_paths(run.workspace, base, left()))
        raise_if(check_candidates(candidates, run.task.limits))
        problems = tested.refusals(
            run.workspace, candidates, (*CONTROL_PLANE, *run.settings.policy.control_plane)
        )
        if problems:
            _refuse(run, problems)
        return tested.build_tree(run.workspace, run.workspace, base, candidates, left())


def check_candidates(candidates: list[tested.Candidate], limits: dict[str, Any]) -> Trip | None:
    """The change's size, from lstat alone: more paths than max_changed_files, or more bytes than
    max_change_bytes, trips before the host hashes, diffs or copies any of it."""
    if len(candidates) > limits["max_changed_files"]:
        return Trip(
            "max_changed_files",
            limits["max_changed_files"],
            len(candidates),
            "counted with lstat before reading: untracked, modified, deleted and staged paths",
        )
    total = sum(c.size for c in candidates)
    if total > limits["max_change_bytes"]:
        biggest = max(candidates, key=lambda c: c.size)
        return Trip(
            "max_change_bytes",
            limits["max_change_bytes"],
            total,
            f"apparent size from lstat, before reading; largest: {biggest.path} ({biggest.size} bytes)",
        )
    return None


def _refuse(run: Run, problems: list[tuple[str, str]]) -> None:
    for decision_id, reason in problems:
        decide(run, decision_id, Ruling.DENY, reason)
    raise Refused("; ".join(reason for _, reason in problems))


def changed_paths(run: Run) -> list[str]:
    """The paths the change touches (its tree built as check_workspace builds it)."""
    tree = check_workspace(run)
    if tree is None:
        return []
    return [c.path for c in gitops.diff_stat(run.workspace, run.manifest.git.base, tree)]

"""The publish phase: the change and the run's evidence, committed on the task branch.

Commits are built with git plumbing from the workspace tree, so the user's
checkout and the base branch are never touched. A succeeded run gets two commits:
the change itself (its id becomes `git.head`), then the evidence on top of it.
Any other run gets the evidence commit only: a refused or failed change is never
published as code, but what happened is.

A change commit's parent is the run's own base commit, so `git diff
<base>...codex/<id>` shows exactly this run's change and the task's `runs/`. When
the branch already exists, the evidence commit is a merge: first parent this run's
line, second parent the branch's previous head. Earlier runs' commits and evidence
stay reachable from the branch itself (a push carries them), no second ref has to
be kept in step, and the merge-base with the base branch only ever moves forward.
A run with no change to publish whose base the branch already contains (a refused
rerun, say) only adds its evidence on top: it never drops the published change nor
moves the branch back to an older base.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from orchestrator import gitops, tested, workspace
from orchestrator.errors import Refused
from orchestrator.layout import LOGS
from orchestrator.model import RunStatus, Status
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run, derive_status

REMOTE = "origin"
CAPPED_DIRS = (LOGS, "codex")
FILE_CAP = 1 << 20
"""Logs and agent transcripts above this size stay in runs/ but are not committed."""


def evidence_files(run: Run) -> tuple[dict[str, Path], list[str]]:
    """Run-dir files to commit, keyed by repo path, and the ones left out for size."""
    prefix = run.dir.relative_to(run.repo).as_posix()
    chosen: dict[str, Path] = {}
    omitted: list[str] = []
    for path in sorted(p for p in run.dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = run.rel(path)
        if rel.split("/", 1)[0] in CAPPED_DIRS and path.stat().st_size > FILE_CAP:
            omitted.append(rel)
            continue
        chosen[f"{prefix}/{rel}"] = path
    return chosen, omitted


def run(run: Run, log: PhaseLog) -> PhaseResult:

    settings, manifest = run.settings, run.manifest
    branch = manifest.git.branch
    if branch == settings.base_branch:
        raise Refused(f"the task branch {branch!r} is the base branch; publish never commits to it")
    repo = run.repo
    old = gitops.rev_parse(repo, f"refs/heads/{branch}")
    base = manifest.git.base
    ident = gitops.identity(repo)
    keep = f"runs/{run.task.id}"
    status, reason = derive_status(manifest)
    changes = manifest.changes
    publish = status == RunStatus.SUCCEEDED and changes is not None and bool(changes.files_changed)
    change_tree = changes.tree if publish and changes is not None else None
    tested_tree = changes.tested_tree if changes is not None else None
    parent = base
    if not change_tree and old and gitops.is_ancestor(repo, base, old):
        parent = old  # nothing to publish as code: the branch keeps its change and its (newer or same) base
    start_tree = f"{parent}^{{tree}}"
    head = None
    if change_tree:
        tested.check_published(repo, change_tree, tested_tree)
        head = gitops.commit_tree(
            repo,
            start_tree=change_tree,
            keep_from=None,
            keep_prefix=keep,
            add={},
            parents=[base],
            message=f"{run.task.id}: {run.task.data.get('title', '')}\n\nChange made by run {run.id} "
            f"({manifest.executor.kind} executor).\nTask-Id: {run.task.id}\nRun-Id: {run.id}\n",
            identity=ident,
        )
        parent, start_tree = head, change_tree
        log.note(f"change commit {head}")
    run.record.head(head)
    for rel in evidence_files(run)[1]:
        log.note(f"not committed (over {FILE_CAP} bytes): {rel}")
    # The committed run directory must verify on its own: the pipeline records this phase as passed,
    # re-renders the summary and re-seals the evidence of what is about to be committed.
    run.seal(f"committed to {branch}")
    files, _ = evidence_files(run)
    evidence_commit = gitops.commit_tree(
        repo,
        start_tree=start_tree,
        keep_from=old,
        keep_prefix=keep,
        add=files,
        parents=gitops.branch_parents(repo, parent, old),
        message=f"{run.task.id}: evidence of run {run.id} ({status})\n\n{reason}\n\n"
        f"Task-Id: {run.task.id}\nRun-Id: {run.id}\nRun-Status: {status}\n",
        identity=ident,
    )
    gitops.update_branch(repo, branch, evidence_commit, old)
    log.note(f"{branch} -> {evidence_commit} (was {old or 'new, from ' + settings.base_branch})")
    run.record.evidence_commit(evidence_commit)
    if settings.push:
        push(run, log, branch)
    log.note(workspace.discard(run))
    return PhaseResult(Status.PASSED, f"committed to {branch}", 0, [run.layout.summary])


def push(run: Run, log: PhaseLog, branch: str) -> None:
    gitops.require_remote(run.repo, REMOTE)
    proc = subprocess.run(
        ["git", "push", REMOTE, f"refs/heads/{branch}:refs/heads/{branch}"],
        cwd=run.repo,
        capture_output=True,
        text=True,
        check=False,
    )
    log.command(
        f"git push {REMOTE} {branch}",
        proc.returncode,
        0.0,
        proc.stdout + proc.stderr,
        len(proc.stdout) + len(proc.stderr),
    )
    if proc.returncode != 0:
        raise Refused(f"push of {branch} to {REMOTE!r} failed: {log.redactor.redact(proc.stderr.strip())}")
    run.record.pushed()

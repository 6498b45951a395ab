"""The safety phase, and the workspace guard the pipeline runs after every sandboxed phase.

The phase decides before anything of the execution plane runs, and records every
decision in the manifest (`safety.decisions`: id, allow | deny | refuse | unsafe, reason):
- the pack's declarations (network hosts, cloud providers) against the repository's
  policy (`[tool.orchestrator.policy]` allow_network / allow_cloud);
- secrets inside the task pack directory and its context files (detect-secrets);
- whether the sandbox can be built here (else refused, unless the explicit override
  ORCH_UNSAFE_NO_ISOLATION=1 makes it an `unsafe` decision and an UNSAFE run);
- that the user's working tree is clean (runs/ and .orchestrator/ aside).
It also fingerprints the repository's git control files (hooks, config), so the guard
can prove afterwards that nothing was planted there.

`check_workspace(run)` is the workspace guard: a diff that touches control-plane files or
leaves the pack's scope, a symlink out of the workspace, a replaced workspace `.git`, or a
change that would publish something other than what is tested (`orchestrator.tested`)
fails the run with exit 3 even when the write succeeded. What only an escape could
change outside the workspace is compared by `orchestrator.guard`.
Its filesystem checks come before any git command runs in the workspace, because
git would execute what a planted `.git` directory configures.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from orchestrator import ceilings, gitops, tested
from orchestrator.breakers import Trip, raise_if
from orchestrator.controlplane import CONTROL_PLANE, is_control_plane
from orchestrator.environment import tolerated_link
from orchestrator.errors import Refused
from orchestrator.globs import match_any, match_path
from orchestrator.phaselog import PhaseLog
from orchestrator.redact import scan_text_for_secrets
from orchestrator.runs import PhaseResult, Run
from orchestrator.sandbox import Execution, escaping_symlinks, isolation_available
from orchestrator.workspace import bounded

IGNORED_DIRTY = ("runs/", ".orchestrator/")
SCAN_LIMIT_BYTES = 2 * 1024 * 1024
"""Task-pack files larger than this are not scanned for secrets (reported as skipped)."""


def decide(run: Run, decision_id: str, decision: str, reason: str) -> dict[str, str]:
    entry = {"id": decision_id, "decision": decision, "reason": reason}
    decisions = run.manifest.setdefault("safety", {}).setdefault("decisions", [])
    decisions[:] = [d for d in decisions if d.get("id") != decision_id]
    decisions.append(entry)
    return entry


# --- the phase --------------------------------------------------------------------------


def _declarations(run: Run) -> tuple[list[str], list[str]]:
    safety = run.task.safety
    hosts = list(safety.get("network", {}).get("hosts", []))
    providers = list(safety.get("cloud", {}).get("providers", []))
    return hosts, providers


def check_policy(run: Run) -> list[dict[str, str]]:
    """Each declaration against `[tool.orchestrator.policy]`: none, allowed, or refused by the repo."""
    hosts, providers = _declarations(run)
    policy = run.settings.policy
    rules = (
        ("network", hosts, policy.allow_network, "network hosts", "safety.network.hosts", "allow_network",
         "no network declared: the sandbox has none", "declared hosts only, through the egress proxy"),
        ("cloud", providers, policy.allow_cloud, "cloud providers", "safety.cloud.providers", "allow_cloud",
         "no cloud provider declared: cloud CLIs refuse, no credentials", "declared providers"),
    )
    out = []
    for kind, declared, allowed, what, field_, switch, none_text, allow_text in rules:
        listed = ", ".join(declared)
        if not declared:
            out.append(decide(run, kind, "allow", none_text))
        elif not allowed:
            out.append(decide(run, kind, "refuse",
                              f"the pack declares {what} ({listed}) but pyproject.toml [tool.orchestrator.policy] "
                              f"{switch} = false; remove {field_} or change the repository policy"))
        else:
            out.append(decide(run, kind, "allow", f"{allow_text}: {listed}"))
    return out


def scope_with_ceilings(run: Run) -> dict[str, Any]:
    """The pack's scope with the repository's `never_in_scope` added to its forbidden paths: whatever the
    globs of allowed_paths reach, a changed path under a never_in_scope glob is refused."""
    never = list(ceilings.of_repository(run.repo).never_in_scope)
    return {**run.task.scope, "forbidden_paths": [*run.task.scope.get("forbidden_paths", []), *never]}


def check_ceilings(run: Run) -> dict[str, str]:
    """The pack against the repository's policy ceilings (hosts, providers, executors, limits, scope)."""
    found = ceilings.check_file(run.task.file, run.manifest["task"]["path"], run.task.data,
                                ceilings.of_repository(run.repo))
    if found:
        return decide(run, "ceilings", "refuse", "over the repository's policy ceilings: "
                      + "; ".join(str(p) for p in found))
    return decide(run, "ceilings", "allow", "within the repository's policy ceilings")


def pack_files(run: Run) -> list[Path]:
    """Every file of the pack's directory, plus its context files (repository-relative)."""
    files = sorted(p for p in run.task.dir.rglob("*") if p.is_file() and not p.is_symlink())
    for rel in run.task.context:
        path = run.repo / rel
        if path.is_file() and path not in files:
            files.append(path)
    return files


def check_pack_secrets(run: Run) -> dict[str, str]:
    findings: list[str] = []
    skipped: list[str] = []
    for path in pack_files(run):
        rel = path.relative_to(run.repo).as_posix() if path.is_relative_to(run.repo) else path.name
        if path.stat().st_size > SCAN_LIMIT_BYTES:
            skipped.append(rel)
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        findings.extend(f"{rel}:{line}: {kind}" for line, kind in scan_text_for_secrets(text, path.name))
    if findings:
        shown = "; ".join(findings[:10]) + (f"; and {len(findings) - 10} more" if len(findings) > 10 else "")
        return decide(run, "secrets", "refuse",
                      f"the task pack holds what looks like a secret ({shown}); secrets are forbidden to the "
                      "execution plane: remove it (reference a variable name instead), or mark a false positive "
                      "with a `pragma: allowlist secret` comment")
    note = f" (not scanned, too large: {', '.join(skipped)})" if skipped else ""
    return decide(run, "secrets", "allow", f"no secret found in the task pack or its context files{note}")


def check_isolation(run: Run) -> dict[str, str]:
    if run.settings.unsafe_no_isolation:
        run.manifest["unsafe"] = True
        return decide(run, "isolation", "unsafe",
                      "ORCH_UNSAFE_NO_ISOLATION=1: processes run WITHOUT namespaces (no network, filesystem or "
                      "process isolation); this run is UNSAFE")
    ok, why = isolation_available()
    if ok:
        return decide(run, "isolation", "allow", why)
    return decide(run, "isolation", "refuse", why)


def dirty(repo: Path) -> list[str]:
    return [p for p in gitops.dirty_paths(repo) if not p.strip('"').startswith(IGNORED_DIRTY)]


def check_clean(run: Run) -> dict[str, str]:
    paths = dirty(run.repo)
    if paths:
        shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
        return decide(run, "worktree", "refuse",
                      f"the working tree has uncommitted changes ({shown}); commit or stash them "
                      "(git stash --include-untracked) and start the run again")
    return decide(run, "worktree", "allow", "the working tree is clean")


def git_control_digest(repo: Path, workspace: Path | None = None) -> str:
    """A digest of what git would execute or obey: hooks, config, and the worktree's own config."""
    git_dir = repo / ".git"
    digest = hashlib.sha256()
    paths: list[Path] = []
    for sub in ("hooks", "info"):
        base = git_dir / sub
        if base.is_dir():
            paths.extend(sorted(p for p in base.rglob("*") if p.is_file() or p.is_symlink()))
    paths.extend(p for p in (git_dir / "config", git_dir / "config.worktree") if p.exists())
    if workspace is not None:
        private = worktree_git_dir(workspace)
        if private is not None and private.is_dir():
            paths.extend(sorted(p for p in private.iterdir() if p.name in ("config", "config.worktree", "hooks")))
    for path in paths:
        digest.update(os.fsencode(path.relative_to(git_dir) if path.is_relative_to(git_dir) else path.name) + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.fsencode(os.readlink(path)))
        elif path.is_file():
            digest.update(path.read_bytes())
        digest.update(f"\0{path.stat().st_mode if path.exists() else 0:o}\0".encode())
    return digest.hexdigest()


def run(run: Run, log: PhaseLog) -> PhaseResult:
    """Takes every decision (all are recorded, so a refusal lists every reason at once)."""
    run.manifest.setdefault("safety", {})["decisions"] = []
    run.manifest["safety"].setdefault("denied", [])
    decisions = [*check_policy(run), check_ceilings(run), check_pack_secrets(run), check_isolation(run),
                 check_clean(run)]
    run.manifest["safety"]["git_control_sha256"] = git_control_digest(run.repo)
    if run.settings.policy.control_plane:
        run.manifest["safety"]["control_plane"] = list(run.settings.policy.control_plane)
    for entry in decisions:
        log.note(f"{entry['id']}: {entry['decision']}: {entry['reason']}")
    refused = [d for d in decisions if d["decision"] in ("refuse", "deny")]
    if refused:
        raise Refused("; ".join(f"{d['id']}: {d['reason']}" for d in refused))
    unsafe = any(d["decision"] == "unsafe" for d in decisions)
    if unsafe:
        return PhaseResult("warning", "UNSAFE: running without isolation (ORCH_UNSAFE_NO_ISOLATION=1)")
    return PhaseResult("passed", f"{len(decisions)} decisions, all allow")


# --- the workspace guard ----------------------------------------------------------------


def worktree_git_dir(workspace: Path) -> Path | None:
    dot_git = workspace / ".git"
    if not dot_git.is_file() or dot_git.is_symlink():
        return None
    text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("gitdir:") or "\n" in text:
        return None
    path = Path(text.split(":", 1)[1].strip())
    return path if path.is_absolute() else (workspace / path).resolve()


def _expected_git_dir(run: Run) -> Path:
    return (run.repo / ".git" / "worktrees" / run.workspace.name).resolve()


def check_git_file(run: Run) -> str | None:
    """The workspace's `.git` must still be the file git wrote, naming this run's worktree."""
    dot_git = run.workspace / ".git"
    if dot_git.is_symlink() or dot_git.is_dir():
        return "the workspace's .git was replaced by a directory or symlink (a planted repository: hooks/config)"
    if not dot_git.is_file():
        return "the workspace's .git file was removed"
    found = worktree_git_dir(run.workspace)
    expected = _expected_git_dir(run)
    if found is None or found.resolve() != expected:
        return f"the workspace's .git file was rewritten (points at {found}, expected {expected})"
    return None


def scope_violations(paths: list[str], scope: dict[str, Any],
                     extra_control_plane: tuple[str, ...] = ()) -> tuple[list[str], list[str], list[str]]:
    """(control-plane paths, paths outside allowed_paths, paths in forbidden_paths)."""
    control = [p for p in paths if is_control_plane(p, extra_control_plane)]
    allowed = scope.get("allowed_paths", [])
    forbidden = scope.get("forbidden_paths", [])
    outside = [p for p in paths if p not in control and not any(match_path(g, p) for g in allowed)]
    banned = [p for p in paths if p not in control and match_any(forbidden, p)]
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
    prepared = run.manifest.get("environment", {}).get("paths", [])
    links = [link for link in escaping_symlinks(run.workspace) if not tolerated_link(run.workspace, prepared, link)]
    if links:
        problems.append(("workspace.symlinks", f"symlinks out of the workspace: {_listing(links)}"))
    if problems:
        _refuse(run, problems)
    if not scope:
        return None
    tree = change_tree(run)
    with bounded(run) as left:
        paths = [c.path for c in gitops.diff_stat(run.workspace, run.manifest["git"]["base"], tree, timeout=left())]
    control, outside, banned = scope_violations(paths, scope_with_ceilings(run), run.settings.policy.control_plane)
    if control:
        problems.append(("workspace.control-plane", f"the change touches control-plane files: {_listing(control)}"))
    if outside:
        problems.append(("workspace.scope", f"the change touches paths outside scope.allowed_paths: {_listing(outside)}"))
    if banned:
        problems.append(("workspace.forbidden", ("the change touches scope.forbidden_paths or the repository's "
                         f"never_in_scope: {_listing(banned)}")))
    if problems:
        _refuse(run, problems)
    return tree


def change_tree(run: Run) -> str:
    """The workspace's change as a tree, sized with lstat first, built without filters; refuses what
    would make the published tree differ from the tested one (`tested.refusals`)."""
    with bounded(run) as left:
        base = run.manifest["git"]["base"]
        candidates = tested.measure(run.workspace, tested.candidate_paths(run.workspace, base, left()))
        raise_if(check_candidates(candidates, run.task.limits))
        problems = tested.refusals(run.workspace, candidates, (*CONTROL_PLANE, *run.settings.policy.control_plane))
        if problems:
            _refuse(run, problems)
        return tested.build_tree(run.workspace, run.workspace, base, candidates, left())


def check_candidates(candidates: list[tested.Candidate], limits: dict[str, Any]) -> Trip | None:
    """The change's size, from lstat alone: more paths than max_changed_files, or more bytes than
    max_change_bytes, trips before the host hashes, diffs or copies any of it."""
    if len(candidates) > limits["max_changed_files"]:
        return Trip("max_changed_files", limits["max_changed_files"], len(candidates),
                    "counted with lstat before reading: untracked, modified, deleted and staged paths")
    total = sum(c.size for c in candidates)
    if total > limits["max_change_bytes"]:
        biggest = max(candidates, key=lambda c: c.size)
        return Trip("max_change_bytes", limits["max_change_bytes"], total,
                    f"apparent size from lstat, before reading; largest: {biggest.path} ({biggest.size} bytes)")
    return None


def _refuse(run: Run, problems: list[tuple[str, str]]) -> None:
    for decision_id, reason in problems:
        decide(run, decision_id, "deny", reason)
    raise Refused("; ".join(reason for _, reason in problems))


def changed_paths(run: Run) -> list[str]:
    """The paths the change touches (its tree built as check_workspace builds it)."""
    tree = check_workspace(run)
    if tree is None:
        return []
    return [c.path for c in gitops.diff_stat(run.workspace, run.manifest["git"]["base"], tree)]


# --- recording what the sandbox saw -----------------------------------------------------


def record_execution(run: Run, log: PhaseLog, phase: str, execution: Execution) -> None:
    """Puts what the sandbox allowed and denied, and how its limits held, into the manifest (`safety.used`,
    `safety.denied`, `safety.limits_enforced`) and the phase log: the facts the review judges the pack by."""
    safety = run.manifest.setdefault("safety", {})
    if execution.limits_enforced:
        safety.setdefault("limits_enforced", {}).update({k: str(v) for k, v in execution.limits_enforced.items()})
    used = safety.setdefault("used", [])
    for target in execution.allowed:
        entry = {"kind": "network", "target": target, "phase": phase}
        if entry not in used:
            used.append(entry)
            log.note(f"used network: {target}")
    denied = safety.setdefault("denied", [])
    prepared = run.manifest.get("environment", {}).get("paths", [])
    for item in execution.denied:
        if item["kind"] == "symlink" and tolerated_link(run.workspace, prepared, item["target"]):
            continue
        entry = {**item, "phase": phase}
        if entry not in denied:
            denied.append(entry)
        log.note(f"denied {item['kind']}: {item['target']}")
    if execution.breaker:
        log.note(f"breaker {execution.breaker} tripped: limit {execution.limit}, measured {execution.measured}")

"""The safety phase: every decision taken before anything of the execution plane runs.

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

The workspace guard the pipeline runs after every sandboxed phase is `orchestrator.scope`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from orchestrator import ceilings, gitops
from orchestrator.errors import Refused
from orchestrator.model import Decision, Ruling, Status
from orchestrator.phaselog import PhaseLog
from orchestrator.recording import decide
from orchestrator.redact import scan_text_for_secrets
from orchestrator.runs import PhaseResult, Run
from orchestrator.sandbox import isolation_available
from orchestrator.sandbox.gitview import gitdir_file

IGNORED_DIRTY = ("runs/", ".orchestrator/")
SCAN_LIMIT_BYTES = 2 * 1024 * 1024
"""Task-pack files larger than this are not scanned for secrets (reported as skipped)."""


# --- the phase --------------------------------------------------------------------------


def _declarations(run: Run) -> tuple[list[str], list[str]]:
    return run.task.network_hosts, run.task.cloud_providers


def check_policy(run: Run) -> list[Decision]:
    """Each declaration against `[tool.orchestrator.policy]`: none, allowed, or refused by the repo."""
    hosts, providers = _declarations(run)
    policy = run.settings.policy
    rules = (
        (
            "network",
            hosts,
            policy.allow_network,
            "network hosts",
            "safety.network.hosts",
            "allow_network",
            "no network declared: the sandbox has none",
            "declared hosts only, through the egress proxy",
        ),
        (
            "cloud",
            providers,
            policy.allow_cloud,
            "cloud providers",
            "safety.cloud.providers",
            "allow_cloud",
            "no cloud provider declared: cloud CLIs refuse, no credentials",
            "declared providers",
        ),
    )
    out = []
    for kind, declared, allowed, what, field_, switch, none_text, allow_text in rules:
        listed = ", ".join(declared)
        if not declared:
            out.append(decide(run, kind, Ruling.ALLOW, none_text))
        elif not allowed:
            out.append(
                decide(
                    run,
                    kind,
                    Ruling.REFUSE,
                    f"the pack declares {what} ({listed}) but pyproject.toml [tool.orchestrator.policy] "
                    f"{switch} = false; remove {field_} or change the repository policy",
                )
            )
        else:
            out.append(decide(run, kind, Ruling.ALLOW, f"{allow_text}: {listed}"))
    return out


def check_ceilings(run: Run) -> Decision:
    """The pack against the repository's policy ceilings (hosts, providers, executors, limits, scope)."""
    found = ceilings.check_file(
        run.task.file, run.manifest.task.path, run.task.data, ceilings.of_repository(run.repo)
    )
    if found:
        return decide(
            run,
            "ceilings",
            Ruling.REFUSE,
            "over the repository's policy ceilings: " + "; ".join(str(p) for p in found),
        )
    return decide(run, "ceilings", Ruling.ALLOW, "within the repository's policy ceilings")


def pack_files(run: Run) -> list[Path]:
    """Every file of the pack's directory, plus its context files (repository-relative)."""
    files = sorted(p for p in run.task.dir.rglob("*") if p.is_file() and not p.is_symlink())
    for rel in run.task.context:
        path = run.repo / rel
        if path.is_file() and path not in files:
            files.append(path)
    return files


def check_pack_secrets(run: Run) -> Decision:
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
        return decide(
            run,
            "secrets",
            Ruling.REFUSE,
            f"the task pack holds what looks like a secret ({shown}); secrets are forbidden to the "
            "execution plane: remove it (reference a variable name instead), or mark a false positive "
            "with a `pragma: allowlist secret` comment",
        )
    note = f" (not scanned, too large: {', '.join(skipped)})" if skipped else ""
    return decide(
        run, "secrets", Ruling.ALLOW, f"no secret found in the task pack or its context files{note}"
    )


def check_isolation(run: Run) -> Decision:
    if run.settings.unsafe_no_isolation:
        run.record.unsafe()
        return decide(
            run,
            "isolation",
            Ruling.UNSAFE,
            "ORCH_UNSAFE_NO_ISOLATION=1: processes run WITHOUT namespaces (no network, filesystem or "
            "process isolation); this run is UNSAFE",
        )
    ok, why = isolation_available()
    if ok:
        return decide(run, "isolation", Ruling.ALLOW, why)
    return decide(run, "isolation", Ruling.REFUSE, why)


def dirty(repo: Path) -> list[str]:
    return [p for p in gitops.dirty_paths(repo) if not p.strip('"').startswith(IGNORED_DIRTY)]


def check_clean(run: Run) -> Decision:
    paths = dirty(run.repo)
    if paths:
        shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
        return decide(
            run,
            "worktree",
            Ruling.REFUSE,
            f"the working tree has uncommitted changes ({shown}); commit or stash them "
            "(git stash --include-untracked) and start the run again",
        )
    return decide(run, "worktree", Ruling.ALLOW, "the working tree is clean")


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
        private = gitdir_file(workspace)
        if private is not None and private.is_dir():
            paths.extend(
                sorted(p for p in private.iterdir() if p.name in ("config", "config.worktree", "hooks"))
            )
    for path in paths:
        digest.update(
            os.fsencode(path.relative_to(git_dir) if path.is_relative_to(git_dir) else path.name) + b"\0"
        )
        if path.is_symlink():
            digest.update(b"link:" + os.fsencode(os.readlink(path)))
        elif path.is_file():
            digest.update(path.read_bytes())
        digest.update(f"\0{path.stat().st_mode if path.exists() else 0:o}\0".encode())
    return digest.hexdigest()


def run(run: Run, log: PhaseLog) -> PhaseResult:
    """Takes every decision (all are recorded, so a refusal lists every reason at once)."""
    run.record.reset_decisions()
    decisions = [
        *check_policy(run),
        check_ceilings(run),
        check_pack_secrets(run),
        check_isolation(run),
        check_clean(run),
    ]
    run.record.fingerprint(git_control_digest(run.repo), list(run.settings.policy.control_plane))
    for entry in decisions:
        log.note(f"{entry.id}: {entry.decision}: {entry.reason}")
    refused = [d for d in decisions if d.decision in (Ruling.REFUSE, Ruling.DENY)]
    if refused:
        raise Refused("; ".join(f"{d.id}: {d.reason}" for d in refused))
    unsafe = any(d.decision == Ruling.UNSAFE for d in decisions)
    if unsafe:
        return PhaseResult(Status.WARNING, "UNSAFE: running without isolation (ORCH_UNSAFE_NO_ISOLATION=1)")
    return PhaseResult(Status.PASSED, f"{len(decisions)} decisions, all allow")

"""Run directories and their manifest: creating a run, finding one, recording phases.

A run lives in `runs/<task-id>/<run-id>/`. The manifest is the single source of
truth for a run and is rewritten atomically after every change, so whatever ends
the run, the file on disk is complete and valid against `manifest.v1.json`.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator import __version__, textsafe
from orchestrator.config import Settings
from orchestrator.errors import BadInput
from orchestrator.fsio import read_json, sha256_file, write_json
from orchestrator.phases import NAMES as PHASES
from orchestrator.redact import Redactor
from orchestrator.schemas import first_error
from orchestrator.taskpack import TaskPack

MANIFEST = "manifest.json"
DECISIVE = PHASES[: PHASES.index("review") + 1]
"""Phases whose outcome decides the run's status; the rest only record it."""
STATUS_BY_PHASE = {"failed": "failed", "refused": "refused", "tripped": "tripped", "aborted": "aborted"}
SEVERITY = ("aborted", "tripped", "refused", "failed")


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
"""A run id: the UTC start second and six random hex digits."""


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass
class PhaseResult:
    """What a phase function returns; raising Refused/Tripped/Aborted is the other way out."""

    status: str = "passed"
    reason: str = ""
    exit_code: int = 0
    outputs: list[Path] = field(default_factory=list)


@dataclass
class Run:
    """Everything a phase may read: settings, the task pack, the run dir, the workspace."""

    settings: Settings
    task: TaskPack
    dir: Path
    manifest: dict[str, Any]
    phase_started: float = field(default_factory=time.monotonic)
    """monotonic() when the current phase began; budgets per phase count from here."""
    sealer: Callable[[str], None] | None = None
    """Set by the pipeline for the phase it runs: records it as passed and re-seals the evidence."""

    @property
    def repo(self) -> Path:
        return self.settings.repo

    @property
    def id(self) -> str:
        return str(self.manifest["run_id"])

    @property
    def workspace(self) -> Path:
        """The git worktree the execution plane works in (outside the run dir)."""
        return self.settings.state_dir / "worktrees" / f"{self.task.id}-{self.id}"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.dir.resolve()).as_posix()

    def seal(self, reason: str) -> None:
        """Records the running phase as passed and re-seals the run's evidence (the pipeline's step)."""
        if self.sealer is None:
            raise RuntimeError("seal() is only available inside a phase run by the pipeline")
        self.sealer(reason)

    def save(self) -> None:
        save_manifest(self.dir, self.manifest)


def empty_phase(name: str) -> dict[str, Any]:
    return {
        "status": "pending",
        "started_at": None,
        "ended_at": None,
        "exit_code": None,
        "log": f"logs/{name}.log",
        "outputs": [],
    }


def new_manifest(
    settings: Settings, task: TaskPack, run_id: str, base_commit: str, executor_version: str
) -> dict[str, Any]:
    return {
        "schema": "manifest/v1",
        "run_id": run_id,
        "task": {
            "id": task.id,
            "path": task.file.relative_to(settings.repo).as_posix(),
            "sha256": task.sha256,
            "title": task.data.get("title", ""),
        },
        "git": {
            "base_branch": settings.base_branch,
            "base": base_commit,
            "head": None,
            "branch": settings.branch_for(task.id),
            "pushed": False,
        },
        "executor": {"kind": task.executor["kind"], "version": executor_version, "attempts": 0, "usage": {}},
        "orchestrator": {"version": __version__},
        "started_at": utc_now(),
        "ended_at": None,
        "status": "running",
        "reason": "",
        "unsafe": settings.unsafe_no_isolation,
        "phases": {name: empty_phase(name) for name in PHASES},
        "acceptance": [],
        "safety": {"decisions": [], "denied": []},
        "breakers": [],
        "plugin": None,
    }


def derive_status(manifest: dict[str, Any]) -> tuple[str, str]:
    """The run's status follows from its phases: the most severe outcome wins.

    `running` only while a decisive phase (validate..review) is still pending or
    running and none has failed; evidence, summarize and publish can only fail it.
    """
    phases = manifest["phases"]
    present = [name for name in PHASES if name in phases]  # manifests written before `prepare` lack it
    for severity in SEVERITY:
        for name in present:
            entry = phases[name]
            if entry["status"] == severity:
                reason = entry.get("reason") or f"phase {name} {severity}"
                return STATUS_BY_PHASE[severity], f"{name}: {reason}"
    if any(phases[name]["status"] in ("pending", "running") for name in DECISIVE if name in phases):
        return "running", ""
    warnings = [
        f"{name}: {phases[name].get('reason', '')}" for name in present if phases[name]["status"] == "warning"
    ]
    return "succeeded", "all phases passed" + (f" (warnings: {'; '.join(warnings)})" if warnings else "")


def save_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    status, reason = derive_status(manifest)
    manifest["status"], manifest["reason"] = status, reason
    if status == "running":
        manifest["ended_at"] = None
    else:  # the run ends with its last phase (evidence, summarize and publish come after the verdict)
        ended = [e["ended_at"] for e in manifest["phases"].values() if e.get("ended_at")]
        manifest["ended_at"] = max(ended, default=None) or manifest.get("ended_at") or utc_now()
    write_json(run_dir / MANIFEST, textsafe.json_safe(Redactor.from_environ().redact_json(manifest)))


def load_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MANIFEST
    if not path.is_file():
        raise BadInput(f"{path}: no manifest here; pass --run with a run directory under runs/<task-id>/")
    try:
        manifest = read_json(path)
    except ValueError as exc:
        raise BadInput(f"{path}: not valid JSON ({exc}); the run's manifest is damaged") from None
    if problem := first_error("manifest.v1.json", manifest):
        raise BadInput(f"{path}: {problem} (the manifest does not match manifest/v1)")
    return manifest


def record_outputs(run: Run, phase: str, outputs: list[Path]) -> None:
    entries = {e["path"]: e for e in run.manifest["phases"][phase]["outputs"]}
    for path in outputs:
        rel = run.rel(path)
        entries[rel] = {"path": rel, "sha256": sha256_file(path)}
    run.manifest["phases"][phase]["outputs"] = [entries[k] for k in sorted(entries)]


def task_runs(settings: Settings, task_id: str) -> list[Path]:
    root = settings.runs_dir / task_id
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())


def resolve_run_dir(settings: Settings, task_id: str, explicit: str | None) -> Path:
    """`--run` when given (absolute, or relative to the repo), else the task's latest run."""
    if explicit:
        candidate = Path(explicit)
        path = candidate if candidate.is_absolute() else (settings.repo / candidate)
        if not (path / MANIFEST).is_file():
            raise BadInput(f"--run {explicit}: no manifest.json there; pick one of runs/{task_id}/*/")
        return path.resolve()
    found = task_runs(settings, task_id)
    if not found:
        raise BadInput(f"task {task_id} has no run yet; start one with `nox -s run -- {task_id}`")
    return found[-1].resolve()

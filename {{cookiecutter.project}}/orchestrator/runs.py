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

from orchestrator import __version__, textsafe
from orchestrator.clock import utc_now
from orchestrator.config import Settings
from orchestrator.errors import BadInput
from orchestrator.fsio import read_json, sha256_file, write_json
from orchestrator.layout import MANIFEST, RunLayout
from orchestrator.model import (
    SCHEMA,
    ExecutorRecord,
    GitRecord,
    Manifest,
    OrchestratorRecord,
    Output,
    PhaseRecord,
    PluginRecord,
    ReviewRecord,
    RunStatus,
    SafetyRecord,
    Status,
    TaskRecord,
)
from orchestrator.phases import NAMES as PHASES
from orchestrator.recorder import Recorder
from orchestrator.redact import Redactor
from orchestrator.schemas import first_error
from orchestrator.taskpack import TaskPack

DECISIVE = PHASES[: PHASES.index("review") + 1]
"""Phases whose outcome decides the run's status; the rest only record it."""
STATUS_BY_PHASE = {
    Status.FAILED: RunStatus.FAILED,
    Status.REFUSED: RunStatus.REFUSED,
    Status.TRIPPED: RunStatus.TRIPPED,
    Status.ABORTED: RunStatus.ABORTED,
}
SEVERITY = (Status.ABORTED, Status.TRIPPED, Status.REFUSED, Status.FAILED)


RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
"""A run id: the UTC start second and six random hex digits."""


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


@dataclass
class PhaseResult:
    """What a phase function returns; raising Refused/Tripped/Aborted is the other way out.

    `plugin` and `review` are the manifest sections the phase produced; the pipeline records them."""

    status: Status = Status.PASSED
    reason: str = ""
    exit_code: int = 0
    outputs: list[Path] = field(default_factory=list)
    plugin: PluginRecord | None = None
    review: ReviewRecord | None = None


@dataclass
class Run:
    """Everything a phase may read: settings, the task pack, the run dir, the workspace.

    A phase reads `manifest` and never changes it: what it learns goes through `record`."""

    settings: Settings
    task: TaskPack
    dir: Path
    manifest: Manifest
    phase_started: float = field(default_factory=time.monotonic)
    """monotonic() when the current phase began; budgets per phase count from here."""
    sealer: Callable[[str], None] | None = None
    """Set by the pipeline for the phase it runs: records it as passed and re-seals the evidence."""

    @property
    def record(self) -> Recorder:
        """The one way facts learnt during a phase reach the manifest (see `Recorder`)."""
        return Recorder(self.manifest, self.save)

    @property
    def repo(self) -> Path:
        return self.settings.repo

    @property
    def id(self) -> str:
        return self.manifest.run_id

    @property
    def workspace(self) -> Path:
        """The git worktree the execution plane works in (outside the run dir)."""
        return self.settings.state_dir / "worktrees" / f"{self.task.id}-{self.id}"

    @property
    def layout(self) -> RunLayout:
        """The run directory's artifact paths."""
        return RunLayout(self.dir)

    @property
    def logs(self) -> Path:
        return self.layout.logs

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.dir.resolve()).as_posix()

    def seal(self, reason: str) -> None:
        """Records the running phase as passed and re-seals the run's evidence (the pipeline's step)."""
        if self.sealer is None:
            raise RuntimeError("seal() is only available inside a phase run by the pipeline")
        self.sealer(reason)

    def save(self) -> None:
        save_manifest(self.dir, self.manifest)


def new_manifest(
    settings: Settings, task: TaskPack, run_id: str, base_commit: str, executor_version: str
) -> Manifest:
    return Manifest(
        schema=SCHEMA,
        run_id=run_id,
        task=TaskRecord(
            id=task.id,
            path=task.file.relative_to(settings.repo).as_posix(),
            sha256=task.sha256,
            title=task.data.get("title", ""),
        ),
        git=GitRecord(
            base_branch=settings.base_branch,
            base=base_commit,
            head=None,
            branch=settings.branch_for(task.id),
            pushed=False,
        ),
        executor=ExecutorRecord(kind=task.executor["kind"], version=executor_version, attempts=0, usage={}),
        orchestrator=OrchestratorRecord(version=__version__),
        started_at=utc_now(),
        ended_at=None,
        status=RunStatus.RUNNING,
        reason="",
        unsafe=settings.unsafe_no_isolation,
        phases={name: PhaseRecord.pending(name) for name in PHASES},
        acceptance=[],
        safety=SafetyRecord(decisions=[], denied=[]),
        breakers=[],
        plugin=None,
    )


def derive_status(manifest: Manifest) -> tuple[RunStatus, str]:
    """The run's status follows from its phases: the most severe outcome wins.

    `running` only while a decisive phase (validate..review) is still pending or
    running and none has failed; evidence, summarize and publish can only fail it.
    """
    phases = manifest.phases
    present = [name for name in PHASES if name in phases]  # manifests written before `prepare` lack it
    for severity in SEVERITY:
        for name in present:
            entry = phases[name]
            if entry.status == severity:
                reason = entry.reason or f"phase {name} {severity}"
                return STATUS_BY_PHASE[severity], f"{name}: {reason}"
    if any(phases[name].status in (Status.PENDING, Status.RUNNING) for name in DECISIVE if name in phases):
        return RunStatus.RUNNING, ""
    warnings = [
        f"{name}: {phases[name].reason or ''}" for name in present if phases[name].status == Status.WARNING
    ]
    return RunStatus.SUCCEEDED, "all phases passed" + (
        f" (warnings: {'; '.join(warnings)})" if warnings else ""
    )


def save_manifest(run_dir: Path, manifest: Manifest) -> None:
    status, reason = derive_status(manifest)
    manifest.status, manifest.reason = status, reason
    if status == RunStatus.RUNNING:
        manifest.ended_at = None
    else:  # the run ends with its last phase (evidence, summarize and publish come after the verdict)
        ended = [e.ended_at for e in manifest.phases.values() if e.ended_at]
        manifest.ended_at = max(ended, default=None) or manifest.ended_at or utc_now()
    document = manifest.to_json()
    write_json(run_dir / MANIFEST, textsafe.json_safe(Redactor.from_environ().redact_json(document)))


def load_manifest(run_dir: Path) -> Manifest:
    path = run_dir / MANIFEST
    if not path.is_file():
        raise BadInput(f"{path}: no manifest here; pass --run with a run directory under runs/<task-id>/")
    try:
        document = read_json(path)
    except ValueError as exc:
        raise BadInput(f"{path}: not valid JSON ({exc}); the run's manifest is damaged") from None
    if problem := first_error("manifest.v1.json", document):
        raise BadInput(f"{path}: {problem} (the manifest does not match manifest/v1)")
    try:
        return Manifest.from_json(document)
    except ValueError as exc:
        raise BadInput(f"{path}: {exc} (the manifest does not match manifest/v1)") from None


def apply_result(manifest: Manifest, result: PhaseResult) -> None:
    """The sections a phase handed back with its result, into the manifest (the pipeline's step)."""
    if result.plugin is not None:
        manifest.plugin = result.plugin
    if result.review is not None:
        manifest.review = result.review


def record_outputs(run: Run, phase: str, outputs: list[Path]) -> None:
    """The phase's outputs with their digests (the pipeline's step, after the phase)."""
    entry = run.manifest.phases[phase]
    entries = {e.path: e for e in entry.outputs}
    for path in outputs:
        rel = run.rel(path)
        entries[rel] = Output(rel, sha256_file(path))
    entry.outputs = [entries[k] for k in sorted(entries)]


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

"""The phase driver: starts runs, runs one phase at a time, and always finalizes.

`nox -s run` calls `run_phase` once per phase session (in nox's own process, so
there is no interpreter start-up per phase); `python -m orchestrator run` calls
`run_all`. Whatever ends a run — a failing phase, a crash, a tripped breaker,
SIGINT or SIGTERM — the finalizers still run and the manifest stays valid.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import FrameType

from orchestrator import gitops, guard, render, runlock, textsafe
from orchestrator.breakers import check_kill_switch, kill_switch_reason, raise_if, stop_file
from orchestrator.clock import utc_now
from orchestrator.config import Settings
from orchestrator.errors import Aborted, BadInput, Refused, Tripped
from orchestrator.evidence import index as evidence
from orchestrator.layout import LOGS, log_name
from orchestrator.model import BreakerRecord, PhaseError, PhaseRecord, RunStatus, StartedBy, Status
from orchestrator.phaselog import PhaseLog
from orchestrator.phases import BY_NAME, DECISIVE, FINALIZERS, Role
from orchestrator.phases import NAMES as PHASES
from orchestrator.redact import Redactor
from orchestrator.runs import (
    RUN_ID,
    PhaseResult,
    Run,
    apply_result,
    load_manifest,
    new_manifest,
    new_run_id,
    record_outputs,
    resolve_run_dir,
)
from orchestrator.taskpack import TaskPack, load_taskpack

PhaseFn = Callable[[Run, PhaseLog], PhaseResult]
EXIT_ABORTED = 130
OK_STATUSES = {Status.PASSED, Status.SKIPPED, Status.WARNING}
PUBLISHERS = tuple(p.name for p in BY_NAME.values() if p.role is Role.PUBLISHER)


def phase_function(name: str) -> PhaseFn:
    return BY_NAME[name].function()


# --- interrupts -------------------------------------------------------------------------


class _Interrupts:
    """SIGINT/SIGTERM become `Aborted` inside a phase; outside one, the handler finalizes.

    Finalizers run with interrupts deferred, so a second Ctrl-C cannot leave a
    half-finalized run behind.
    """

    def __init__(self) -> None:
        self.in_phase = False
        self.deferred: str | None = None
        self.shielded = False
        self.on_idle: Callable[[str], None] | None = None
        self.installed = False

    def install(self) -> None:
        if self.installed or threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        self.installed = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.shielded:
            self.deferred = name
            return
        if self.in_phase:
            raise Aborted(f"interrupted by {name}")
        if self.on_idle is not None:
            self.on_idle(name)
        raise SystemExit(EXIT_ABORTED)


INTERRUPTS = _Interrupts()


@contextmanager
def _shielded(on: bool = True) -> Iterator[None]:
    """Interrupts are deferred (on) or raise `Aborted` (off) until the block ends."""
    previous = INTERRUPTS.shielded
    INTERRUPTS.shielded = previous or on
    INTERRUPTS.in_phase = not INTERRUPTS.shielded
    try:
        yield
    finally:
        INTERRUPTS.shielded = previous
        INTERRUPTS.in_phase = False


# --- starting and opening runs ----------------------------------------------------------


def start_run(
    settings: Settings, task_ref: str, *, run_id: str | None = None, started_by: str | None = None
) -> Run:
    """A new run directory and manifest; bad input, the kill switch and a `--push` without a
    remote raise before anything is written.

    A control plane may choose the run id (so it can answer with it at once) and names itself
    in `started_by`, which the manifest records."""
    if reason := kill_switch_reason(os.environ, stop_file(settings.state_dir)):
        raise Refused(f"the kill switch is on ({reason}): no run starts; unset it to run again")
    task = load_taskpack(settings.repo, task_ref)
    runlock.hold(settings.state_dir, task.id)
    try:
        return _new_run(settings, task, run_id, started_by)
    except BaseException:
        runlock.release(settings.state_dir, task.id)  # no run started: the task is free again
        raise


def _new_run(settings: Settings, task: TaskPack, run_id: str | None, started_by: str | None) -> Run:
    gitops.check_branch_name(settings.repo, settings.branch_for(task.id))
    if settings.branch_for(task.id) == settings.base_branch:
        raise BadInput(
            f"task branch {settings.base_branch!r} is the base branch; publish never commits there"
        )
    base = gitops.require_commit(settings.repo, settings.base_branch, "base branch")
    if settings.push:
        gitops.require_remote(settings.repo)
    if run_id is not None and not RUN_ID.fullmatch(run_id):
        raise BadInput(f"--run-id {run_id!r}: expected a run id like 20260101T000000Z-abc123")
    run_id = run_id or new_run_id()
    run_dir = settings.runs_dir / task.id / run_id
    try:
        (run_dir / LOGS).mkdir(parents=True)
    except FileExistsError:
        raise BadInput(f"run {run_id} of {task.id} already exists") from None
    manifest = new_manifest(settings, task, run_id, base, "unknown")
    if started_by:
        manifest.started_by = StartedBy(via="mcp", client=started_by)
    run = Run(settings, task, run_dir, manifest)
    run.save()
    return run


def open_run(settings: Settings, task_ref: str, run_arg: str | None) -> Run:
    task = load_taskpack(settings.repo, task_ref)
    run_dir = resolve_run_dir(settings, task.id, run_arg)
    run = Run(settings, task, run_dir, load_manifest(run_dir))
    guard.refuse_if_published(run)
    return run


# --- one phase --------------------------------------------------------------------------


def execute_phase(run: Run, name: str, redactor: Redactor) -> int:
    """Runs one phase and records it; never raises for what the phase itself does."""
    earlier = run.manifest.phases.get(name)
    log_path = earlier.log if earlier else log_name(name)
    entry = run.manifest.phases[name] = PhaseRecord(Status.RUNNING, utc_now(), None, None, log_path, [])
    run.save()
    log = PhaseLog(run.logs / f"{name}.log", redactor)
    log.note(f"phase {name} of run {run.id} (task {run.task.id}) started {entry.started_at}")
    run.phase_started = time.monotonic()
    run.sealer = _sealer(run, name)
    finalizing = BY_NAME[name].role is not Role.DECISIVE
    with heartbeat(log), _shielded(finalizing):
        result = _call(run, name, log, check_stop=not finalizing)
    apply_result(run.manifest, result)
    status, code, reason = result.status, result.exit_code, result.reason
    entry.status, entry.ended_at, entry.exit_code = status, utc_now(), code
    entry.reason = redactor.redact(reason)
    log.note(f"phase {name} {status} (exit {code}): {reason}")
    record_outputs(run, name, [*(p for p in result.outputs if p.exists()), run.logs / f"{name}.log"])
    run.save()
    try:
        evidence.refresh(run, name)
    except OSError as exc:
        log.note(f"evidence index not refreshed: {exc}")
    return code


def _sealer(run: Run, name: str) -> Callable[[str], None]:
    """What a publisher calls right before it commits the run directory: the phase is recorded as
    passed, SUMMARY.md re-rendered and the evidence re-sealed, so the committed directory verifies."""

    def seal(reason: str) -> None:
        entry = run.manifest.phases[name]
        entry.status, entry.ended_at, entry.exit_code, entry.reason = Status.PASSED, utc_now(), 0, reason
        record_outputs(run, name, [render.summary(run), run.logs / f"{name}.log"])
        run.save()
        evidence.refresh(run, name)

    return seal


HEARTBEAT_SECONDS = 8.0
"""A phase silent this long shows that it is still running (and for how long)."""


@contextmanager
def heartbeat(log: PhaseLog, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """While the block runs, a thread prints `still running (Ns)` whenever the phase was silent `every` s."""
    done = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not done.wait(min(every / 8, 1.0)):
            if log.silent_for() >= every:
                log.live(f"still running ({time.monotonic() - started:.0f}s)")

    thread = threading.Thread(target=beat, name=f"heartbeat-{log.phase}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _call(run: Run, name: str, log: PhaseLog, *, check_stop: bool) -> PhaseResult:
    """The phase function, with every way out turned into its result (the exit code filled in)."""
    try:
        if check_stop:
            raise_if(check_kill_switch(os.environ, stop_file(run.settings.state_dir)))
        with guard.watch(run, name):
            result = phase_function(name)(run, log)
    except Tripped as exc:
        run.manifest.breakers.append(BreakerRecord(exc.breaker, exc.limit, exc.measured, name, exc.detail))
        return PhaseResult(Status.TRIPPED, str(exc), exc.exit_code)
    except Refused as exc:
        return PhaseResult(Status.REFUSED, str(exc), exc.exit_code)
    except Aborted as exc:
        return PhaseResult(Status.ABORTED, str(exc), EXIT_ABORTED)
    except BadInput as exc:
        return PhaseResult(Status.FAILED, str(exc), exc.exit_code)
    except Exception as exc:
        message = log.redactor.redact(str(exc))
        run.manifest.phases[name].error = PhaseError(type(exc).__name__, message)
        log.write("".join(traceback.format_exception(exc)))
        return PhaseResult(Status.FAILED, f"crashed: {type(exc).__name__}: {exc}", 1)
    code = result.exit_code if result.exit_code or result.status in OK_STATUSES else 1
    return replace(result, exit_code=code)


def _skip_unreached(run: Run, failed_phase: str) -> None:
    for name in DECISIVE:
        entry = run.manifest.phases[name]
        if entry.status == Status.PENDING:
            entry.status, entry.reason = Status.SKIPPED, f"not reached: {failed_phase} did not pass"


def finalize(run: Run, redactor: Redactor, *, publish: bool) -> None:
    """Evidence and summary (and, for a whole run, publish) whatever ended the run."""
    with _shielded():
        for name in (*FINALIZERS, *(PUBLISHERS if publish else ())):
            execute_phase(run, name, redactor)
    if publish:
        runlock.release(run.settings.state_dir, run.task.id)


def _conclude(run: Run, name: str, code: int, redactor: Redactor, *, chain: bool) -> int:
    """After a decisive phase: on failure, finalize at once (nox will not run the rest)."""
    if code == 0:
        return 0
    if name == "plugin":
        # A plugin's findings are named, file:line, in REVIEW.md: review still runs
        # (it cannot make the run pass).
        with _shielded():
            execute_phase(run, "review", redactor)
    _skip_unreached(run, name)
    run.save()
    finalize(run, redactor, publish=chain)
    return code


# --- entry points -----------------------------------------------------------------------


def report(run: Run) -> str:
    summary = run.layout.summary
    status, reason = textsafe.terminal(run.manifest.status), textsafe.terminal(run.manifest.reason)
    return f"run {run.id}: {status} — {reason}\n  summary: {textsafe.terminal(summary)}"


def run_phase(
    settings: Settings,
    name: str,
    task_ref: str,
    run_arg: str | None = None,
    *,
    new_run: bool = False,
    chain: bool = False,
    run: Run | None = None,
    run_id: str | None = None,
    started_by: str | None = None,
) -> tuple[int, Run]:
    """One phase against a new run, the chain's run, or an existing one (`--run`, default latest)."""
    if name not in PHASES:
        raise BadInput(f"unknown phase {name!r}; phases are: {', '.join(PHASES)}")
    redactor = Redactor.from_environ()
    INTERRUPTS.install()
    if run is None:
        run = (
            start_run(settings, task_ref, run_id=run_id, started_by=started_by)
            if new_run
            else open_run(settings, task_ref, run_arg)
        )
    INTERRUPTS.on_idle = lambda signame: _abort_idle(run, signame, redactor, chain)
    code = execute_phase(run, name, redactor)
    if name in DECISIVE:
        code = _conclude(run, name, code, redactor, chain=chain)
    elif name in FINALIZERS and code != 0 and chain:
        finalize(run, redactor, publish=True)
    if name == PHASES[-1]:
        runlock.release(run.settings.state_dir, run.task.id)
    if INTERRUPTS.deferred and not INTERRUPTS.shielded:
        INTERRUPTS.deferred = None
        return EXIT_ABORTED, run
    return code, run


def _abort_idle(run: Run, signame: str, redactor: Redactor, chain: bool) -> None:
    """An interrupt between phases: the next decisive phase is recorded as aborted."""
    pending = [n for n in DECISIVE if run.manifest.phases[n].status == Status.PENDING]
    if not pending or run.manifest.status != RunStatus.RUNNING:
        return
    entry = run.manifest.phases[pending[0]]
    entry.status, entry.started_at, entry.ended_at = Status.ABORTED, utc_now(), utc_now()
    entry.exit_code, entry.reason = EXIT_ABORTED, f"interrupted by {signame} before the phase started"
    _skip_unreached(run, pending[0])
    run.save()
    finalize(run, redactor, publish=chain)


def run_all(
    settings: Settings, task_ref: str, *, run_id: str | None = None, started_by: str | None = None
) -> tuple[int, Run]:
    """Every phase in order, in this process: what `nox -s run` does, without nox."""
    code, run = run_phase(
        settings, PHASES[0], task_ref, new_run=True, chain=True, run_id=run_id, started_by=started_by
    )
    for name in PHASES[1:]:
        if code != 0:
            break
        code, _ = run_phase(settings, name, run.task.id, chain=True, run=run)
    return code, run

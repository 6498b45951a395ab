"""The execute phase: the executor does the work, with retries when acceptance fails.

Between attempts the acceptance checks run, and their failure output goes back to
the executor (for codex, as a new turn). The repeated-identical-failure breaker
stops an executor that keeps failing the same way.
"""

from __future__ import annotations

from orchestrator.acceptance import failure_text, run_checks
from orchestrator.breakers import FailureTracker, check_diff, diff_stat_of, raise_if
from orchestrator.errors import Tripped
from orchestrator.executors import AttemptResult, executor
from orchestrator.model import Status
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run
from orchestrator.scope import check_workspace
from orchestrator.workspace import create, record_changes


def _trip(result: AttemptResult) -> Tripped:
    return Tripped(result.breaker or "unknown", result.limit, result.measured, result.reason)


def _next_feedback(
    run: Run, log: PhaseLog, result: AttemptResult
) -> tuple[tuple[str, int | None, str], str] | None:
    """None when the attempt passed; else the failure's identity and what to tell the executor."""
    if not result.ok:
        key = result.failure_key or (result.reason, result.exit_code, "")
        return key, result.reason
    checks = run_checks(run, log)
    if all(c["status"] == Status.PASSED for c in checks):
        return None
    text = failure_text(checks)
    return ("acceptance", None, text), text


def run(run: Run, log: PhaseLog) -> PhaseResult:
    create(run)
    module = executor(run.task.executor["kind"])
    run.record.executor(version=module.version())
    limits = run.task.limits
    repeated = FailureTracker(limits["max_repeated_failures"])
    feedback: str | None = None
    result = AttemptResult(False, "no attempt made")
    for attempt in range(1, limits["max_attempts"] + 1):
        run.record.executor(attempts=attempt)
        log.note(f"attempt {attempt} of {limits['max_attempts']}")
        result = module.execute(run, log, attempt, feedback)
        tree = check_workspace(run)  # before any git command or file read of ours touches the workspace
        changes = record_changes(run, log.redactor, tree) if tree else []
        run.record.checkpoint()
        if result.breaker:
            raise _trip(result)
        raise_if(check_diff(diff_stat_of(changes), limits))
        if attempt == limits["max_attempts"]:
            break
        failure = _next_feedback(run, log, result)
        if failure is None:
            break
        key, feedback = failure
        raise_if(repeated.record(*key))
        log.note(f"attempt {attempt} did not pass: {feedback.splitlines()[0] if feedback else ''}")
    outputs = [run.layout.diff, *result.outputs]
    if not result.ok:
        return PhaseResult(Status.FAILED, result.reason, 1, outputs)
    return PhaseResult(
        Status.PASSED, f"executor {run.task.executor['kind']} finished in {attempt} attempt(s)", 0, outputs
    )

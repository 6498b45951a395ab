"""The execute phase: the executor does the work, with retries when acceptance fails.

Between attempts the acceptance checks run, and their failure output goes back to
the executor (for codex, as a new turn). The repeated-identical-failure breaker
stops an executor that keeps failing the same way.
"""

from __future__ import annotations

import importlib
from collections import Counter
from types import ModuleType

from orchestrator.errors import Tripped
from orchestrator.executors import AttemptResult
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run
from orchestrator.safety import check_workspace
from orchestrator.verify import failure_text, run_checks
from orchestrator.workspace import DIFF, create, record_changes

EXECUTORS = {"shell": "orchestrator.executors.shell", "codex": "orchestrator.executors.codex",
             "command": "orchestrator.executors.command"}


def executor_module(kind: str) -> ModuleType:
    return importlib.import_module(EXECUTORS[kind])


def check_change_size(run: Run) -> None:
    limits = run.task.limits
    changes = run.manifest.get("changes", {})
    files, lines = changes.get("files_changed", 0), changes.get("lines_added", 0) + changes.get("lines_deleted", 0)
    if files > limits["max_changed_files"]:
        raise Tripped("max_changed_files", limits["max_changed_files"], files)
    if lines > limits["max_diff_lines"]:
        raise Tripped("max_diff_lines", limits["max_diff_lines"], lines)


def _trip(result: AttemptResult) -> Tripped:
    return Tripped(result.breaker or "unknown", result.limit, result.measured, result.reason)


def run(run: Run, log: PhaseLog) -> PhaseResult:
    create(run)
    module = executor_module(run.task.executor["kind"])
    run.manifest["executor"]["version"] = module.version()
    limits = run.task.limits
    failures: Counter[tuple] = Counter()
    feedback: str | None = None
    result = AttemptResult(False, "no attempt made")
    for attempt in range(1, limits["max_attempts"] + 1):
        run.manifest["executor"]["attempts"] = attempt
        log.note(f"attempt {attempt} of {limits['max_attempts']}")
        result = module.execute(run, log, attempt, feedback)
        check_workspace(run)  # before any git command or file read of ours touches the workspace
        record_changes(run, log.redactor)
        run.save()
        if result.breaker:
            raise _trip(result)
        check_change_size(run)
        if result.failure_key:
            failures[result.failure_key] += 1
            if failures[result.failure_key] >= limits["max_repeated_failures"] and attempt < limits["max_attempts"]:
                raise Tripped("max_repeated_failures", limits["max_repeated_failures"], failures[result.failure_key],
                              f"`{result.failure_key[0]}` failed the same way each time")
        if attempt == limits["max_attempts"]:
            break
        if result.ok:
            checks = run_checks(run, log)
            if all(c["status"] == "passed" for c in checks):
                break
            feedback = failure_text(checks)
            key = ("acceptance", None, feedback)
        else:
            feedback = result.reason
            key = None
        if key:
            failures[key] += 1
            if failures[key] >= limits["max_repeated_failures"]:
                raise Tripped("max_repeated_failures", limits["max_repeated_failures"], failures[key],
                              "acceptance failed the same way after each attempt")
        log.note(f"attempt {attempt} did not pass: {feedback.splitlines()[0] if feedback else ''}")
    outputs = [run.dir / DIFF, *result.outputs]
    if not result.ok:
        return PhaseResult("failed", result.reason, 1, outputs)
    return PhaseResult("passed", f"executor {run.task.executor['kind']} finished in {attempt} attempt(s)", 0, outputs)


"""The shell executor: the pack's commands, in order, in the sandbox; stop at the first failure."""

from __future__ import annotations

from orchestrator.executors import AttemptResult
from orchestrator.fsio import sha256_bytes
from orchestrator.phaselog import PhaseLog
from orchestrator.recording import record_execution
from orchestrator.runs import Run
from orchestrator.sandbox import run as sandboxed
from orchestrator.workspace import spec_for

FEEDBACK_CAP = 4096


def version() -> str:
    return "/bin/sh -c"


def execute(run: Run, log: PhaseLog, attempt: int, feedback: str | None) -> AttemptResult:
    env = {"ORCH_ATTEMPT": str(attempt), "ORCH_TASK_ID": run.task.id}
    if feedback:
        env["ORCH_FEEDBACK"] = feedback[-FEEDBACK_CAP:]
    for command in run.task.executor["commands"]:
        result = sandboxed(
            ["/bin/sh", "-c", command], spec_for(run, env), cwd=run.workspace, on_line=log.live
        )
        log.command(
            command,
            result.exit_code,
            result.duration,
            result.output,
            result.output_bytes,
            note=f"attempt {attempt}",
        )
        record_execution(run, log, "execute", result)
        if result.breaker:
            return AttemptResult(
                False,
                f"`{command}` tripped {result.breaker}",
                None,
                result.breaker,
                result.limit,
                result.measured,
            )
        if result.exit_code != 0:
            digest = sha256_bytes(result.output.encode("utf-8", "replace"))
            return AttemptResult(
                False,
                f"`{command}` exited {result.exit_code}",
                result.exit_code,
                failure_key=(command, result.exit_code, digest),
            )
    return AttemptResult(True)

"""The verify phase: every acceptance check of the task pack, run in the sandbox.

Acceptance is the machine-checkable definition of done; the manifest keeps, per
check, its status, exit code, duration and the tail of its output.
"""

from __future__ import annotations

from typing import Any

from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run
from orchestrator.safety import check_workspace, record_execution
from orchestrator.sandbox import run as sandboxed
from orchestrator.workspace import ensure, spec_for

EXCERPT_LINES = 20
EXCERPT_CHARS = 2000


def excerpt(output: str) -> str:
    tail = "\n".join(output.rstrip("\n").splitlines()[-EXCERPT_LINES:])
    return tail[-EXCERPT_CHARS:]


def run_checks(run: Run, log: PhaseLog) -> list[dict[str, Any]]:
    """Runs every check (a failing one does not stop the others) and returns their records."""
    results = []
    for check in run.task.acceptance:
        spec = spec_for(run)
        timeout = check.get("timeout_seconds")
        result = sandboxed(["/bin/sh", "-c", check["run"]], spec, cwd=run.workspace, timeout=timeout,
                           on_line=log.live)
        log.command(check["run"], result.exit_code, result.duration, result.output, result.output_bytes,
                    note=f"acceptance {check['id']}")
        record_execution(run, log, "verify", result)
        expected = check.get("expect_exit", 0)
        status = "tripped" if result.breaker else ("passed" if result.exit_code == expected else "failed")
        text = log.redactor.redact(excerpt(result.output))
        if result.breaker:
            text += f"\n[breaker {result.breaker}: limit {result.limit}, measured {result.measured}]"
        results.append(
            {
                "id": check["id"],
                "run": check["run"],
                "status": status,
                "exit_code": result.exit_code,
                "expect_exit": expected,
                "duration_seconds": result.duration,
                "excerpt": text,
            }
        )
    return results


def failure_text(results: list[dict[str, Any]]) -> str:
    """What an executor is told when acceptance failed, to try again."""
    parts = []
    for item in results:
        if item["status"] != "passed":
            parts.append(
                f"Acceptance check `{item['id']}` ({item['run']}) {item['status']}: exit {item['exit_code']}, "
                f"expected {item['expect_exit']}.\n{item['excerpt']}"
            )
    return "\n\n".join(parts)


def run(run: Run, log: PhaseLog) -> PhaseResult:
    ensure(run)
    results = run_checks(run, log)
    run.manifest["acceptance"] = results
    check_workspace(run, scope=False)  # checks may leave build files, never symlinks out or a new .git
    failed = [r["id"] for r in results if r["status"] != "passed"]
    if failed:
        return PhaseResult("failed", f"acceptance failed: {', '.join(failed)}", 1)
    return PhaseResult("passed", f"{len(results)} acceptance checks passed")

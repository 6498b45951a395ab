"""The verify phase: every acceptance check of the task pack, run in the sandbox on the tree to publish.

Acceptance is the machine-checkable definition of done; the manifest keeps, per
check, its status, exit code, duration and the tail of its output.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run
from orchestrator.safety import record_execution
from orchestrator.sandbox import run as sandboxed
from orchestrator.workspace import fresh_checkout, record_tested, remove_checkout, spec_for

EXCERPT_LINES = 20
EXCERPT_CHARS = 2000


def excerpt(output: str) -> str:
    tail = "\n".join(output.rstrip("\n").splitlines()[-EXCERPT_LINES:])
    return tail[-EXCERPT_CHARS:]


def run_checks(run: Run, log: PhaseLog, where: Path | None = None) -> list[dict[str, Any]]:
    """Runs every check in `where` (default: the workspace; a failing check does not stop the others)."""
    results = []
    where = where or run.workspace
    for check in run.task.acceptance:
        spec = replace(spec_for(run), workspace=where)
        timeout = check.get("timeout_seconds")
        result = sandboxed(["/bin/sh", "-c", check["run"]], spec, cwd=where, timeout=timeout)
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
    """The checks run on a fresh checkout of the change tree (what publish commits), never the workspace."""
    checkout = fresh_checkout(run)
    log.note(f"acceptance runs on a fresh checkout of tree {run.manifest['changes']['tree']}")
    try:
        results = run_checks(run, log, checkout)
        run.manifest["acceptance"] = results
        record_tested(run, checkout, "verify")
    finally:
        remove_checkout(run)
    failed = [r["id"] for r in results if r["status"] != "passed"]
    if failed:
        return PhaseResult("failed", f"acceptance failed: {', '.join(failed)}", 1)
    return PhaseResult("passed", f"{len(results)} acceptance checks passed")

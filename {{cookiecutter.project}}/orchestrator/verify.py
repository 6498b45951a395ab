"""The verify phase: every acceptance check of the task pack, run in the sandbox on the tree to publish.

Acceptance is the machine-checkable definition of done; the manifest keeps, per
check, its status, exit code, duration, the tail of its output and, for pytest, the
counts of pytest's own report (`orchestrator.acceptance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.acceptance import run_check
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run
from orchestrator.workspace import fresh_checkout, record_tested, remove_checkout


def run_checks(run: Run, log: PhaseLog, where: Path | None = None) -> list[dict[str, Any]]:
    """Runs every check in `where` (default: the workspace; a failing check does not stop the others)."""
    return [run_check(run, log, check, where or run.workspace) for check in run.task.acceptance]


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

"""The verify phase: every acceptance check of the task pack, run in the sandbox on the tree to publish.

Acceptance is the machine-checkable definition of done; the manifest keeps, per
check, its status, exit code, duration, the tail of its output and, for pytest, the
counts of pytest's own report (`orchestrator.acceptance`).
"""

from __future__ import annotations

from orchestrator.acceptance import run_checks
from orchestrator.model import AcceptanceResult, Status, decode
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run
from orchestrator.workspace import changes_tree, fresh_checkout, record_tested, remove_checkout


def run(run: Run, log: PhaseLog) -> PhaseResult:
    """The checks run on a fresh checkout of the change tree (what publish commits), never the workspace."""
    checkout = fresh_checkout(run)
    log.note(f"acceptance runs on a fresh checkout of tree {changes_tree(run)}")
    try:
        results = run_checks(run, log, checkout)
        run.record.acceptance([decode(AcceptanceResult, r) for r in results])
        record_tested(run, checkout, "verify")
    finally:
        remove_checkout(run)
    failed = [r["id"] for r in results if r["status"] != Status.PASSED]
    if failed:
        return PhaseResult(Status.FAILED, f"acceptance failed: {', '.join(failed)}", 1)
    return PhaseResult(Status.PASSED, f"{len(results)} acceptance checks passed")

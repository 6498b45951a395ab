"""The validate command and phase: task packs are checked before anything runs.

As a command it checks many packs at once and reports every problem of every
pack (sorted, one per line, located), so a person fixes them in one round trip.
As a phase it re-checks the run's own task.yml, which must still be the exact
file the run started from.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import EXIT_BAD_INPUT, EXIT_OK
from orchestrator.taskpack import TASKPACKS, check_file, check_refs, display_path, find_task_ids

if TYPE_CHECKING:
    from orchestrator.phaselog import PhaseLog
    from orchestrator.runs import PhaseResult, Run


def main(repo: Path, refs: list[str]) -> int:
    """Checks `refs` (default: every pack under taskpacks/); prints OK lines or problems; 0 or 2."""
    targets = list(refs) or find_task_ids(repo)
    if not targets:
        print(
            f"validate: no task packs under {TASKPACKS}/ (create one with `nox -s new -- <task-id>`)",
            file=sys.stderr,
        )
        return EXIT_OK
    checked = check_refs(repo, targets)
    for pack in checked.packs:
        print(f"ok  {display_path(pack.file, repo)}  ({pack.id})")
    problems, bad = checked.problems, checked.bad
    if problems:
        for problem in sorted(problems):
            print(problem, file=sys.stderr)
        print(
            f"validate: {bad} of {len(targets)} task pack(s) invalid, {len(problems)} problem(s); "
            "fix them and run validate again",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    print(f"validate: {len(checked.packs)} task pack(s) valid")
    return EXIT_OK


def run(run: Run, log: PhaseLog) -> PhaseResult:
    """Phase: the run's task.yml must still be valid and byte-identical to the one the run started with."""
    from orchestrator.model import Status
    from orchestrator.runs import PhaseResult

    file = run.task.file
    pack, problems = check_file(run.repo, file)
    if pack is None:
        for problem in problems:
            log.note(str(problem))
        return PhaseResult(Status.FAILED, f"task pack invalid: {problems[0]}", EXIT_BAD_INPUT)
    if pack.sha256 != run.task.sha256:
        reason = (
            f"{display_path(file, run.repo)} changed since the run started (sha256 {pack.sha256[:12]}, "
            f"expected {run.task.sha256[:12]})"
        )
        log.note(reason)
        return PhaseResult(Status.FAILED, reason, EXIT_BAD_INPUT)
    log.note(f"{display_path(file, run.repo)} valid against taskpack/v1 (sha256 {pack.sha256})")
    return PhaseResult(Status.PASSED, "task pack valid", 0)

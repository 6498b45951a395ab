"""The summarize phase: SUMMARY.md for a person, rendered from the manifest.

Outcome first, then the task, what changed, acceptance, safety, plugin, a
timeline and the logs. Rendered for failed and aborted runs too.
"""

from __future__ import annotations

from orchestrator import render
from orchestrator.model import Status
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run


def run(run: Run, log: PhaseLog) -> PhaseResult:
    path = render.summary(run)
    log.note(f"wrote {path.name}")
    return PhaseResult(Status.PASSED, "summary written", 0, [path])

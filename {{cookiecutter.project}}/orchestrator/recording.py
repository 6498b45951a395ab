"""What the pipeline learns during a phase, recorded through the run's `Recorder`: safety
decisions (`decide`) and what the sandbox allowed, denied and enforced (`record_execution`)."""

from __future__ import annotations

from orchestrator.environment import tolerated_link
from orchestrator.model import Access, Decision, Ruling
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import Run
from orchestrator.sandbox import Execution


def decide(run: Run, decision_id: str, decision: Ruling | str, reason: str) -> Decision:
    return run.record.decide(decision_id, Ruling(decision), reason)


def record_execution(run: Run, log: PhaseLog, phase: str, execution: Execution) -> None:
    """Puts what the sandbox allowed and denied, and how its limits held, into the manifest (`safety.used`,
    `safety.denied`, `safety.limits_enforced`) and the phase log: the facts the review judges the pack by."""
    if execution.limits_enforced:
        run.record.limits_enforced({k: str(v) for k, v in execution.limits_enforced.items()})
    for target in execution.allowed:
        if run.record.use(Access("network", target, phase)):
            log.note(f"used network: {target}")
    prepared = run.manifest.prepared_paths()
    for item in execution.denied:
        if item["kind"] == "symlink" and tolerated_link(run.workspace, prepared, item["target"]):
            continue
        run.record.deny(Access(item["kind"], item["target"], phase))
        log.note(f"denied {item['kind']}: {item['target']}")
    if execution.breaker:
        log.note(
            f"breaker {execution.breaker} tripped: limit {execution.limit}, measured {execution.measured}"
        )

"""What the pipeline learns during a phase, recorded into the run's manifest: safety decisions
(`decide`) and what the sandbox allowed, denied and enforced (`record_execution`)."""

from __future__ import annotations

from orchestrator.environment import tolerated_link
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import Run
from orchestrator.sandbox import Execution


def decide(run: Run, decision_id: str, decision: str, reason: str) -> dict[str, str]:
    entry = {"id": decision_id, "decision": decision, "reason": reason}
    decisions = run.manifest.setdefault("safety", {}).setdefault("decisions", [])
    decisions[:] = [d for d in decisions if d.get("id") != decision_id]
    decisions.append(entry)
    return entry


def record_execution(run: Run, log: PhaseLog, phase: str, execution: Execution) -> None:
    """Puts what the sandbox allowed and denied, and how its limits held, into the manifest (`safety.used`,
    `safety.denied`, `safety.limits_enforced`) and the phase log: the facts the review judges the pack by."""
    safety = run.manifest.setdefault("safety", {})
    if execution.limits_enforced:
        safety.setdefault("limits_enforced", {}).update(
            {k: str(v) for k, v in execution.limits_enforced.items()}
        )
    used = safety.setdefault("used", [])
    for target in execution.allowed:
        entry = {"kind": "network", "target": target, "phase": phase}
        if entry not in used:
            used.append(entry)
            log.note(f"used network: {target}")
    denied = safety.setdefault("denied", [])
    prepared = run.manifest.get("environment", {}).get("paths", [])
    for item in execution.denied:
        if item["kind"] == "symlink" and tolerated_link(run.workspace, prepared, item["target"]):
            continue
        entry = {**item, "phase": phase}
        if entry not in denied:
            denied.append(entry)
        log.note(f"denied {item['kind']}: {item['target']}")
    if execution.breaker:
        log.note(
            f"breaker {execution.breaker} tripped: limit {execution.limit}, measured {execution.measured}"
        )

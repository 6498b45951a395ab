"""The evidence phase: `evidence_index.json` over every artifact of a run, and its attestation
(`orchestrator.evidence.index` says exactly what the index covers)."""

from __future__ import annotations

from orchestrator.evidence.index import build, upsert
from orchestrator.layout import ATTESTATION
from orchestrator.model import Status
from orchestrator.phaselog import PhaseLog
from orchestrator.runs import PhaseResult, Run


def run(run: Run, log: PhaseLog) -> PhaseResult:
    """Indexes and attests the run. Its outputs are not recorded in the manifest with digests:
    the index and attestation seal the manifest, so they are rewritten after it changes."""
    index = build(run.dir, run.manifest.to_json())
    log.note(f"indexed {index['count']} artifacts, {index['bytes']} bytes; attestation {ATTESTATION}")
    problem = upsert(run, index)
    if problem:
        log.note(problem)
        return PhaseResult(Status.WARNING, problem)
    return PhaseResult(Status.PASSED, f"indexed {index['count']} artifacts and wrote {ATTESTATION}")

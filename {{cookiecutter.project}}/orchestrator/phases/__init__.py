"""The one phase table: every phase of a run, in order, and what the pipeline does with it.

The pipeline, the CLI and the noxfile read this table; nothing else lists phases.
A phase module exposes `run(run, log) -> PhaseResult` and imports no other phase:
shared rules live in modules of their own (`scope`, `acceptance`, `recording`,
`render`, `evidence`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from orchestrator.layout import (
    ATTESTATION,
    DIFF,
    INDEX,
    PLUGIN_RESULT,
    REVIEW_MARKDOWN,
    REVIEW_REPORT,
    SUMMARY,
)

if TYPE_CHECKING:
    from orchestrator.phaselog import PhaseLog
    from orchestrator.runs import PhaseResult, Run


class Role(StrEnum):
    DECISIVE = "decisive"
    """Its outcome decides the run's status; a failure ends the chain (finalizers still run)."""
    FINALIZER = "finalizer"
    """Runs whatever ended the run, so every run leaves evidence; can only fail it."""
    PUBLISHER = "publisher"
    """The last link of a whole run: commits what the finalizers left; never reruns."""


@dataclass(frozen=True)
class Phase:
    name: str
    role: Role
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    """Manifest sections (and run-directory artifacts) the phase's result fills in."""

    @property
    def module(self) -> str:
        return f"orchestrator.phases.{self.name}"

    def function(self) -> Callable[[Run, PhaseLog], PhaseResult]:
        run: Callable[[Run, PhaseLog], PhaseResult] = importlib.import_module(self.module).run
        return run


PHASES: tuple[Phase, ...] = (
    Phase("validate", Role.DECISIVE, ("task pack",), ()),
    Phase("safety", Role.DECISIVE, ("task pack", "policy", "checkout"), ("safety",)),
    Phase(
        "prepare",
        Role.DECISIVE,
        ("task pack", "cache"),
        ("environment", "safety"),
    ),
    Phase(
        "execute",
        Role.DECISIVE,
        ("task pack", "environment"),
        ("executor", "changes", "safety", DIFF),
    ),
    Phase("verify", Role.DECISIVE, ("changes",), ("acceptance", "changes", "safety")),
    Phase("plugin", Role.DECISIVE, ("changes",), ("plugin", PLUGIN_RESULT)),
    Phase("review", Role.DECISIVE, ("manifest", DIFF), ("review", REVIEW_REPORT, REVIEW_MARKDOWN)),
    Phase("evidence", Role.FINALIZER, ("run directory",), (INDEX, ATTESTATION)),
    Phase("summarize", Role.FINALIZER, ("manifest",), (SUMMARY,)),
    Phase("publish", Role.PUBLISHER, ("changes", "run directory"), ("git", "task branch")),
)

NAMES: tuple[str, ...] = tuple(phase.name for phase in PHASES)
"""The phase names in order; `nox -s run` chains the sessions of these names."""
DECISIVE: tuple[str, ...] = tuple(p.name for p in PHASES if p.role is Role.DECISIVE)
FINALIZERS: tuple[str, ...] = tuple(p.name for p in PHASES if p.role is Role.FINALIZER)
BY_NAME: dict[str, Phase] = {phase.name: phase for phase in PHASES}

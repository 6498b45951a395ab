"""Codex Orchestrator engine: task packs in, evidence out, one module per phase."""

__version__ = "1.4.0"

PHASES = (
    "validate",
    "safety",
    "prepare",
    "execute",
    "verify",
    "plugin",
    "review",
    "evidence",
    "summarize",
    "publish",
)
"""The phases of a run, in order; `nox -s run` chains them."""

FINALIZERS = ("evidence", "summarize")
"""Phases that still run, whatever ended the run, so every run leaves evidence."""

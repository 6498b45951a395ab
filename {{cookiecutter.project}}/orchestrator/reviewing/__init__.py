"""The deterministic review's rules: pure functions of a run's inputs, for the review phase and for
anyone who reviews a recorded run again.

The manifest is read as the JSON document the run recorded (`manifest.json`), so a run recorded by an
older engine is judged by the same rules. `review(inputs)` is the report; the checks, the permission
judgement and the verdict are importable on their own.
"""

from __future__ import annotations

from orchestrator.reviewing.checks import (
    check_acceptance,
    check_breakers,
    check_control_plane,
    check_executor,
    check_plugin,
    check_scope,
    check_secrets,
    check_size,
)
from orchestrator.reviewing.model import (
    CHECK_ORDER,
    DIFF,
    MANIFEST_DIGEST,
    PLUGIN_RESULT,
    RULES,
    SAFETY_CHECKS,
    TITLES,
    ReviewInputs,
    check,
    finding,
)
from orchestrator.reviewing.permissions import check_permissions
from orchestrator.reviewing.report import review, review_manifest_view, verdict

__all__ = [
    "CHECK_ORDER",
    "DIFF",
    "MANIFEST_DIGEST",
    "PLUGIN_RESULT",
    "RULES",
    "SAFETY_CHECKS",
    "TITLES",
    "ReviewInputs",
    "check",
    "check_acceptance",
    "check_breakers",
    "check_control_plane",
    "check_executor",
    "check_permissions",
    "check_plugin",
    "check_scope",
    "check_secrets",
    "check_size",
    "finding",
    "review",
    "review_manifest_view",
    "verdict",
]

"""The review's vocabulary: its checks, rules and inputs, and the records a check builds.

Pure data and pure helpers; nothing here reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from orchestrator.fsio import canonical_json
from orchestrator.layout import DIFF as DIFF
from orchestrator.layout import PLUGIN_RESULT as PLUGIN_RESULT
from orchestrator.schemas import load as load_schema

SAFETY_CHECKS = ("control-plane", "secrets", "permissions")
CHECK_ORDER = (
    "acceptance",
    "scope",
    "control-plane",
    "secrets",
    "size",
    "breakers",
    "plugin",
    "executor",
    "permissions",
)
TITLES = {
    "acceptance": "Every acceptance check of the task pack passed",
    "scope": "Changed paths are inside scope.allowed_paths and outside scope.forbidden_paths",
    "control-plane": (
        "No control-plane file is touched, no path holds control characters and no symlink leads "
        "out of the workspace"
    ),
    "secrets": "No secret is added by the diff",
    "size": "The change is within limits.max_changed_files and limits.max_diff_lines",
    "breakers": "No circuit breaker tripped",
    "plugin": "The solution plugin accepted the change (strict: failure fails, otherwise warns)",
    "executor": "The executor finished in good health",
    "permissions": "Permissions used match what the task pack declared; the run was isolated",
}
RULES = (
    "reject: a safety check (control-plane, secrets, permissions) has status fail",
    "request_changes: otherwise, any other check has status fail",
    "approve: otherwise; checks with status warn or skip never block",
)
MANIFEST_DIGEST = "manifest.json#review-inputs"
OK_PHASE = {"passed", "warning"}


@dataclass(frozen=True)
class ReviewInputs:
    """Everything the reviewer may look at, already read from disk."""

    task: dict[str, Any]
    """Task pack data with schema defaults applied."""
    task_path: str
    task_sha256: str
    task_text: str
    manifest: dict[str, Any]
    diff: str | None
    """diff.patch as text; None when the run has none."""
    plugin_result: dict[str, Any] | None = None
    plugin_result_sha256: str | None = None
    diff_sha256: str | None = None
    """Digest of diff.patch's bytes (the text may have had invalid UTF-8 replaced)."""
    binaries: dict[str, str | None] | None = None
    """Each added or changed binary file: its printable strings (one a line, known secret values already
    masked), or None when it could not be read or is too large (`review_secrets.binary_strings`).
    None when the binary files were not read at all."""


# --- helpers -------------------------------------------------------------------------------


def finding(file: str, line: int, rule: str, message: str, level: str = "error") -> dict[str, Any]:
    return {"file": file, "line": line, "rule": rule, "message": message, "level": level}


def sorted_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {canonical_json(f): f for f in findings}
    return sorted(unique.values(), key=lambda f: (f["file"], f["line"], f["rule"], f["message"], f["level"]))


def check(
    check_id: str, findings: list[dict[str, Any]], summary: str, status: str | None = None
) -> dict[str, Any]:
    """A check record; its status follows from its findings unless given (skip, or a pass with notes)."""
    if status is None:
        levels = {f["level"] for f in findings}
        status = "fail" if "error" in levels else "warn" if "warning" in levels else "pass"
    return {
        "id": check_id,
        "class": "safety" if check_id in SAFETY_CHECKS else "quality",
        "title": TITLES[check_id],
        "status": status,
        "summary": summary,
        "findings": sorted_findings(findings),
    }


@cache
def _limit_default(name: str) -> int:
    return int(load_schema("taskpack.v1.json")["properties"]["limits"]["properties"][name]["default"])


def limit(task: dict[str, Any], name: str) -> int:
    return int((task.get("limits") or {}).get(name, _limit_default(name)))


def line_of(text: str, pattern: str) -> int:
    """1-based line of the first line matching `pattern` in the task pack; 0 when not found."""
    regex = re.compile(pattern)
    for number, line in enumerate(text.splitlines(), start=1):
        if regex.search(line):
            return number
    return 0


def extra_rules(inputs: ReviewInputs) -> tuple[str, ...]:
    """The repository's own control-plane globs, as the safety phase recorded them."""
    return tuple((inputs.manifest.get("safety") or {}).get("control_plane", []))

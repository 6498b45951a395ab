"""The plugin_result/v1 document: what counts, what was already there, what was resolved, what was skipped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from secscan.model import Comparison, Finding, Level, ToolRun

SUMMARY_LIMIT = 2000
LISTED = 8


def counts(findings: Sequence[Finding]) -> str:
    return ", ".join(f"{sum(1 for f in findings if f.level == level)} {level}" for level in reversed(Level))


def located(findings: Sequence[Finding]) -> str:
    shown = [f"{f.file}:{f.line} {f.rule}" for f in findings[:LISTED]]
    more = f", and {len(findings) - LISTED} more" if len(findings) > LISTED else ""
    return ", ".join(shown) + more


def as_item(finding: Finding) -> dict[str, Any]:
    item: dict[str, Any] = {
        "file": finding.file,
        "line": finding.line,
        "rule": f"{finding.tool}/{finding.rule}",
        "severity": str(finding.level),
        "message": finding.message,
    }
    if finding.column > 0:
        item["column"] = finding.column
    return item


def failing(findings: Sequence[Finding], fail_on: Level | None) -> list[Finding]:
    if fail_on is None:
        return []
    return [f for f in findings if f.level.rank >= fail_on.rank]


def build(
    name: str,
    version: str,
    runs: Sequence[tuple[ToolRun, Comparison]],
    fail_on: Level | None,
    require_all: bool,
    baseline: bool,
    metrics: dict[str, float],
    notes: Sequence[str],
) -> dict[str, Any]:
    new = sorted((f for _, c in runs for f in c.new), key=Finding.sort_key)
    unchanged = sorted((f for _, c in runs for f in c.unchanged), key=Finding.sort_key)
    resolved = sorted((f for _, c in runs for f in c.resolved), key=Finding.sort_key)
    skipped = [(r.tool, r.skipped) for r, _ in runs if r.skipped]
    blocking = failing(new, fail_on)
    status = "failed" if blocking or (require_all and skipped) else "passed"
    label = "new" if baseline else "all (baseline: none)"
    parts = [f"{label}: {counts(new)}"]
    if blocking:
        parts.append(f"at or above {fail_on}: {located(blocking)}")
    if baseline:
        parts.append(
            f"resolved by the change: {len(resolved)}" + (f" ({located(resolved)})" if resolved else "")
        )
        parts.append(f"already at the base: {len(unchanged)}")
    parts.extend(f"skipped {tool}: {reason}" for tool, reason in skipped)
    parts.extend(notes)
    summary = "; ".join(parts)
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 3] + "..."
    findings = [as_item(f) for f in new]
    findings += [
        {
            "file": ".",
            "line": 0,
            "rule": f"{tool}/skipped",
            "severity": "warning",
            "message": f"skipped: {reason} (never counted as passed)",
        }
        for tool, reason in skipped
    ]
    all_metrics = {
        **metrics,
        **{f"new_{level}": sum(1 for f in new if f.level == level) for level in Level},
        "unchanged": len(unchanged),
        "resolved": len(resolved),
        "skipped_tools": len(skipped),
    }
    return {
        "schema": "plugin_result/v1",
        "name": name,
        "version": version,
        "status": status,
        "summary": summary,
        "findings": findings,
        "metrics": all_metrics,
        "details": {
            "baseline": "base" if baseline else "none",
            "fail_on": str(fail_on) if fail_on else "never",
            "tools": {
                str(r.tool): {
                    "version": r.version,
                    "skipped": r.skipped,
                    "new": len(c.new),
                    "unchanged": len(c.unchanged),
                    "resolved": len(c.resolved),
                }
                for r, c in runs
            },
            "unchanged": [as_item(f) for f in unchanged],
            "resolved": [as_item(f) for f in resolved],
            "sarif": "security.sarif",
        },
    }

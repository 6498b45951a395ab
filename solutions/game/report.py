"""Findings as data: the plugin_result/v1 document and the SARIF 2.1.0 log that carry them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_FILE = "game.sarif"

RULES: dict[str, str] = {
    "nondeterminism": "The same inputs gave different states in separate processes (hash order, unseeded "
    "randomness, wall clock, threads).",
    "golden-mismatch": "The replay no longer reproduces the committed golden hashes.",
    "tick-budget-p95": "The 95th percentile tick time is over the tick budget.",
    "tick-budget-max": "The slowest tick is over the tick budget.",
    "game-error": "A replay run raised, hung, or broke the tick protocol.",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    message: str
    file: str
    tick: int | None = None
    line: int = 0
    related: tuple[tuple[str, int], ...] = ()
    """Other files that matter (source file, golden file), with a 1-based line or 0."""
    properties: dict[str, Any] = field(default_factory=dict)

    def as_result_finding(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
        }


def jsonable(value: Any) -> Any:
    """Values for JSON output; anything without a JSON form (an absent key) becomes its repr."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


def location(file: str, line: int) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": file}}
    if line > 0:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def sarif(findings: Sequence[Finding], version: str) -> dict[str, Any]:
    rules = [{"id": rule, "shortDescription": {"text": text}} for rule, text in RULES.items()]
    index = {rule: i for i, rule in enumerate(RULES)}
    results = []
    for finding in findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "ruleIndex": index[finding.rule],
            "level": finding.severity,
            "message": {"text": finding.message},
            "locations": [location(finding.file, finding.line)],
        }
        if finding.related:
            result["relatedLocations"] = [
                location(path, line) | {"id": i} for i, (path, line) in enumerate(finding.related, start=1)
            ]
        props = dict(finding.properties)
        if finding.tick is not None:
            props["tick"] = finding.tick
        if props:
            result["properties"] = props
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "game", "version": version, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def plugin_result(
    findings: Sequence[Finding],
    version: str,
    summary: str,
    metrics: dict[str, float],
    details: dict[str, Any],
) -> dict[str, Any]:
    failed = any(f.severity == "error" for f in findings)
    return {
        "schema": "plugin_result/v1",
        "name": "game",
        "version": version,
        "status": "failed" if failed else "passed",
        "summary": summary[:2000],
        "findings": [f.as_result_finding() for f in findings],
        "metrics": metrics,
        "details": details,
    }

"""SARIF 2.1.0: one run per tool, results located relative to the repository root.

Every result carries `partialFingerprints` built from what it is (tool, rule, file, the
normalised source line or the secret's hash or the pinned package) and its occurrence
number, not from its line, so a finding keeps its fingerprint when code moves; and a
`baselineState` (new, unchanged) saying whether the change introduced it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from secscan.model import Comparison, Finding, Tool, ToolRun, with_fingerprints

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT = "orchestratorSecurity/v1"
INFORMATION = {
    Tool.BANDIT: "https://bandit.readthedocs.io/",
    Tool.SEMGREP: "https://semgrep.dev/",
    Tool.SECRETS: "https://github.com/Yelp/detect-secrets",
    Tool.OSV: "https://osv.dev/",
}


def result(finding: Finding, fingerprint: str, state: str, rule_index: int) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": finding.file, "uriBaseId": "%SRCROOT%"}}
    if finding.line > 0:
        region: dict[str, Any] = {"startLine": finding.line}
        if finding.column > 0:
            region["startColumn"] = finding.column
        physical["region"] = region
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": str(finding.level),
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT: fingerprint},
        "baselineState": state,
    }


def tool_run(run: ToolRun, comparison: Comparison, automation_id: str) -> dict[str, Any]:
    states = {id(f): "new" for f in comparison.new} | {id(f): "unchanged" for f in comparison.unchanged}
    head = [*comparison.new, *comparison.unchanged]
    rule_ids = sorted({f.rule for f in head})
    help_uris = {f.rule: f.help_uri for f in head if f.help_uri}
    rules = [{"id": rule, **({"helpUri": help_uris[rule]} if rule in help_uris else {})} for rule in rule_ids]
    driver: dict[str, Any] = {"name": str(run.tool), "informationUri": INFORMATION[run.tool], "rules": rules}
    if run.version:
        driver["version"] = run.version
    invocation: dict[str, Any] = {"executionSuccessful": not run.skipped}
    if run.skipped:
        invocation["toolExecutionNotifications"] = [
            {"level": "warning", "message": {"text": f"skipped: {run.skipped}"}}
        ]
    return {
        "tool": {"driver": driver},
        "automationDetails": {"id": automation_id},
        "invocations": [invocation],
        "columnKind": "unicodeCodePoints",
        "results": [
            result(f, fp, states[id(f)], rule_ids.index(f.rule)) for f, fp in with_fingerprints(head)
        ],
    }


def document(runs: Iterable[tuple[ToolRun, Comparison]], task_id: str) -> dict[str, Any]:
    """The whole log; `automationDetails.id` is `security/<task-id>/` (category, then an empty run id)."""
    automation_id = f"security/{task_id}/"
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [tool_run(run, comparison, automation_id) for run, comparison in runs],
    }

"""SARIF 2.1.0 for the findings: one run, one rule per rule id, skipped checks as notifications."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from .model import CheckOutcome, CheckStatus, Finding

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFO_URI = "https://html-validate.org/"


def fingerprint(finding: Finding) -> str:
    text = f"{finding.rule}\0{finding.file}\0{finding.message}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def result(finding: Finding, index: int) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": finding.file, "uriBaseId": "%SRCROOT%"}}
    if finding.line > 0:
        region: dict[str, int] = {"startLine": finding.line}
        if finding.column > 0:
            region["startColumn"] = finding.column
        location["region"] = region
    return {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": str(finding.severity),
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {"webFinding/v1": fingerprint(finding)},
    }


def document(
    findings: Sequence[Finding], outcomes: Sequence[CheckOutcome], version: str, task: str
) -> dict[str, Any]:
    rules: dict[str, Finding] = {}
    for finding in findings:
        rules.setdefault(finding.rule, finding)
    order = sorted(rules)
    rule_objects = [
        {
            "id": rule,
            "shortDescription": {"text": rule.split("/", 1)[-1].replace("-", " ")},
            **({"helpUri": rules[rule].help_uri} if rules[rule].help_uri else {}),
        }
        for rule in order
    ]
    notes = [
        {"level": "warning", "message": {"text": f"check {o.name} skipped: {o.reason}"}}
        for o in outcomes
        if o.status == CheckStatus.SKIPPED
    ]
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "orchestrator-web",
                        "version": version,
                        "informationUri": INFO_URI,
                        "rules": rule_objects,
                    }
                },
                "automationDetails": {"id": f"web/{task}/"},
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
                "invocations": [invocation],
                "results": [result(f, order.index(f.rule)) for f in findings],
            }
        ],
    }

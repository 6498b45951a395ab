"""Runs the checks asked for against the selected pages and assembles the plugin result."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import baseline, browser, links, sarif, site, validity
from .model import CheckName, CheckOutcome, CheckStatus, Finding, Options, Page, Severity

SARIF_FILE = "web.sarif"
NAME = "web"


@dataclass(frozen=True)
class Report:
    pages: tuple[Page, ...]
    outcomes: tuple[CheckOutcome, ...]
    artifacts: tuple[dict[str, str], ...]
    require_all: bool

    @property
    def findings(self) -> list[Finding]:
        found = [f for o in self.outcomes for f in o.findings]
        return sorted(set(found), key=lambda f: (f.file, f.line, f.column, f.rule, f.message))

    @property
    def status(self) -> str:
        if any(f.severity == Severity.ERROR for f in self.findings):
            return "failed"
        if self.require_all and any(o.status == CheckStatus.SKIPPED for o in self.outcomes):
            return "failed"
        return "passed"


def run_checks(
    options: Options, workspace: Path, plugin_dir: Path, pages: Sequence[Page], out_dir: Path | None
) -> list[CheckOutcome]:
    if not pages:
        return [CheckOutcome(c, CheckStatus.PASSED, "no page to check") for c in options.checks]
    outcomes: list[CheckOutcome] = []
    if CheckName.HTML in options.checks:
        outcomes.append(validity.check(pages, workspace, plugin_dir))
    with site.serving(options, workspace) as origin:
        if CheckName.LINKS in options.checks:
            outcomes.append(links.check(pages, workspace, links.Resolver(origin), options.external_hosts))
        outcomes.extend(
            browser.check(
                pages, workspace, plugin_dir, origin, options.checks, options.fail_on_impact, out_dir
            )
        )
    return outcomes


def base_findings(
    options: Options, workspace: Path, plugin_dir: Path, base: str, pages: Sequence[Page]
) -> list[Finding] | None:
    """Findings on the same pages at the base commit (no screenshots); None when not asked or not possible."""
    if options.baseline != "base" or not base or options.serve:
        return None
    with tempfile.TemporaryDirectory(prefix="web-base-") as tmp:
        copy = Path(tmp)
        if not baseline.extract_base(workspace, base, options.root, copy):
            return None
        (copy / options.root).mkdir(parents=True, exist_ok=True)
        then = [p for p in pages if (copy / p.file).is_file()]
        checks = tuple(c for c in options.checks if c != CheckName.SCREENSHOTS)
        outcomes = (
            run_checks(dataclasses.replace(options, checks=checks), copy, plugin_dir, then, None)
            if then
            else []
        )
    return [f for o in outcomes if o.status != CheckStatus.SKIPPED for f in o.findings]


def with_skip_warning(outcome: CheckOutcome, root: str) -> CheckOutcome:
    """A check that could not run is a warning finding too, so reviews list it; it never counts as passed."""
    if outcome.status != CheckStatus.SKIPPED or outcome.findings:
        return outcome
    warning = Finding(
        root, 0, 0, "web/check-skipped", Severity.WARNING, f"check {outcome.name} skipped: {outcome.reason}"
    )
    return CheckOutcome(outcome.name, outcome.status, outcome.reason, (warning,))


def build_report(
    options: Options,
    pages: Sequence[Page],
    outcomes: Sequence[CheckOutcome],
    out_dir: Path | None,
    version: str,
    task: str,
) -> Report:
    outcomes = [with_skip_warning(o, options.root) for o in outcomes]
    artifacts: list[dict[str, str]] = []
    for page in pages:
        if out_dir is not None and (out_dir / "web" / page.shot_name).is_file():
            artifacts.append(
                {
                    "path": f"web/{page.shot_name}",
                    "kind": "image",
                    "media_type": "image/png",
                    "title": f"{page.file} at 1280x800",
                }
            )
    report = Report(tuple(pages), tuple(outcomes), tuple(artifacts), options.require_all)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        doc = sarif.document(report.findings, outcomes, version, task)
        (out_dir / SARIF_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        artifacts.append(
            {
                "path": SARIF_FILE,
                "kind": "sarif",
                "media_type": "application/sarif+json",
                "title": "web findings (SARIF 2.1.0)",
            }
        )
        report = Report(tuple(pages), tuple(outcomes), tuple(artifacts), options.require_all)
    return report


def summary(report: Report) -> str:
    parts = []
    for o in report.outcomes:
        count = len([f for f in o.findings if f.severity != Severity.NOTE])
        parts.append(
            f"{o.name} {o.status}"
            + (f": {o.reason}" if o.status == CheckStatus.SKIPPED else f" ({count})" if count else "")
        )
    text = f"{len(report.pages)} page(s): " + "; ".join(parts)
    errors = [f for f in report.findings if f.severity == Severity.ERROR]
    if errors:
        first = errors[0]
        text += f"; first error: {first.file}:{first.line}:{first.column} {first.rule}"
    return text[:2000]


def result(report: Report, version: str, before: Sequence[Finding] | None = None) -> dict[str, Any]:
    findings = report.findings
    metrics: dict[str, float] = {"pages": len(report.pages)}
    for level in Severity:
        metrics[str(level)] = sum(f.severity == level for f in findings)
    for o in report.outcomes:
        metrics[f"{o.name}_findings"] = len(o.findings)
    metrics["skipped_checks"] = sum(o.status == CheckStatus.SKIPPED for o in report.outcomes)
    text = summary(report)
    details_base: dict[str, Any] = {}
    if before is not None:
        gone, new = baseline.resolved(before, findings), baseline.introduced(before, findings)
        metrics["resolved"], metrics["introduced"] = len(gone), len(new)
        details_base = {"resolved": [f.as_result() for f in gone], "introduced": [f.as_result() for f in new]}
        text = f"{text}; since base: {len(gone)} resolved, {len(new)} introduced"[:2000]
    return {
        "schema": "plugin_result/v1",
        "name": NAME,
        "version": version,
        "status": report.status,
        "summary": text,
        "findings": [f.as_result() for f in findings],
        "metrics": metrics,
        "details": {
            "pages": [p.file for p in report.pages],
            "checks": {
                str(o.name): {"status": str(o.status), "reason": o.reason, "findings": len(o.findings)}
                for o in report.outcomes
            },
            "skipped": [f"{o.name}: {o.reason}" for o in report.outcomes if o.status == CheckStatus.SKIPPED],
            "artifacts": list(report.artifacts),
            **details_base,
        },
    }


def human(report: Report) -> str:
    lines = [f"{f.file}:{f.line}:{f.column}: {f.severity} {f.rule}: {f.message}" for f in report.findings]
    lines += [f"check {o.name}: {o.status}" + (f" ({o.reason})" if o.reason else "") for o in report.outcomes]
    lines.append(f"web check {report.status}: {summary(report)}")
    return "\n".join(lines)

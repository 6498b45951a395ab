"""HTML validity with html-validate (pinned in package.json), run by the system's Node.

The plugin's own configuration is passed explicitly (`--config`), so a configuration file
added by the change under review cannot switch rules off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .model import CheckName, CheckOutcome, CheckStatus, Finding, Page, Severity
from .tools import node_module

BIN = "html-validate/bin/html-validate.mjs"
CONFIG = "htmlvalidate.json"
MISSING = "html-validate not installed (run `npm ci` in solutions/web)"


def tool(plugin_dir: Path) -> tuple[list[str] | None, str]:
    """The command prefix, or None and why it cannot run."""
    node = shutil.which("node")
    if node is None:
        return None, "no node (install nodejs)"
    script = node_module(plugin_dir, BIN)
    if script is None:
        return None, MISSING
    return [node, str(script), "--formatter", "json", "--config", str(plugin_dir / CONFIG)], ""


def parse_report(report: list[dict[str, object]], workspace: Path) -> list[Finding]:
    findings: list[Finding] = []
    for entry in report:
        path = Path(str(entry["filePath"]))
        file = (
            path.resolve().relative_to(workspace.resolve()).as_posix()
            if path.is_absolute()
            else path.as_posix()
        )
        messages = entry.get("messages", [])
        assert isinstance(messages, list)
        for message in messages:
            severity = Severity.ERROR if message.get("severity") == 2 else Severity.WARNING
            findings.append(
                Finding(
                    file,
                    int(message.get("line") or 0),
                    int(message.get("column") or 0),
                    f"html/{message.get('ruleId', 'parse')}",
                    severity,
                    str(message.get("message", "")),
                    str(message.get("ruleUrl") or "https://html-validate.org/rules/"),
                )
            )
    return findings


def check(pages: Sequence[Page], workspace: Path, plugin_dir: Path) -> CheckOutcome:
    prefix, why = tool(plugin_dir)
    if prefix is None:
        return CheckOutcome(CheckName.HTML, CheckStatus.SKIPPED, why)
    files = [p.file for p in pages if (workspace / p.file).is_file()]
    if not files:
        return CheckOutcome(CheckName.HTML, CheckStatus.SKIPPED, "no page has a source file under the root")
    done = subprocess.run(
        [*prefix, *files], cwd=workspace, capture_output=True, text=True, timeout=240, check=False
    )
    try:
        report = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        raise RuntimeError(
            f"html-validate exit {done.returncode}: {(done.stderr or done.stdout).strip()[:500]}"
        ) from None
    findings = parse_report(report, workspace)
    failed = any(f.severity == Severity.ERROR for f in findings)
    return CheckOutcome(
        CheckName.HTML,
        CheckStatus.FAILED if failed else CheckStatus.PASSED,
        f"{len(files)} file(s), html-validate",
        tuple(findings),
    )

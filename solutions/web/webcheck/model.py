"""Plain data shared by every check: findings, check outcomes, the options, where things are."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class CheckName(StrEnum):
    HTML = "html"
    LINKS = "links"
    A11Y = "a11y"
    RUNTIME = "runtime"
    SCREENSHOTS = "screenshots"


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class Severity(StrEnum):
    """SARIF levels, as plugin_result/v1 spells them."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


IMPACTS = ("minor", "moderate", "serious", "critical")
"""axe-core impacts, lowest first."""
BROWSER_CHECKS = (CheckName.A11Y, CheckName.RUNTIME, CheckName.SCREENSHOTS)
NO_BROWSER = "no browser (install chromium)"


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    column: int
    rule: str
    severity: Severity
    message: str
    help_uri: str = ""

    def as_result(self) -> dict[str, object]:
        out: dict[str, object] = {
            "file": self.file,
            "line": self.line,
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
        }
        if self.column:
            out["column"] = self.column
        return out


@dataclass(frozen=True)
class CheckOutcome:
    name: CheckName
    status: CheckStatus
    reason: str = ""
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Options:
    root: str = "site"
    pages: tuple[str, ...] = ()
    checks: tuple[CheckName, ...] = tuple(CheckName)
    fail_on_impact: str = "serious"
    external_hosts: tuple[str, ...] = ()
    serve: tuple[str, ...] | str | None = None
    url: str | None = None
    serve_timeout_seconds: float = 30.0
    require_all: bool = False
    baseline: str = "base"


@dataclass(frozen=True)
class Page:
    """One page to check: its path under the root, its source file relative to the workspace."""

    path: str
    file: str

    @property
    def shot_name(self) -> str:
        stem = self.path.removesuffix(".html")
        return (stem.strip("/").replace("/", "-") or "index") + ".png"


@dataclass(frozen=True)
class Context:
    """Where the check runs: the workspace (cwd), the plugin's own files, the output directory."""

    workspace: Path
    plugin_dir: Path
    out_dir: Path | None
    options: Options
    pages: tuple[Page, ...] = ()
    origin: str = ""
    notes: list[str] = field(default_factory=list)

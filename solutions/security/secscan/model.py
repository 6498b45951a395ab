"""Findings and levels: the one vocabulary every scanner speaks."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Level(StrEnum):
    """SARIF result levels, lowest first."""

    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


class Tool(StrEnum):
    BANDIT = "bandit"
    SEMGREP = "semgrep"
    SECRETS = "detect-secrets"
    OSV = "osv"


class Check(StrEnum):
    """The option `tools` names checks; each check is carried out by one or two tools."""

    SAST = "sast"
    SECRETS = "secrets"
    DEPS = "deps"


CHECK_TOOLS: dict[Check, tuple[Tool, ...]] = {
    Check.SAST: (Tool.BANDIT, Tool.SEMGREP),
    Check.SECRETS: (Tool.SECRETS,),
    Check.DEPS: (Tool.OSV,),
}

SEVERITY_LEVELS: dict[str, Level] = {
    # bandit issue_severity, semgrep severity (old and new names), GHSA / CVSS-style words
    "CRITICAL": Level.ERROR,
    "HIGH": Level.ERROR,
    "ERROR": Level.ERROR,
    "MEDIUM": Level.WARNING,
    "MODERATE": Level.WARNING,
    "WARNING": Level.WARNING,
    "LOW": Level.NOTE,
    "INFO": Level.NOTE,
    "INVENTORY": Level.NOTE,
    "EXPERIMENT": Level.NOTE,
}


def level_of(severity: str, default: Level = Level.WARNING) -> Level:
    """A tool's severity word as a SARIF level (bandit HIGH -> error, MEDIUM -> warning, LOW -> note)."""
    return SEVERITY_LEVELS.get(severity.strip().upper(), default)


@dataclass(frozen=True)
class Finding:
    """One result of one tool, located in the repository (path relative to its root)."""

    tool: Tool
    rule: str
    level: Level
    file: str
    line: int
    message: str
    column: int = 0
    key: str = ""
    """What identifies the finding apart from its line: the normalised source line, a secret's
    hash, `package@version`. Used to match base and head findings and for fingerprints."""
    help_uri: str = ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.tool, self.rule, self.file, self.key)

    def fingerprint(self, occurrence: int) -> str:
        text = "\0".join([*self.identity, str(occurrence)])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.tool, self.rule)


@dataclass(frozen=True)
class Skipped:
    """A tool that could not judge (missing, no service declared, too large): never a pass."""

    tool: Tool
    reason: str


@dataclass(frozen=True)
class Comparison:
    """Head findings split by whether the change introduced them; base findings it removed."""

    new: list[Finding]
    unchanged: list[Finding]
    resolved: list[Finding]


@dataclass
class ToolRun:
    """What one tool produced at the base and at the head."""

    tool: Tool
    base: list[Finding] = field(default_factory=list)
    head: list[Finding] = field(default_factory=list)
    skipped: str = ""
    version: str = ""


def normalise(line: str) -> str:
    return " ".join(line.split())


def compare(base: Iterable[Finding], head: Iterable[Finding]) -> Comparison:
    """Matches findings by identity, not line: code moved by the change is not new.

    Counted, so a second copy of an existing problem is new.
    """
    base_list = sorted(base, key=Finding.sort_key)
    left = Counter(f.identity for f in base_list)
    new: list[Finding] = []
    unchanged: list[Finding] = []
    for finding in sorted(head, key=Finding.sort_key):
        if left[finding.identity] > 0:
            left[finding.identity] -= 1
            unchanged.append(finding)
        else:
            new.append(finding)
    resolved: list[Finding] = []
    for finding in base_list:
        if left[finding.identity] > 0:
            left[finding.identity] -= 1
            resolved.append(finding)
    return Comparison(new, unchanged, resolved)


def with_fingerprints(findings: Iterable[Finding]) -> list[tuple[Finding, str]]:
    """Each finding with a fingerprint stable across runs: its identity plus its occurrence number."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    out = []
    for finding in sorted(findings, key=Finding.sort_key):
        out.append((finding, finding.fingerprint(seen[finding.identity])))
        seen[finding.identity] += 1
    return out

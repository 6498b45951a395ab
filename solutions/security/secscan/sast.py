"""Static analysis with bandit (Python) and semgrep (Python, JavaScript/TypeScript, HTML templates).

Both tools run once over a private copy of the changed files, both sides at once
(`base/<path>` and `head/<path>`), from that directory, with inline suppressions
ignored (`# nosec`, `# nosemgrep` are part of the change under review) and semgrep
offline (`--metrics=off`, rules from files only, no version check).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from secscan.model import Finding, Level, Tool, ToolRun, level_of, normalise

SIDES = ("base", "head")
BANDIT_TIMEOUT = 600
SEMGREP_TIMEOUT = 900


REPO_TOOLS = Path(__file__).resolve().parents[3] / ".tools"
"""The repository's `.tools/` (this file is solutions/security/secscan/sast.py), where `make bootstrap`
builds the environments of tools whose pins clash with the engine's."""


def interpreter_bin(name: str) -> str | None:
    """A tool's program: in its own environment (`<tools>/<name>/bin/<name>`, tools being $ORCH_TOOLS_DIR,
    then the repository's `.tools/`), else a console script beside this interpreter, else on PATH."""
    tools = [Path(os.environ["ORCH_TOOLS_DIR"])] if os.environ.get("ORCH_TOOLS_DIR") else []
    candidates = [t / name / "bin" / name for t in (*tools, REPO_TOOLS)] + [
        Path(sys.executable).parent / name
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def split_side(path: str) -> tuple[str, str] | None:
    """`head/src/a.py` (or `./head/src/a.py`) -> ("head", "src/a.py")."""
    path = path.removeprefix("./")
    side, _, rel = path.partition("/")
    return (side, rel) if side in SIDES and rel else None


def source_line(root: Path, side: str, rel: str, line: int) -> str:
    try:
        lines = (root / side / rel).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return normalise(lines[line - 1]) if 0 < line <= len(lines) else ""


def parse_bandit(report: dict, root: Path) -> tuple[list[Finding], list[Finding]]:
    sides: dict[str, list[Finding]] = {side: [] for side in SIDES}
    for item in report.get("results", []):
        located = split_side(str(item.get("filename", "")))
        if located is None:
            continue
        side, rel = located
        line = int(item.get("line_number") or 0)
        test = f"{item.get('test_id', 'B000')}"
        message = (
            f"{item.get('issue_text', '').strip()} [{item.get('test_name', '')}, "
            f"confidence {str(item.get('issue_confidence', '')).lower()}]"
        )
        sides[side].append(
            Finding(
                Tool.BANDIT,
                test,
                level_of(str(item.get("issue_severity", ""))),
                rel,
                line,
                message,
                int(item.get("col_offset") or 0) + 1,
                source_line(root, side, rel, line),
                str(item.get("more_info", "")),
            )
        )
    return sides["base"], sides["head"]


def parse_semgrep(report: dict, root: Path) -> tuple[list[Finding], list[Finding]]:
    sides: dict[str, list[Finding]] = {side: [] for side in SIDES}
    for item in report.get("results", []):
        located = split_side(str(item.get("path", "")))
        if located is None:
            continue
        side, rel = located
        line = int(item.get("start", {}).get("line") or 0)
        extra = item.get("extra", {})
        rule = str(item.get("check_id", "semgrep")).rsplit(".", 1)[-1]
        sides[side].append(
            Finding(
                Tool.SEMGREP,
                rule,
                level_of(str(extra.get("severity", ""))),
                rel,
                line,
                " ".join(str(extra.get("message", "")).split()),
                int(item.get("start", {}).get("col") or 0),
                source_line(root, side, rel, line),
            )
        )
    return sides["base"], sides["head"]


def has_targets(root: Path, suffixes: Sequence[str]) -> bool:
    return any(p.suffix in suffixes for side in SIDES for p in (root / side).rglob("*") if p.is_file())


def run_bandit(root: Path) -> ToolRun:
    result = ToolRun(Tool.BANDIT)
    if not has_targets(root, (".py", ".pyw")):
        return result
    argv = [sys.executable, "-P", "-m", "bandit", "-f", "json", "-q", "--ignore-nosec", "-r", *SIDES]
    try:
        done = subprocess.run(
            argv, cwd=root, capture_output=True, text=True, timeout=BANDIT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        result.skipped = f"bandit took longer than {BANDIT_TIMEOUT}s on this change"
        return result
    if "No module named bandit" in done.stderr:
        result.skipped = "bandit unavailable (install solutions/security/requirements.txt)"
        return result
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        result.skipped = f"bandit failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"
        return result
    result.base, result.head = parse_bandit(report, root)
    result.version = bandit_version()
    return result


def bandit_version() -> str:
    try:
        return metadata.version("bandit")
    except metadata.PackageNotFoundError:
        return ""


def run_semgrep(root: Path, rule_paths: Sequence[Path]) -> ToolRun:
    result = ToolRun(Tool.SEMGREP)
    binary = interpreter_bin("semgrep")
    if binary is None:
        result.skipped = (
            "semgrep unavailable "
            "(make bootstrap builds .tools/semgrep from solutions/security/tools/semgrep.txt)"
        )
        return result
    argv = [
        binary,
        "scan",
        "--metrics=off",
        "--disable-version-check",
        "--disable-nosem",
        "--no-git-ignore",
        "--json",
        "-q",
        *(f"--config={p}" for p in rule_paths),
        *SIDES,
    ]
    env = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
    try:
        done = subprocess.run(
            argv, cwd=root, capture_output=True, check=False, text=True, timeout=SEMGREP_TIMEOUT, env=env
        )
    except subprocess.TimeoutExpired:
        result.skipped = f"semgrep took longer than {SEMGREP_TIMEOUT}s on this change"
        return result
    except OSError as exc:
        result.skipped = f"semgrep unavailable: {exc}"
        return result
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        result.skipped = f"semgrep failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"
        return result
    fatal = [e for e in report.get("errors", []) if e.get("level") == "error" and "path" not in e]
    if fatal:
        result.skipped = f"semgrep failed: {' '.join(str(fatal[0].get('message', '')).split())[:300]}"
        return result
    result.base, result.head = parse_semgrep(report, root)
    result.version = str(report.get("version", ""))
    return result


def level_counts(findings: Sequence[Finding]) -> dict[Level, int]:
    return {level: sum(1 for f in findings if f.level == level) for level in Level}

"""The summarize phase: SUMMARY.md for a person, rendered from the manifest.

Outcome first, then the task, what changed, acceptance, safety, plugin, a
timeline and the logs. Rendered for failed and aborted runs too.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from orchestrator import PHASES, textsafe
from orchestrator.fsio import atomic_write_text
from orchestrator.phaselog import PhaseLog
from orchestrator.redact import Redactor
from orchestrator.runs import PhaseResult, Run, derive_status

SUMMARY = "SUMMARY.md"
TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=textsafe.finalize,
    )
    env.filters.update(textsafe.FILTERS)
    return env


def _ms(stamp: str) -> str:
    """Times for the Mermaid gantt: HH:MM:SS.mmm (axis shows seconds)."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").strftime("%H:%M:%S.%f")[:-3]


def timeline(manifest: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name in PHASES:
        entry = manifest["phases"].get(name)
        if entry and entry["started_at"] and entry["ended_at"]:
            tag = {"passed": "done", "failed": "crit", "refused": "crit", "tripped": "crit",
                   "aborted": "crit", "warning": "active"}.get(entry["status"], "done")
            rows.append({"name": name, "status": entry["status"], "tag": tag,
                         "start": _ms(entry["started_at"]), "end": _ms(entry["ended_at"])})
    return rows


def context(run: Run) -> dict[str, Any]:
    manifest = run.manifest
    status, reason = derive_status(manifest)
    return {
        "m": manifest,
        "status": status,
        "reason": reason,
        "task": run.task.data,
        "phases": [(name, manifest["phases"][name]) for name in PHASES if name in manifest["phases"]],
        "changes": manifest.get("changes", {"files": [], "files_changed": 0, "lines_added": 0, "lines_deleted": 0}),
        "timeline": timeline(manifest),
        "logs": sorted(p.name for p in run.logs.glob("*.log")) if run.logs.is_dir() else [],
        "has_review": (run.dir / "REVIEW.md").exists(),
    }


def render(run: Run) -> Path:
    text = environment().get_template("summary.md.j2").render(**context(run))
    path = run.dir / SUMMARY
    atomic_write_text(path, Redactor.from_environ().redact(text))
    return path


def run(run: Run, log: PhaseLog) -> PhaseResult:
    path = render(run)
    log.note(f"wrote {path.name}")
    return PhaseResult("passed", "summary written", 0, [path])

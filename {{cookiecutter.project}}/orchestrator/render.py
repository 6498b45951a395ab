"""Every Jinja template the engine renders, from one place.

- `markdown(...)`: SUMMARY.md and REVIEW.md from `templates/`; every interpolated
  string has its control characters escaped (`textsafe.finalize`), plus the
  Markdown filters of `textsafe.FILTERS`.
- `prompt(...)`: the executor's prompt from `templates/prompt.md.j2`, verbatim.
- `pack_prompt(...)`: a task pack's own prompt, in Jinja's sandbox (packs are data, not code).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from orchestrator import textsafe
from orchestrator.clock import parse_utc
from orchestrator.fsio import atomic_write_text
from orchestrator.model import Status
from orchestrator.phases import NAMES as PHASES
from orchestrator.redact import Redactor
from orchestrator.runs import Run, derive_status

TEMPLATES = Path(__file__).resolve().parent / "templates"


@cache
def _environment(escaped: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=textsafe.finalize if escaped else None,
    )
    if escaped:
        env.filters.update(textsafe.FILTERS)
    return env


def markdown(template: str, **context: Any) -> str:
    """A Markdown report (`summary.md.j2`, `review.md.j2`) with control characters escaped."""
    return _environment(True).get_template(template).render(**context)


def prompt(template: str, context: dict[str, Any]) -> str:
    """An executor prompt from the engine's own templates."""
    return _environment(False).get_template(template).render(context)


def pack_prompt(source: str, data: dict[str, Any]) -> str:
    """A task pack's own prompt template;
    raises jinja2's TemplateSyntaxError, UndefinedError or SecurityError."""
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(source).render(task=data)


# --- SUMMARY.md ---------------------------------------------------------------------------


def _ms(stamp: str) -> str:
    """Times for the Mermaid gantt: HH:MM:SS.mmm (axis shows seconds)."""
    return parse_utc(stamp).strftime("%H:%M:%S.%f")[:-3]


def timeline(manifest: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name in PHASES:
        entry = manifest["phases"].get(name)
        if entry and entry["started_at"] and entry["ended_at"]:
            tag = {
                Status.PASSED: "done",
                Status.FAILED: "crit",
                Status.REFUSED: "crit",
                Status.TRIPPED: "crit",
                Status.ABORTED: "crit",
                Status.WARNING: "active",
            }.get(entry["status"], "done")
            rows.append(
                {
                    "name": name,
                    "status": entry["status"],
                    "tag": tag,
                    "start": _ms(entry["started_at"]),
                    "end": _ms(entry["ended_at"]),
                }
            )
    return rows


def summary_context(run: Run) -> dict[str, Any]:
    status, reason = derive_status(run.manifest)
    manifest = run.manifest.to_json()
    return {
        "m": manifest,
        "status": status,
        "reason": reason,
        "task": run.task.data,
        "phases": [(name, manifest["phases"][name]) for name in PHASES if name in manifest["phases"]],
        "changes": manifest.get(
            "changes", {"files": [], "files_changed": 0, "lines_added": 0, "lines_deleted": 0}
        ),
        "timeline": timeline(manifest),
        "logs": sorted(p.name for p in run.logs.glob("*.log")) if run.logs.is_dir() else [],
        "has_review": run.layout.review_markdown.exists(),
    }


def summary(run: Run) -> Path:
    """Writes SUMMARY.md for the run as the manifest stands (the summarize phase, and publish's seal)."""
    text = markdown("summary.md.j2", **summary_context(run))
    path = run.layout.summary
    atomic_write_text(path, Redactor.from_environ().redact(text))
    return path

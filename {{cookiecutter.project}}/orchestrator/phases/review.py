"""The review phase: a deterministic review of a run, as `review_report.json` and `REVIEW.md`.

The rules live in `orchestrator.reviewing`; this module reads a run's files and writes
the two outputs. The reviewer is a pure function of its inputs (the task pack, `diff.patch`, the
review-relevant part of the manifest and `plugin_result.json`): no clock, no
absolute path, no locale, no environment. Rerunning it on the same run gives a
byte-identical report, so a report can be re-derived and compared by anyone,
and its `inputs` block ties it to the exact files it judged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator import diffparse, render, review_secrets, textsafe
from orchestrator.fsio import atomic_write_text, read_json, sha256_bytes, write_json
from orchestrator.layout import MANIFEST, REVIEW_MARKDOWN, REVIEW_REPORT
from orchestrator.model import ReviewRecord, Status
from orchestrator.phaselog import PhaseLog
from orchestrator.redact import Redactor
from orchestrator.reviewing import DIFF, PLUGIN_RESULT, ReviewInputs, review
from orchestrator.runs import PhaseResult, Run

REPORT = REVIEW_REPORT
REVIEW_MD = REVIEW_MARKDOWN


def load_inputs(
    run_dir: Path,
    task: dict[str, Any],
    task_path: str,
    task_bytes: bytes,
    manifest: dict[str, Any] | None = None,
    repo: Path | None = None,
    redactor: Redactor | None = None,
) -> ReviewInputs:
    """Reads the run's files; bytes are decoded as UTF-8 with replacement, never by locale.

    With `repo`, the binary files of the change are read from the recorded tree (`changes.tree`)
    and their known secret values masked by `redactor` (default: from the environment)."""
    diff_file = run_dir / DIFF
    plugin_file = run_dir / PLUGIN_RESULT
    diff_bytes = diff_file.read_bytes() if diff_file.is_file() else None
    plugin_bytes = plugin_file.read_bytes() if plugin_file.is_file() else None
    plugin_data = None
    if plugin_bytes is not None:
        try:
            plugin_data = read_json(plugin_file)
        except ValueError:
            plugin_data = None
    manifest = manifest if manifest is not None else read_json(run_dir / MANIFEST)
    diff_text = diff_bytes.decode("utf-8", "replace") if diff_bytes is not None else None
    binaries = None
    tree = (manifest.get("changes") or {}).get("tree")
    if repo is not None and tree and diff_text is not None:
        try:
            files = diffparse.parse(diff_text)
        except diffparse.DiffError:
            files = []  # the review rejects the run for it
        paths = sorted({f.new_path for f in files if f.binary and f.new_path})
        binaries = review_secrets.binary_strings(repo, tree, paths, redactor or Redactor.from_environ())
    return ReviewInputs(
        binaries=binaries,
        task=task,
        task_path=task_path,
        task_sha256=sha256_bytes(task_bytes),
        task_text=task_bytes.decode("utf-8", "replace"),
        manifest=manifest,
        diff=diff_text,
        diff_sha256=sha256_bytes(diff_bytes) if diff_bytes is not None else None,
        plugin_result=plugin_data if isinstance(plugin_data, dict) else None,
        plugin_result_sha256=sha256_bytes(plugin_bytes) if plugin_bytes is not None else None,
    )


def render_markdown(report: dict[str, Any]) -> str:
    return render.markdown("review.md.j2", r=report)


def write_outputs(run_dir: Path, report: dict[str, Any], redactor: Redactor | None = None) -> list[Path]:
    """Both outputs, redacted like the logs (the report quotes paths and messages the run influenced)."""
    redactor = redactor or Redactor.from_environ()
    write_json(run_dir / REPORT, textsafe.json_safe(redactor.redact_json(report)))
    atomic_write_text(run_dir / REVIEW_MD, redactor.redact(render_markdown(report)))
    return [run_dir / REPORT, run_dir / REVIEW_MD]


def review_run_dir(run_dir: Path, task: dict[str, Any], task_path: str, task_bytes: bytes) -> dict[str, Any]:
    """Reviews a run directory and writes both outputs; the core of the phase, without a Run."""
    report = review(load_inputs(run_dir, task, task_path, task_bytes))
    write_outputs(run_dir, report)
    return report


def run(run: Run, log: PhaseLog) -> PhaseResult:
    task_bytes = run.task.file.read_bytes()
    report = review(
        load_inputs(
            run.dir,
            run.task.data,
            run.manifest.task.path,
            task_bytes,
            run.manifest.to_json(),
            run.repo,
            log.redactor,
        )
    )
    outputs = write_outputs(run.dir, report, log.redactor)
    for item in report["checks"]:
        log.note(f"check {item['id']}: {item['status']} - {item['summary']}")
        for f in item["findings"]:
            log.note(f"  {f['level']} {f['file']}:{f['line']} {f['rule']}: {f['message']}")
    log.note(f"verdict {report['verdict']}: {report['reason']}")
    failed = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    verdict = ReviewRecord(
        verdict=report["verdict"],
        failed=failed,
        warnings=[c["id"] for c in report["checks"] if c["status"] == "warn"],
    )
    if report["verdict"] == "approve":
        return PhaseResult(Status.PASSED, f"review approved: {report['reason']}", 0, outputs, review=verdict)
    return PhaseResult(
        Status.FAILED, f"review {report['verdict']}: {report['reason']}", 1, outputs, review=verdict
    )

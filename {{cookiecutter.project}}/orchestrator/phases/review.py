"""The review phase: a deterministic review of a run, as `review_report.json` and `REVIEW.md`.

The reviewer is a pure function of its inputs (the task pack, `diff.patch`, the
review-relevant part of the manifest and `plugin_result.json`): no clock, no
absolute path, no locale, no environment. Rerunning it on the same run gives a
byte-identical report, so a report can be re-derived and compared by anyone,
and its `inputs` block ties it to the exact files it judged.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from orchestrator import __version__, render, review_secrets, textsafe, unidiff
from orchestrator.controlplane import is_control_plane, is_dependency_manifest
from orchestrator.egress import parse_allowlist, split_target
from orchestrator.environment import preset_hosts
from orchestrator.fsio import atomic_write_text, canonical_json, read_json, sha256_bytes, write_json
from orchestrator.globs import match_any
from orchestrator.model import ReviewRecord, Status
from orchestrator.phaselog import PhaseLog
from orchestrator.redact import Redactor
from orchestrator.runs import PhaseResult, Run
from orchestrator.schemas import load as load_schema

REPORT = "review_report.json"
REVIEW_MD = "REVIEW.md"
DIFF = "diff.patch"
PLUGIN_RESULT = "plugin_result.json"

"""Files the execution plane may never change, whatever the task pack's scope says."""

SAFETY_CHECKS = ("control-plane", "secrets", "permissions")
CHECK_ORDER = (
    "acceptance",
    "scope",
    "control-plane",
    "secrets",
    "size",
    "breakers",
    "plugin",
    "executor",
    "permissions",
)
TITLES = {
    "acceptance": "Every acceptance check of the task pack passed",
    "scope": "Changed paths are inside scope.allowed_paths and outside scope.forbidden_paths",
    "control-plane": (
        "No control-plane file is touched, no path holds control characters and no symlink leads "
        "out of the workspace"
    ),
    "secrets": "No secret is added by the diff",
    "size": "The change is within limits.max_changed_files and limits.max_diff_lines",
    "breakers": "No circuit breaker tripped",
    "plugin": "The solution plugin accepted the change (strict: failure fails, otherwise warns)",
    "executor": "The executor finished in good health",
    "permissions": "Permissions used match what the task pack declared; the run was isolated",
}
RULES = (
    "reject: a safety check (control-plane, secrets, permissions) has status fail",
    "request_changes: otherwise, any other check has status fail",
    "approve: otherwise; checks with status warn or skip never block",
)
MANIFEST_DIGEST = "manifest.json#review-inputs"
OK_PHASE = {Status.PASSED, Status.WARNING}


@dataclass(frozen=True)
class ReviewInputs:
    """Everything the reviewer may look at, already read from disk."""

    task: dict[str, Any]
    """Task pack data with schema defaults applied."""
    task_path: str
    task_sha256: str
    task_text: str
    manifest: dict[str, Any]
    diff: str | None
    """diff.patch as text; None when the run has none."""
    plugin_result: dict[str, Any] | None = None
    plugin_result_sha256: str | None = None
    diff_sha256: str | None = None
    """Digest of diff.patch's bytes (the text may have had invalid UTF-8 replaced)."""
    binaries: dict[str, str | None] | None = None
    """Each added or changed binary file: its printable strings (one a line, known secret values already
    masked), or None when it could not be read or is too large (`review_secrets.binary_strings`).
    None when the binary files were not read at all."""


# --- helpers -------------------------------------------------------------------------------


def finding(file: str, line: int, rule: str, message: str, level: str = "error") -> dict[str, Any]:
    return {"file": file, "line": line, "rule": rule, "message": message, "level": level}


def _sorted(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {canonical_json(f): f for f in findings}
    return sorted(unique.values(), key=lambda f: (f["file"], f["line"], f["rule"], f["message"], f["level"]))


def check(
    check_id: str, findings: list[dict[str, Any]], summary: str, status: str | None = None
) -> dict[str, Any]:
    """A check record; its status follows from its findings unless given (skip, or a pass with notes)."""
    if status is None:
        levels = {f["level"] for f in findings}
        status = "fail" if "error" in levels else "warn" if "warning" in levels else "pass"
    return {
        "id": check_id,
        "class": "safety" if check_id in SAFETY_CHECKS else "quality",
        "title": TITLES[check_id],
        "status": status,
        "summary": summary,
        "findings": _sorted(findings),
    }


@cache
def _limit_default(name: str) -> int:
    return int(load_schema("taskpack.v1.json")["properties"]["limits"]["properties"][name]["default"])


def limit(task: dict[str, Any], name: str) -> int:
    return int((task.get("limits") or {}).get(name, _limit_default(name)))


def line_of(text: str, pattern: str) -> int:
    """1-based line of the first line matching `pattern` in the task pack; 0 when not found."""
    regex = re.compile(pattern)
    for number, line in enumerate(text.splitlines(), start=1):
        if regex.search(line):
            return number
    return 0


def review_manifest_view(manifest: dict[str, Any]) -> dict[str, Any]:
    """The part of the manifest the review reads; its digest goes into the report's inputs.

    Everything time-dependent (durations, timestamps, phase bookkeeping other than the
    execute outcome) is left out, so rerunning the review does not change the digest.
    """
    executor = manifest.get("executor", {})
    return {
        "run_id": manifest.get("run_id"),
        "task": manifest.get("task"),
        "base": (manifest.get("git") or {}).get("base"),
        "executor": {k: executor.get(k) for k in ("kind", "version", "attempts", "usage", "health")},
        "execute_status": ((manifest.get("phases") or {}).get("execute") or {}).get("status"),
        "acceptance": [
            {k: v for k, v in item.items() if k != "duration_seconds"}
            for item in manifest.get("acceptance", [])
        ],
        "safety": manifest.get("safety"),
        "breakers": manifest.get("breakers"),
        "plugin": manifest.get("plugin"),
        "unsafe": bool(manifest.get("unsafe", False)),
    }


# --- the checks ----------------------------------------------------------------------------


def check_acceptance(inputs: ReviewInputs) -> dict[str, Any]:
    declared = [c["id"] for c in inputs.task.get("acceptance", [])]
    results = {r["id"]: r for r in inputs.manifest.get("acceptance", [])}
    findings = []
    for check_id in declared:
        line = line_of(inputs.task_text, rf"^\s*-?\s*id:\s*['\"]?{re.escape(check_id)}['\"]?\s*(#.*)?$")
        result = results.get(check_id)
        if result is None:
            findings.append(
                finding(
                    inputs.task_path,
                    line,
                    "acceptance/not-run",
                    f"acceptance check `{check_id}` has no result; run the verify phase",
                )
            )
        elif result["status"] != Status.PASSED:
            findings.append(
                finding(
                    inputs.task_path,
                    line,
                    f"acceptance/{result['status']}",
                    f"acceptance check `{check_id}` {result['status']}: exit {result.get('exit_code')}, "
                    f"expected {result.get('expect_exit', 0)}",
                )
            )
    if not declared:
        return check("acceptance", [], "the task pack declares no acceptance check", "skip")
    passed = len(declared) - len(findings)
    return check("acceptance", findings, f"{passed} of {len(declared)} acceptance checks passed")


def check_scope(inputs: ReviewInputs, paths: list[str]) -> dict[str, Any]:
    if inputs.diff is None:
        return check(
            "scope",
            [
                finding(
                    DIFF,
                    0,
                    "scope/no-diff",
                    "the run has no diff.patch, so the change cannot be reviewed; run the execute phase",
                )
            ],
            "no diff.patch",
        )
    scope = inputs.task.get("scope", {})
    allowed, forbidden = list(scope.get("allowed_paths", [])), list(scope.get("forbidden_paths", []))
    findings = []
    for path in paths:
        if match_any(forbidden, path):
            findings.append(finding(path, 0, "scope/forbidden", "path matches scope.forbidden_paths"))
        elif not match_any(allowed, path):
            findings.append(
                finding(
                    path,
                    0,
                    "scope/outside-allowed",
                    "path is outside scope.allowed_paths; revert it or widen the scope in the pack",
                )
            )
    out_of_scope = len(findings)
    for path in paths:
        if (rule := is_dependency_manifest(path)) is not None and not is_control_plane(
            path, _extra_rules(inputs)
        ):
            findings.append(
                finding(
                    path,
                    0,
                    "scope/dependency-manifest",
                    f"dependency change: a dependency manifest ({rule}) changed; check what it installs",
                    "note",
                )
            )
    return check("scope", findings, f"{len(paths)} changed path(s), {out_of_scope} out of scope")


def _extra_rules(inputs: ReviewInputs) -> tuple[str, ...]:
    """The repository's own control-plane globs, as the safety phase recorded them."""
    return tuple((inputs.manifest.get("safety") or {}).get("control_plane", []))


def _escapes(path: str, target: str) -> bool:
    if target.startswith("/"):
        return True
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return joined == ".." or joined.startswith("../")


def check_control_plane(
    inputs: ReviewInputs, files: list[unidiff.FileDiff], paths: list[str]
) -> dict[str, Any]:
    if inputs.diff is None:
        return check("control-plane", [], "no diff.patch", "skip")
    extra = _extra_rules(inputs)
    findings = [
        finding(
            p,
            0,
            "control-plane/touched",
            f"control-plane file changed by the execution plane (rule {rule}); only the control plane "
            "may edit it",
        )
        for p in paths
        if (rule := is_control_plane(p, extra)) is not None
    ]
    findings.extend(
        finding(
            textsafe.escape(p),
            0,
            "control-plane/control-characters",
            "the path holds control characters (terminal escapes, line breaks or bidi overrides) "
            "that can forge what a person reads; rename the file",
        )
        for p in paths
        if textsafe.CONTROL.search(p)
    )
    for item in files:
        if item.symlink and item.new_path and item.added and _escapes(item.new_path, item.added[0][1]):
            findings.append(
                finding(
                    item.new_path,
                    0,
                    "control-plane/symlink-escape",
                    "symlink points outside the workspace; replace it with a file or a relative link",
                )
            )
    return check("control-plane", findings, f"{len(findings)} protected path(s) touched")


def check_secrets(inputs: ReviewInputs, files: list[unidiff.FileDiff]) -> dict[str, Any]:
    """Added text lines, added or renamed paths (a file name can carry a secret) and binary files."""
    if inputs.diff is None:
        return check("secrets", [], "no diff.patch", "skip")
    added: dict[str, list[tuple[int, str]]] = {}
    for item in files:
        if item.new_path and item.added and not item.binary and not item.symlink:
            added.setdefault(item.new_path, []).extend(item.added)
    named = sorted({f.new_path for f in files if f.new_path and f.new_path != f.old_path})
    binaries = sorted({f.new_path for f in files if f.binary and f.new_path})
    hits = [
        *review_secrets.line_hits(added),
        *review_secrets.path_hits(named),
        *review_secrets.binary_hits(inputs.binaries, binaries),
    ]
    findings = [finding(*hit) for hit in hits]
    scanned = sum(len(lines) for lines in added.values())
    return check(
        "secrets",
        findings,
        f"{scanned} added line(s), {len(named)} new path(s) and {len(binaries)} binary "
        f"file(s) scanned, {len(findings)} finding(s)",
    )


def check_size(inputs: ReviewInputs, files: list[unidiff.FileDiff]) -> dict[str, Any]:
    if inputs.diff is None:
        return check("size", [], "no diff.patch", "skip")
    max_files, max_lines = limit(inputs.task, "max_changed_files"), limit(inputs.task, "max_diff_lines")
    changed = len({f.path for f in files})
    lines = sum(len(f.added) + len(f.removed) for f in files)
    findings = []
    if changed > max_files:
        findings.append(
            finding(
                DIFF,
                0,
                "size/max-changed-files",
                f"{changed} files changed, limit {max_files} (limits.max_changed_files)",
            )
        )
    if lines > max_lines:
        findings.append(
            finding(
                DIFF,
                0,
                "size/max-diff-lines",
                f"{lines} lines changed, limit {max_lines} (limits.max_diff_lines)",
            )
        )
    return check("size", findings, f"{changed}/{max_files} files, {lines}/{max_lines} lines")


def check_breakers(inputs: ReviewInputs) -> dict[str, Any]:
    findings = [
        finding(
            "manifest.json",
            0,
            f"breakers/{b['name']}",
            f"breaker {b['name']} tripped{' in ' + b['phase'] if b.get('phase') else ''}: "
            f"measured {b['measured']} > limit {b['limit']}",
        )
        for b in inputs.manifest.get("breakers", [])
    ]
    return check("breakers", findings, f"{len(findings)} breaker(s) tripped")


def check_plugin(inputs: ReviewInputs) -> dict[str, Any]:
    entry = inputs.manifest.get("plugin")
    named = inputs.task.get("plugin")
    if entry is None:
        text = "the task pack names no plugin" if not named else "the plugin phase recorded no entry"
        return check("plugin", [], text, "skip")
    name, status, strict = entry["name"], entry["status"], bool(entry.get("strict", False))
    if status == "skipped":
        return check("plugin", [], f"plugin {name} skipped: {entry.get('reason', '')}".rstrip(": "), "skip")
    findings = []
    recorded = entry.get("sha256")
    if recorded is not None and recorded != inputs.plugin_result_sha256:
        findings.append(
            finding(
                PLUGIN_RESULT,
                0,
                "plugin/result-mismatch",
                "plugin_result.json is missing or differs from the digest the manifest recorded",
            )
        )
    level = "note" if status == "passed" else "error" if strict and status != "warning" else "warning"
    if status != "passed":
        findings.append(
            finding(
                PLUGIN_RESULT,
                0,
                f"plugin/{status}",
                f"plugin {name} {status}{': ' + entry['reason'] if entry.get('reason') else ''}"
                f" ({'strict' if strict else 'not strict: a warning'})",
                level,
            )
        )
    for item in (inputs.plugin_result or {}).get("findings", []):
        item_level = (
            "note"
            if level == "note"
            else {"error": level, "warning": "warning"}.get(item["severity"], "note")
        )
        findings.append(
            finding(
                item["file"],
                int(item.get("line", 0)),
                f"plugin/{name}/{item['rule']}",
                f"[{item['severity']}] {item['message']}",
                item_level,
            )
        )
    summary = f"plugin {name} {status} ({'strict' if strict else 'not strict'})"
    return check("plugin", findings, summary)


def check_executor(inputs: ReviewInputs) -> dict[str, Any]:
    executor = inputs.manifest.get("executor", {})
    kind = executor.get("kind", inputs.task.get("executor", {}).get("kind", "shell"))
    health = executor.get("health") or {}
    findings = []
    execute = ((inputs.manifest.get("phases") or {}).get("execute") or {}).get("status")
    if execute is not None and execute not in OK_PHASE:
        findings.append(
            finding("manifest.json", 0, f"executor/phase-{execute}", f"the execute phase ended {execute}")
        )
    if kind == "codex":
        if not health.get("turn_completed"):
            findings.append(
                finding(
                    "manifest.json",
                    0,
                    "executor/no-turn-completed",
                    "codex exec never reported turn.completed; its work is unfinished",
                )
            )
        if not health.get("last_message"):
            findings.append(
                finding("manifest.json", 0, "executor/no-last-message", "codex exec left no last message")
            )
    usage = executor.get("usage") or {}
    used = ", ".join(f"{k} {usage[k]}" for k in sorted(usage))
    summary = f"{kind}: " + (
        "no agent, health signals do not apply"
        if kind == "shell"
        else "turn.completed seen"
        if health.get("turn_completed")
        else "health recorded"
        if health
        else "no health recorded"
    )
    return check("executor", findings, summary + (f"; usage: {used}" if used else ""))


def check_permissions(inputs: ReviewInputs) -> dict[str, Any]:
    """Judges the pack's declared permissions against what the run did (`safety.used`, `safety.denied`).

    Under-declared: something was denied (or used) that the pack does not declare. Over-declared: a
    declared host no allowed connection matched, or a declared cloud provider never used: a warning.
    Hosts used by setup (the prepare phase) are judged against the environment's hosts; presets
    (`@python`) stand for the hosts they expand to."""
    safety_decl = inputs.task.get("safety") or {}
    declared = {
        "network": sorted((safety_decl.get("network") or {}).get("hosts", [])),
        "cloud": sorted((safety_decl.get("cloud") or {}).get("providers", [])),
    }
    setup_hosts = (inputs.manifest.get("environment") or {}).get("expanded_hosts", [])
    safety = inputs.manifest.get("safety") or {}
    used: dict[str, set[str]] = {"network": set(), "cloud": set()}
    for item in safety.get("used", []):
        if item["kind"] == "network" and item.get("phase") == "prepare":
            if not any(_network_covers(rule, item["target"]) for rule in setup_hosts):
                used["network"].add(item["target"])  # judged below as undeclared
            continue
        used.setdefault(item["kind"], set()).add(item["target"])
    findings = []
    if inputs.manifest.get("unsafe"):
        findings.append(
            finding(
                "manifest.json",
                0,
                "permissions/unsafe-run",
                "the run was NOT isolated (ORCH_UNSAFE_NO_ISOLATION=1); nothing it did was contained",
            )
        )
    for item in safety.get("denied", []):
        where = f" in {item['phase']}" if item.get("phase") else ""
        findings.append(
            finding(
                "manifest.json",
                0,
                f"permissions/denied-{item['kind']}",
                f"{item['kind']} access to {item['target']} was denied{where}: it is not declared",
            )
        )
    for decision in safety.get("decisions", []):
        if decision["decision"] in ("refuse", "unsafe"):
            findings.append(
                finding(
                    "manifest.json",
                    0,
                    f"permissions/{decision['decision']}",
                    f"safety decision {decision['id']}: {decision['reason']}",
                )
            )
    for kind in ("network", "cloud"):
        covers = _network_covers if kind == "network" else _same
        for target in sorted(used.get(kind, set())):
            if not any(covers(rule, target) for rule in declared[kind]):
                findings.append(
                    finding(
                        "manifest.json",
                        0,
                        f"permissions/undeclared-{kind}",
                        f"{kind} {target} was used but is not declared",
                    )
                )
        for rule in declared[kind]:
            if not any(covers(rule, target) for target in used.get(kind, set())):
                findings.append(
                    finding(
                        inputs.task_path,
                        0,
                        f"permissions/over-declared-{kind}",
                        f"{kind} {rule} is declared but was not used; drop it from the pack",
                        "warning",
                    )
                )
    summary = (
        f"network declared {len(declared['network'])}, used {len(used['network'])}, "
        f"cloud declared {len(declared['cloud'])}, denied {len(safety.get('denied', []))}"
        + ("; UNSAFE run" if inputs.manifest.get("unsafe") else "")
    )
    return check("permissions", findings, summary)


def _network_covers(declared: str, used: str) -> bool:
    """Whether a declared host (`example.com`, `127.0.0.1:8080`) is the rule an allowed `host:port` went by."""
    host, port = split_target(used, 0)
    rules = parse_allowlist(preset_hosts(declared))
    if port == 0:  # recorded without a port: the host alone decides
        return any(rule.host == host.lower().rstrip(".") for rule in rules)
    return any(rule.permits(host, port) for rule in rules)


def _same(declared: str, used: str) -> bool:
    return declared == used


# --- the verdict and the report ------------------------------------------------------------


def verdict(checks: list[dict[str, Any]]) -> tuple[str, str]:
    """Applies RULES in order; the reason names the failing checks."""
    failed = [c["id"] for c in checks if c["status"] == "fail"]
    safety = [c for c in failed if c in SAFETY_CHECKS]
    warned = [c["id"] for c in checks if c["status"] == "warn"]
    if safety:
        return "reject", f"safety check(s) failed: {', '.join(safety)}" + (
            f"; also failed: {', '.join(c for c in failed if c not in safety)}"
            if len(failed) > len(safety)
            else ""
        )
    if failed:
        return "request_changes", f"check(s) failed: {', '.join(failed)}"
    return "approve", "every check passed" + (f" (warnings: {', '.join(warned)})" if warned else "")


def review(inputs: ReviewInputs) -> dict[str, Any]:
    """The report: a pure function of `inputs`, byte-stable through canonical_json."""
    files = unidiff.parse(inputs.diff) if inputs.diff is not None else []
    paths = unidiff.changed_paths(files)
    checks = [
        check_acceptance(inputs),
        check_scope(inputs, paths),
        check_control_plane(inputs, files, paths),
        check_secrets(inputs, files),
        check_size(inputs, files),
        check_breakers(inputs),
        check_plugin(inputs),
        check_executor(inputs),
        check_permissions(inputs),
    ]
    decision, reason = verdict(checks)
    manifest = inputs.manifest
    return {
        "schema": "review_report/v1",
        "reviewer": {"name": "codex-orchestrator", "version": __version__},
        "task": {
            "id": inputs.task.get("id", manifest["task"]["id"]),
            "path": inputs.task_path,
            "sha256": inputs.task_sha256,
        },
        "run_id": manifest["run_id"],
        "base": (manifest.get("git") or {}).get("base"),
        "executor": (manifest.get("executor") or {}).get("kind"),
        "verdict": decision,
        "reason": reason,
        "rules": list(RULES),
        "checks": checks,
        "changes": {
            "files": sorted(
                (
                    {"path": f.path, "added": len(f.added), "removed": len(f.removed), "binary": f.binary}
                    for f in files
                ),
                key=lambda f: f["path"],
            ),
            "files_changed": len({f.path for f in files}),
            "lines_added": sum(len(f.added) for f in files),
            "lines_removed": sum(len(f.removed) for f in files),
        },
        "inputs": {
            "task.yml": inputs.task_sha256,
            DIFF: None
            if inputs.diff is None
            else inputs.diff_sha256 or sha256_bytes(inputs.diff.encode("utf-8")),
            PLUGIN_RESULT: inputs.plugin_result_sha256,
            MANIFEST_DIGEST: sha256_bytes(canonical_json(review_manifest_view(manifest)).encode("utf-8")),
        },
    }


# --- I/O at the edges ----------------------------------------------------------------------


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
    manifest = manifest if manifest is not None else read_json(run_dir / "manifest.json")
    diff_text = diff_bytes.decode("utf-8", "replace") if diff_bytes is not None else None
    binaries = None
    tree = (manifest.get("changes") or {}).get("tree")
    if repo is not None and tree and diff_text is not None:
        paths = sorted({f.new_path for f in unidiff.parse(diff_text) if f.binary and f.new_path})
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

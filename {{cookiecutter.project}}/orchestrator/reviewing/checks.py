"""The review's checks over the task pack, the manifest (a JSON document), the diff and the plugin result.

Each check is a pure function returning a check record (`model.check`); the permission
judgement lives in `permissions`, the verdict and the report in `report`.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from orchestrator import review_secrets, textsafe
from orchestrator.controlplane import is_control_plane, is_dependency_manifest
from orchestrator.diffparse import FileDiff
from orchestrator.layout import MANIFEST
from orchestrator.reviewing.model import (
    DIFF,
    OK_PHASE,
    PLUGIN_RESULT,
    ReviewInputs,
    check,
    extra_rules,
    finding,
    limit,
    line_of,
)
from orchestrator.taskpack.model import in_allowed_paths, in_forbidden_paths

UNREADABLE = finding(
    DIFF,
    0,
    "control-plane/unreadable-diff",
    "diff.patch cannot be parsed (a hunk does not match its header), so no path or line of the change "
    "can be checked",
)


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
        elif result["status"] != "passed":
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
    findings = []
    for path in paths:
        if in_forbidden_paths(scope, path):
            findings.append(finding(path, 0, "scope/forbidden", "path matches scope.forbidden_paths"))
        elif not in_allowed_paths(scope, path):
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
            path, extra_rules(inputs)
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


def _escapes(path: str, target: str) -> bool:
    if target.startswith("/"):
        return True
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return joined == ".." or joined.startswith("../")


def check_control_plane(
    inputs: ReviewInputs, files: list[FileDiff], paths: list[str], readable: bool = True
) -> dict[str, Any]:
    """`readable` is False when diff.patch could not be parsed: nothing in it can be judged, so the
    change is rejected rather than passed."""
    if inputs.diff is None:
        return check("control-plane", [], "no diff.patch", "skip")
    extra = extra_rules(inputs)
    findings = [] if readable else [UNREADABLE]
    findings += [
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


def check_secrets(inputs: ReviewInputs, files: list[FileDiff]) -> dict[str, Any]:
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


def check_size(inputs: ReviewInputs, files: list[FileDiff]) -> dict[str, Any]:
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
            MANIFEST,
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
            finding(MANIFEST, 0, f"executor/phase-{execute}", f"the execute phase ended {execute}")
        )
    if kind == "codex":
        if not health.get("turn_completed"):
            findings.append(
                finding(
                    MANIFEST,
                    0,
                    "executor/no-turn-completed",
                    "codex exec never reported turn.completed; its work is unfinished",
                )
            )
        if not health.get("last_message"):
            findings.append(
                finding(MANIFEST, 0, "executor/no-last-message", "codex exec left no last message")
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

"""The verdict and the report: a pure function of the review's inputs, byte-stable through canonical_json."""

from __future__ import annotations

from typing import Any

from orchestrator import __version__, diffparse
from orchestrator.fsio import canonical_json, sha256_bytes
from orchestrator.reviewing.checks import (
    check_acceptance,
    check_breakers,
    check_control_plane,
    check_executor,
    check_plugin,
    check_scope,
    check_secrets,
    check_size,
)
from orchestrator.reviewing.model import (
    DIFF,
    MANIFEST_DIGEST,
    PLUGIN_RESULT,
    RULES,
    SAFETY_CHECKS,
    ReviewInputs,
)
from orchestrator.reviewing.permissions import check_permissions


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
    try:
        files = diffparse.parse(inputs.diff) if inputs.diff is not None else []
        readable = True
    except diffparse.DiffError:
        files, readable = [], False
    paths = diffparse.changed_paths(files)
    checks = [
        check_acceptance(inputs),
        check_scope(inputs, paths),
        check_control_plane(inputs, files, paths, readable),
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

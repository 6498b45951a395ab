"""The run's attestation: an in-toto Statement v1 over its artifacts (`attestation.intoto.json`).

Subjects are every indexed artifact (diff.patch among them) plus evidence_index.json,
each named by its path relative to the run directory and identified by sha256.
The predicate (type PREDICATE_TYPE) says what produced them: the task pack digest,
the executor, the orchestrator version, the base and head commits and each phase's
outcome. The statement is unsigned; wrap it in a DSSE envelope with your own key
(e.g. `cosign attest-blob`) if the evidence has to travel beyond the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.fsio import read_json, sha256_file, write_json
from orchestrator.layout import ATTESTATION, INDEX
from orchestrator.phases import NAMES as PHASES

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://codex-orchestrator.dev/attestation/run/v1"
"""Predicate `run/v1`: fields documented in orchestrator/schemas/intoto_statement.v1.json."""
FILE = ATTESTATION


def predicate(index: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    git = manifest.get("git") or {}
    executor = manifest.get("executor") or {}
    task = manifest["task"]
    phases = manifest.get("phases") or {}
    return {
        "run": {
            "id": manifest["run_id"],
            "dir": f"runs/{task['id']}/{manifest['run_id']}",
            "status": manifest.get("status"),
            "reason": manifest.get("reason", ""),
            "started_at": manifest.get("started_at"),
            "ended_at": manifest.get("ended_at"),
            "unsafe": bool(manifest.get("unsafe", False)),
        },
        "task": {"id": task["id"], "path": task.get("path"), "sha256": task["sha256"]},
        "executor": {
            "kind": executor.get("kind"),
            "version": executor.get("version"),
            "attempts": executor.get("attempts", 0),
        },
        "orchestrator": {"version": (manifest.get("orchestrator") or {}).get("version", __version__)},
        "git": {
            "base_branch": git.get("base_branch"),
            "base": git.get("base"),
            "head": git.get("head"),
            "branch": git.get("branch"),
        },
        "phases": [
            {"name": name, "status": phases[name]["status"], "exit_code": phases[name].get("exit_code")}
            for name in PHASES
            if name in phases
        ],
        "review": (manifest.get("review") or {}).get("verdict"),
        "evidence": {"index": INDEX, "root_digest": index["root_digest"], "count": index["count"]},
    }


def statement(index: dict[str, Any], index_sha256: str, manifest: dict[str, Any]) -> dict[str, Any]:
    subjects = [
        {"name": e["path"], "digest": {"sha256": e["sha256"]}, "mediaType": e["media_type"]}
        for e in index["entries"]
    ]
    subjects.append({"name": INDEX, "digest": {"sha256": index_sha256}, "mediaType": "application/json"})
    return {
        "_type": STATEMENT_TYPE,
        "subject": sorted(subjects, key=lambda s: s["name"]),
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate(index, manifest),
    }


def write_attestation(run_dir: Path, index: dict[str, Any], manifest: dict[str, Any]) -> Path:
    """Call after evidence_index.json is on disk: its digest is a subject."""
    path = run_dir / FILE
    write_json(path, statement(index, sha256_file(run_dir / INDEX), manifest))
    return path


def check_attestation(run_dir: Path, index: dict[str, Any]) -> list[str]:
    """The attestation matches the index and the index file: same subjects, same digests."""
    from orchestrator.schemas import first_error

    path = run_dir / FILE
    if not path.is_file():
        return [f"missing: {FILE}"]
    try:
        data = read_json(path)
    except ValueError as exc:
        return [f"changed: {FILE} is not valid JSON ({exc})"]
    if problem := first_error("intoto_statement.v1.json", data):
        return [f"changed: {FILE} is not an in-toto Statement v1 ({problem})"]
    expected = {e["path"]: e["sha256"] for e in index["entries"]}
    expected[INDEX] = sha256_file(run_dir / INDEX)
    subjects = {s.get("name"): s["digest"].get("sha256") for s in data["subject"]}
    problems = []
    for name in sorted(set(expected) | set(subjects)):
        if name not in subjects:
            problems.append(f"changed: {FILE} (no subject for {name})")
        elif name not in expected:
            problems.append(f"changed: {FILE} (subject {name} is not in the index)")
        elif subjects[name] != expected[name]:
            target = INDEX if name == INDEX else name
            problems.append(f"changed: {FILE} or {target} (subject digest of {name} does not match)")
    root = (data.get("predicate") or {}).get("evidence", {}).get("root_digest")
    if data.get("predicateType") == PREDICATE_TYPE and root != index["root_digest"]:
        problems.append(f"changed: {FILE} (predicate root digest differs from {INDEX})")
    return problems

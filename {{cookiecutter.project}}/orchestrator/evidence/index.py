"""The evidence index of a run (`evidence_index.json`) and its refresh after every phase.

What the index covers, exactly: every regular file under the run directory except
the two files that seal it, `evidence_index.json` itself and
`attestation.intoto.json` (whose subjects include the index). So `verify` is exact:
any other file that changes, disappears or appears is reported.

The evidence phase runs before summarize and publish, and the pipeline rewrites
the manifest and appends to phase logs after each phase. The pipeline therefore
calls `refresh(run, phase)` after it saves the manifest at the end of every phase:
once an index exists, that re-hashes `manifest.json`, the phase's log and the
outputs the phase recorded, and leaves every other entry as it was, so a file
changed behind the orchestrator's back stays detectable across refreshes.

Hashes stream through a fixed buffer per worker thread (memory stays flat whatever
the file sizes); threads overlap reads with hashing, since hashlib releases the GIL.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.fsio import read_json, write_json
from orchestrator.layout import (
    ATTESTATION,
    DIFF,
    INDEX,
    MANIFEST,
    PLUGIN_RESULT,
    REVIEW_MARKDOWN,
    REVIEW_REPORT,
    SEALS,
    SUMMARY,
    log_name,
)
from orchestrator.phases import NAMES as PHASES

if TYPE_CHECKING:  # kept out of the import path of `evidence query`, which must start fast
    from orchestrator.runs import Run


KINDS = (
    "manifest",
    "log",
    "summary",
    "review",
    "diff",
    "plugin",
    "codex-events",
    "agent-message",
    "prompt",
    "evidence-index",
    "attestation",
    "other",
)
BUFFER = 1 << 20
SMALL_BATCH = 8

MEDIA_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".md": "text/markdown",
    ".log": "text/plain",
    ".txt": "text/plain",
    ".patch": "text/x-diff",
    ".diff": "text/x-diff",
    ".sarif": "application/sarif+json",
    ".html": "text/html",
    ".xml": "application/xml",
    ".yml": "application/yaml",
    ".yaml": "application/yaml",
    ".csv": "text/csv",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
"""A fixed table, never the platform's mimetypes database, so the index is the same everywhere."""

PRODUCERS = {
    DIFF: "execute",
    REVIEW_REPORT: "review",
    REVIEW_MARKDOWN: "review",
    PLUGIN_RESULT: "plugin",
    SUMMARY: "summarize",
    ATTESTATION: "evidence",
    INDEX: "evidence",
}


# --- hashing --------------------------------------------------------------------------------

_local = threading.local()


def hash_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, bytes read), streaming through one reused buffer per thread."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            size += count
    return digest.hexdigest(), size


def workers() -> int:
    return min(8, 2 * (os.cpu_count() or 1))


def hash_files(paths: Sequence[Path]) -> list[tuple[str, int]]:
    """Digests in input order; a thread pool overlaps I/O and hashing on many files."""
    if len(paths) < SMALL_BATCH:
        return [hash_file(p) for p in paths]
    with ThreadPoolExecutor(workers()) as pool:
        return list(pool.map(hash_file, paths, chunksize=16))


# --- what is in a run directory ---------------------------------------------------------------


def scan(run_dir: Path) -> tuple[list[str], list[str]]:
    """(regular files, anything else such as symlinks), as sorted run-relative POSIX paths, seals left out."""
    files: list[str] = []
    odd: list[str] = []
    root = str(run_dir)
    for current, dirs, names in os.walk(root):
        rel_dir = os.path.relpath(current, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in list(dirs):
            if os.path.islink(os.path.join(current, name)):
                odd.append(prefix + name)
                dirs.remove(name)
        for name in names:
            rel = prefix + name
            if rel in SEALS:
                continue
            mode = os.lstat(os.path.join(current, name)).st_mode
            (files if stat.S_ISREG(mode) else odd).append(rel)
    return sorted(files), sorted(odd)


def media_type(rel: str) -> str:
    if rel.endswith(".intoto.json"):
        return "application/vnd.in-toto+json"
    return MEDIA_TYPES.get(os.path.splitext(rel)[1].lower(), "application/octet-stream")


def kind_of(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    lower = name.lower()
    if rel == MANIFEST:
        return "manifest"
    if rel == INDEX:
        return "evidence-index"
    if rel == ATTESTATION or lower.endswith(".intoto.json"):
        return "attestation"
    if rel.startswith("logs/"):
        return "log"
    if rel == SUMMARY:
        return "summary"
    if rel in (REVIEW_REPORT, REVIEW_MARKDOWN):
        return "review"
    if lower.endswith((".patch", ".diff")):
        return "diff"
    if rel == PLUGIN_RESULT or lower.endswith(".sarif") or rel.startswith("plugin/"):
        return "plugin"
    if lower.endswith((".jsonl", ".ndjson")) and ("event" in lower or "codex" in lower):
        return "codex-events"
    if lower.startswith(("last_message", "last-message")):
        return "agent-message"
    if lower.startswith("prompt"):
        return "prompt"
    return "other"


def producers(manifest: dict[str, Any] | None) -> dict[str, str]:
    """run-relative path -> the first phase (in pipeline order) that recorded it as an output."""
    found: dict[str, str] = {}
    phases = (manifest or {}).get("phases", {})
    for name in PHASES:
        for output in (phases.get(name) or {}).get("outputs", []):
            found.setdefault(output["path"], name)
    return found


def phase_of(rel: str, recorded: dict[str, str]) -> str | None:
    if rel.startswith("logs/") and rel.endswith(".log") and rel.count("/") == 1:
        name = rel[len("logs/") : -len(".log")]
        if name in PHASES:
            return name
    return recorded.get(rel) or PRODUCERS.get(rel)


def entry(rel: str, digest: str, size: int, recorded: dict[str, str]) -> dict[str, Any]:
    return {
        "path": rel,
        "sha256": digest,
        "bytes": size,
        "kind": kind_of(rel),
        "phase": phase_of(rel, recorded),
        "media_type": media_type(rel),
    }


def entries_for(run_dir: Path, rels: Iterable[str], manifest: dict[str, Any] | None) -> list[dict[str, Any]]:
    rels = sorted(set(rels))
    recorded = producers(manifest)
    digests = hash_files([run_dir / rel for rel in rels])
    return [entry(rel, digest, size, recorded) for rel, (digest, size) in zip(rels, digests, strict=True)]


def root_digest(entries: list[dict[str, Any]]) -> str:
    """sha256 of the compact canonical JSON of the entries (sorted by path, keys sorted, UTF-8).

    The same bytes as `jq -cjS .entries evidence_index.json`, so anyone can recompute it.
    """
    ordered = sorted(entries, key=lambda e: e["path"])
    text = json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_index(manifest: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(entries, key=lambda e: e["path"])
    return {
        "schema": "evidence_index/v1",
        "task": manifest["task"]["id"],
        "run_id": manifest["run_id"],
        "algorithm": "sha256",
        "excluded": list(SEALS),
        "count": len(ordered),
        "bytes": sum(e["bytes"] for e in ordered),
        "root_digest": root_digest(ordered),
        "entries": ordered,
    }


# --- writing ----------------------------------------------------------------------------------


def seal(run_dir: Path, manifest: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Writes the index, then the attestation over it; returns the index."""
    from orchestrator.evidence.attestation import write_attestation

    index = make_index(manifest, entries)
    write_json(run_dir / INDEX, index)
    write_attestation(run_dir, index, manifest)
    return index


def build(run_dir: Path, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Indexes the whole run directory from scratch and seals it."""
    manifest = manifest if manifest is not None else read_json(run_dir / MANIFEST)
    files, _ = scan(run_dir)
    return seal(run_dir, manifest, entries_for(run_dir, files, manifest))


def refresh_dir(run_dir: Path, manifest: dict[str, Any], rels: Iterable[str]) -> dict[str, Any] | None:
    """Re-hashes `rels` (plus manifest.json) in an existing index; None when there is no index yet."""
    path = run_dir / INDEX
    if not path.is_file():
        return None
    old = {e["path"]: e for e in read_json(path).get("entries", [])}
    wanted = {MANIFEST, *rels} - set(SEALS)
    present = [rel for rel in sorted(wanted) if (run_dir / rel).is_file()]
    for item in entries_for(run_dir, present, manifest):
        old[item["path"]] = item
    return seal(run_dir, manifest, list(old.values()))


def refresh(run: Run, phase: str | None = None) -> bool:
    """Called by the pipeline after every manifest save at the end of a phase.

    A no-op until the evidence phase has written an index. With `phase`, re-hashes
    manifest.json, logs/<phase>.log and that phase's recorded outputs; without it,
    rebuilds the whole index. Also updates the repository's evidence index.
    """
    if not run.layout.index.is_file():
        return False
    if phase is None:
        index: dict[str, Any] | None = build(run.dir, run.manifest.to_json())
    else:
        entry_ = run.manifest.phases.get(phase)
        outputs = entry_.outputs if entry_ else []
        rels = [entry_.log if entry_ else log_name(phase), *(o.path for o in outputs)]
        index = refresh_dir(run.dir, run.manifest.to_json(), rels)
    upsert(run, index)
    return True


def upsert(run: Run, index: dict[str, Any] | None) -> str | None:
    """Records the run in the repository index; a broken repo index never fails a run."""
    from orchestrator.evidence import store

    try:
        store.upsert_run(run.repo, run.dir, index, run.manifest.to_json())
    except Exception as exc:
        return (
            f"repository evidence index not updated ({type(exc).__name__}: {exc}); the next query rebuilds it"
        )
    return None


# --- verifying --------------------------------------------------------------------------------


def verify_run(run_dir: Path) -> list[str]:
    """Every way the run directory differs from its index and attestation; empty when intact.

    Each problem starts with the run-relative file it is about: `changed: logs/x.log ...`.
    """
    from orchestrator.evidence.attestation import check_attestation
    from orchestrator.schemas import first_error

    path = run_dir / INDEX
    if not path.is_file():
        return [f"missing: {INDEX} (no evidence index; run the evidence phase)"]
    try:
        index = read_json(path)
    except ValueError as exc:
        return [f"changed: {INDEX} is not valid JSON ({exc})"]
    if problem := first_error("evidence_index.v1.json", index):
        return [f"changed: {INDEX} does not match evidence_index/v1 at {problem}"]
    problems: list[str] = []
    entries = {e["path"]: e for e in index["entries"]}
    if root_digest(index["entries"]) != index["root_digest"]:
        problems.append(f"changed: {INDEX} (its root digest does not match its entries)")
    files, odd = scan(run_dir)
    present = [
        rel for rel in sorted(entries) if os.path.isfile(run_dir / rel) and not os.path.islink(run_dir / rel)
    ]
    for rel, (digest, size) in zip(present, hash_files([run_dir / rel for rel in present]), strict=True):
        expected = entries[rel]
        if digest != expected["sha256"] or size != expected["bytes"]:
            problems.append(
                f"changed: {rel} (sha256 {digest[:12]}…, {size} bytes; indexed "
                f"{expected['sha256'][:12]}…, {expected['bytes']} bytes)"
            )
    for rel in sorted(set(entries) - set(present)):
        problems.append(f"missing: {rel}")
    for rel in sorted(set(files) - set(entries)):
        problems.append(f"unexpected: {rel} (not in the index)")
    for rel in odd:
        problems.append(f"unexpected: {rel} (not a regular file)")
    problems.extend(check_attestation(run_dir, index))
    return problems

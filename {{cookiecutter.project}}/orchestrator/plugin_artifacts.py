"""Files a plugin leaves for the evidence (screenshots, SARIF), copied into the run directory.

The plugin cannot write to the run directory; it writes to `$ORCH_PLUGIN_OUT` (a directory
in its private scratch) and lists what it wrote in its result, `details.artifacts`:
`[{"path": "web/index.png", "kind": "image", "media_type": "image/png", "title": "..."}]`,
paths relative to that directory. Only listed, regular files with a plain relative path, an
allowed suffix and a bounded size are copied, and only into the plugin's own names:
`<name>.sarif` or anything under `<name>/` (a rerun of the phase replaces them).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from orchestrator.fsio import atomic_write_bytes
from orchestrator.redact import Redactor

OUT_ENV = "ORCH_PLUGIN_OUT"
SAFE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
SUFFIXES = {".png": b"\x89PNG\r\n\x1a\n", ".sarif": b"", ".json": b"", ".txt": b""}
TEXT = {".sarif", ".json", ".txt"}
"""Suffixes of text artifacts: redacted like every log before they reach the evidence."""
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_FILES = 500


def out_dir(scratch: Path) -> Path:
    return scratch / "out"


def listed(result: dict[str, Any] | None) -> list[str]:
    details = (result or {}).get("details") or {}
    items = details.get("artifacts") if isinstance(details, dict) else None
    if not isinstance(items, list):
        return []
    return [str(i["path"]) for i in items if isinstance(i, dict) and isinstance(i.get("path"), str)]


def collect(
    result: dict[str, Any] | None, source: Path, run_dir: Path, name: str, redactor: Redactor
) -> tuple[list[Path], list[str]]:
    """Copies the listed artifacts (text ones redacted);
    returns (files written, reasons others were refused)."""
    written: list[Path] = []
    refused: list[str] = []
    total = 0
    for rel in listed(result)[:MAX_FILES]:
        suffix = os.path.splitext(rel)[1].lower()
        if not SAFE_PATH.match(rel) or ".." in rel.split("/") or suffix not in SUFFIXES:
            refused.append(
                f"{rel!r}: not a plain relative path with an allowed suffix ({', '.join(SUFFIXES)})"
            )
            continue
        path, target = source / rel, run_dir / rel
        try:
            info = os.lstat(path)
        except OSError:
            refused.append(f"{rel}: listed but not written")
            continue
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_size > MAX_FILE_BYTES
            or total + info.st_size > MAX_TOTAL_BYTES
        ):
            refused.append(f"{rel}: not a regular file, or over the size limit")
            continue
        if rel != f"{name}.sarif" and not rel.startswith(f"{name}/"):
            refused.append(f"{rel}: outside the plugin's own names ({name}.sarif, {name}/...)")
            continue
        if any(
            p.is_symlink() for p in [target, *target.parents] if p.is_relative_to(run_dir) and p != run_dir
        ):
            refused.append(f"{rel}: a symbolic link in the run directory is in the way")
            continue
        data = path.read_bytes()
        if not data.startswith(SUFFIXES[suffix]):
            refused.append(f"{rel}: content does not match its suffix")
            continue
        if suffix in TEXT:
            data = redactor.redact(data.decode("utf-8", "replace")).encode("utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
        total += len(data)
        written.append(target)
    return written, refused


def described(result: dict[str, Any], copied: list[str]) -> list[dict[str, str]]:
    """The copied artifacts as the manifest records them: path, kind (image, sarif, ...) and title."""
    items = {
        str(i.get("path")): i
        for i in (result.get("details") or {}).get("artifacts") or []
        if isinstance(i, dict)
    }
    out = []
    for path in copied:
        item = items.get(path, {})
        out.append(
            {
                "path": path,
                "kind": str(item.get("kind") or "file")[:20],
                "title": str(item.get("title") or path)[:200],
            }
        )
    return out

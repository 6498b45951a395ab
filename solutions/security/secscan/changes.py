"""What the change is: the changed files' contents at the base commit and in the workspace.

Read-only on the repository: base blobs come from `git cat-file --batch`, head files from
the workspace (regular files only, never through a symlink). The scanners get copies of
both sides in a private directory, so nothing the change adds (a `.bandit`, a
`.semgrepignore`) can configure the tools that judge it.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

BINARY_SNIFF = 8192


@dataclass(frozen=True)
class ChangedFile:
    path: str
    base: bytes | None
    """Content at the base commit; None when the path is new."""
    head: bytes | None
    """Content in the workspace; None when it is not a regular file (a symlink, say)."""

    @property
    def added(self) -> bool:
        return self.base is None

    @property
    def binary(self) -> bool:
        return any(b"\0" in side[:BINARY_SNIFF] for side in (self.base, self.head) if side is not None)


@dataclass(frozen=True)
class ChangeSet:
    files: list[ChangedFile]
    excluded: list[str]
    too_large: list[str]
    not_regular: list[str]


def matches(path: str, globs: Iterable[str]) -> bool:
    """fnmatch on the relative path; a leading `**/` also matches at the top level."""
    for glob in globs:
        if fnmatch.fnmatchcase(path, glob) or (
            glob.startswith("**/") and fnmatch.fnmatchcase(path, glob[3:])
        ):
            return True
    return False


def base_blobs(workspace: Path, base: str, paths: list[str]) -> dict[str, bytes]:
    """Contents of `paths` at `base`, in one `git cat-file --batch`; paths absent there are left out."""
    if not paths:
        return {}
    request = "".join(f"{base}:{p}\n" for p in paths).encode("utf-8")
    out = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=workspace, input=request, capture_output=True, check=True
    ).stdout
    blobs: dict[str, bytes] = {}
    pos = 0
    for path in paths:
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue
        size = int(header[2])
        blobs[path] = out[pos : pos + size]
        pos += size + 1
    return blobs


def read_regular(path: Path, limit: int) -> bytes | None:
    """The file's bytes when it is a regular file (not followed through a symlink); None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read(limit + 1)


def collect(workspace: Path, base: str, changed: list[str], exclude: list[str], max_bytes: int) -> ChangeSet:
    kept = [p for p in changed if not matches(p, exclude)]
    excluded = [p for p in changed if matches(p, exclude)]
    blobs = base_blobs(workspace, base, kept)
    files: list[ChangedFile] = []
    too_large: list[str] = []
    not_regular: list[str] = []
    root = workspace.resolve()
    for path in kept:
        target = root / path
        if not target.parent.resolve().is_relative_to(root):
            not_regular.append(path)
            continue
        head = read_regular(target, max_bytes)
        old = blobs.get(path)
        if any(side is not None and len(side) > max_bytes for side in (head, old)):
            too_large.append(path)
            continue
        if head is None:
            not_regular.append(path)
            continue
        files.append(ChangedFile(path, old, head))
    return ChangeSet(files, excluded, too_large, not_regular)


def lines_of(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines()


def added_lines(file: ChangedFile) -> list[tuple[int, str]]:
    """(1-based head line number, text) of every line the change added to a text file."""
    if file.head is None or file.binary:
        return []
    head = lines_of(file.head)
    if file.base is None:
        return list(enumerate(head, 1))
    matcher = difflib.SequenceMatcher(None, lines_of(file.base), head, autojunk=False)
    added: list[tuple[int, str]] = []
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            added.extend((j + 1, head[j]) for j in range(j1, j2))
    return added


def materialise(changes: ChangeSet, root: Path) -> tuple[Path, Path]:
    """Copies both sides of every changed file under root/base and root/head (same relative paths)."""
    sides = (root / "base", root / "head")
    for side in sides:
        side.mkdir(parents=True, exist_ok=True)
    for file in changes.files:
        for side, data in zip(sides, (file.base, file.head), strict=True):
            if data is None:
                continue
            target = side / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return sides

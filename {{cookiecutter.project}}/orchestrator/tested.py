"""What is tested is what is published: the change's tree, built and checked out without filters.

After the executor, the host finds what changed with git commands that read no file content
(`ls-files`, `diff-index`), sizes every candidate with `lstat`, and trips a breaker before it
reads anything oversized (`max_changed_files`, `max_change_bytes`). Only then does it hash the
candidates, with `--no-filters` (no in-tree attributes, no clean filter, no `ident`), into a tree
on top of the base: the tree that verify, the plugin and publish all use.

Refused, with the path named: new or changed ignore rules (`.gitignore`) and attribute files
(`.gitattributes`), which change what git sees; nested repositories (a directory holding `.git`,
published as a gitlink `160000`) and any nested `.git`; links whose target is `.git`, the
repository root or a control-plane path.

Verify and the plugin run on a fresh checkout of that tree (`freshcheckout`), never on the raw
workspace; publish commits the change only when its tree is the tested tree, blob for blob
(`check_published`).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator import gitops
from orchestrator.controlplane import CONTROL_PLANE, is_control_plane
from orchestrator.errors import Refused

RULE_FILES = (".gitignore", ".gitattributes")
"""In-tree files that change what git sees or writes: never part of a change."""
WALK_LIMIT = 200_000
SHOWN = 10


@dataclass(frozen=True)
class Candidate:
    """A path that may differ from the base, as lstat saw it (before anything read it)."""

    path: str
    kind: str  # file | link | dir | missing | other
    size: int
    mode: int


def nul_split(out: bytes) -> list[str]:
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def candidate_paths(workspace: Path, base: str, timeout: float) -> list[str]:
    """Paths that may differ from base: untracked (not ignored), modified or deleted, or staged.

    None of these commands reads file content when a file's size changed."""
    found: set[str] = set()
    for args in (
        ("ls-files", "-z", "--others", "--exclude-standard"),
        ("ls-files", "-z", "--modified", "--deleted"),
        ("diff-index", "-z", "--cached", "--name-only", "--no-renames", base),
    ):
        found.update(p.rstrip("/") for p in nul_split(gitops.git_bytes(workspace, *args, timeout=timeout)))
    return sorted(found)


def measure(workspace: Path, paths: Iterable[str]) -> list[Candidate]:
    out = []
    for rel in paths:
        try:
            st = (workspace / rel).lstat()
        except FileNotFoundError:
            out.append(Candidate(rel, "missing", 0, 0))
            continue
        mode = st.st_mode
        kind = (
            "file"
            if stat.S_ISREG(mode)
            else "link"
            if stat.S_ISLNK(mode)
            else "dir"
            if stat.S_ISDIR(mode)
            else "other"
        )
        if kind == "dir" and not os.path.lexists(workspace / rel / ".git"):
            kind = "missing"  # a tracked file replaced by a directory: its files are candidates of their own
        out.append(Candidate(rel, kind, st.st_size if kind == "file" else 0, mode))
    return out


def _listing(items: list[str]) -> str:
    return ", ".join(items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def link_target(rel: str, target: str) -> str | None:
    """The repository path a link points at, or None when it leaves the repository."""
    if os.path.isabs(target):
        return None
    joined = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    if joined == ".":
        return ""
    return None if joined.startswith("..") else PurePosixPath(joined).as_posix()


def _is_protected(path: str, control_plane: tuple[str, ...]) -> bool:
    """Case-folded and NFC-normalised, like the control-plane check itself: on a case-insensitive checkout
    `NOXFILE.py` is `noxfile.py`."""
    if path == "":
        return True
    if path.split("/", 1)[0].casefold() == ".git":
        return True
    extra = tuple(p for p in control_plane if p not in CONTROL_PLANE)
    return bool(is_control_plane(path, extra) or is_control_plane(f"{path}/x", extra))


def nested_git(workspace: Path, limit: int = WALK_LIMIT) -> list[str]:
    """Every `.git` under the workspace except its own (bounded walk, symlinks not followed)."""
    found: list[str] = []
    seen, stack = 0, [workspace]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                items = list(it)
        except OSError:
            continue
        for item in items:
            seen += 1
            if seen > limit:
                return found
            if item.name.casefold() == ".git":
                if directory != workspace:
                    found.append(Path(item.path).relative_to(workspace).as_posix())
                continue
            if item.is_dir(follow_symlinks=False):
                stack.append(Path(item.path))
    return sorted(found)


def refusals(
    workspace: Path, candidates: list[Candidate], control_plane: tuple[str, ...]
) -> list[tuple[str, str]]:
    """(decision id, reason) for every change that would make the published tree differ from the
    tested one."""
    problems = []
    rules = [c.path for c in candidates if PurePosixPath(c.path).name.casefold() in RULE_FILES]
    if rules:
        reason = (
            "the change adds or edits git ignore/attribute rules, which would hide files from or rewrite "
            f"the published tree: {_listing(rules)}"
        )
        problems.append(("tree.rules", reason))
    nested = sorted({*nested_git(workspace), *(c.path for c in candidates if c.kind == "dir")})
    if nested:
        reason = (
            "nested git repositories or .git entries (a gitlink 160000 would be published unreviewed): "
            f"{_listing(nested)}"
        )
        problems.append(("tree.nested-repository", reason))
    links = []
    for c in candidates:
        if c.kind == "link":
            target = os.readlink(workspace / c.path)
            resolved = link_target(c.path, target)
            if resolved is not None and _is_protected(resolved, control_plane):
                links.append(f"{c.path} -> {target}")
    if links:
        problems.append(
            ("tree.links", f"links to .git, the repository root or control-plane files: {_listing(links)}")
        )
    names = [repr(c.path) for c in candidates if any(ord(ch) < 32 or ord(ch) == 127 for ch in c.path)]
    if names:
        problems.append(("tree.names", f"paths with control characters: {_listing(names)}"))
    odd = [c.path for c in candidates if c.kind == "other"]
    if odd:
        problems.append(
            ("tree.special", f"special files (fifo, socket, device) in the change: {_listing(odd)}")
        )
    return problems


def build_tree(cwd: Path, workspace: Path, base: str, candidates: list[Candidate], timeout: float) -> str:
    """base's tree plus the candidates (files under workspace), hashed without filters: each blob is
    the file's exact bytes. git runs in cwd, with a temporary index."""
    with tempfile.TemporaryDirectory(prefix="orch-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        gitops.git(cwd, "read-tree", base, env=env, timeout=timeout)
        gone = [c.path for c in candidates if c.kind == "missing"]
        files = [c for c in candidates if c.kind == "file"]
        links = [c for c in candidates if c.kind == "link"]
        info = [f"0 {'0' * 40}\t{p}\n" for p in gone]
        blobs = gitops.hash_files(cwd, [(workspace / c.path).absolute() for c in files], timeout=timeout)
        info += [
            f"{'100755' if c.mode & 0o111 else '100644'} {b}\t{c.path}\n"
            for c, b in zip(files, blobs, strict=True)
        ]
        if links:
            targets = [os.fsencode(os.readlink(workspace / c.path)) for c in links]
            for c, target in zip(links, targets, strict=True):
                blob = gitops.git(cwd, "hash-object", "-w", "--stdin", input=target, timeout=timeout).strip()
                info.append(f"120000 {blob}\t{c.path}\n")
        if info:
            gitops.git(
                cwd, "update-index", "--index-info", env=env, input="".join(info).encode(), timeout=timeout
            )
        return gitops.git(cwd, "write-tree", env=env, timeout=timeout).strip()


def check_published(repo: Path, change_tree: str, tested: str | None) -> None:
    """Publish's last check: the change commit's blobs are exactly the tested files' bytes."""
    if tested is None or tested == change_tree:
        return
    changed = nul_split(
        gitops.git_bytes(repo, "diff", "-z", "--name-only", "--no-renames", tested, change_tree)
    )
    raise Refused(f"the tree to publish is not the tree that was tested: {_listing(changed)}")

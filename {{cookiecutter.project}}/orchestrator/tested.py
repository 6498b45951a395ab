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

Verify and the plugin run on `checkout(...)`, a fresh worktree whose files are written from the
tree's blobs byte for byte (no checkout filters), never on the raw workspace. Afterwards the
checkout's tracked files are hashed again (`tested_tree`); publish commits the change only when
its tree is that tested tree, blob for blob.

A file whose lstat after the checks is exactly what it was right after the host wrote it, change
time included, is not hashed again (see `Written`); any other is.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
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


def _z(out: bytes) -> list[str]:
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
        found.update(p.rstrip("/") for p in _z(gitops.git_bytes(workspace, *args, timeout=timeout)))
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


# --- the fresh checkout -----------------------------------------------------------------------


def entries(repo: Path, tree: str, timeout: float) -> list[tuple[str, str, str]]:
    """(mode, blob, path) of every blob of a tree.

    A tree id names its content, so a tree is listed once per process (the checkout, then the
    re-check after the checks ran on it)."""
    key = (str(repo), tree)
    if key not in _LISTED:
        out = []
        listing = gitops.git_bytes(repo, "ls-tree", "-r", "-z", "--full-tree", tree, timeout=timeout)
        for record in _z(listing):
            meta, path = record.split("\t", 1)
            mode, kind, sha = meta.split()
            if kind != "blob":
                raise Refused(
                    f"the tree to test holds a {kind} ({mode}) at {path}: gitlinks are never published"
                )
            out.append((mode, sha, path))
        if len(_LISTED) >= 8:
            _LISTED.pop(next(iter(_LISTED)))
        _LISTED[key] = tuple(out)
    return list(_LISTED[key])


_LISTED: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {}

Stat = tuple[int, int, int, int, int]


def _stat(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)


@dataclass
class Written:
    """What the host wrote into a checkout: each path's lstat right after, change time included.

    Why an unchanged lstat proves an unchanged file: writing a file, truncating it, changing its
    mode, linking, renaming over or replacing it, even setting its times back (utimensat) all set
    the file's change time (ctime) to the current time, and no process can choose a ctime except by
    moving the system clock, which needs a capability the jail never has. `checkout` returns only
    once the file system's clock has moved past the newest ctime it recorded (`_clock_past`), so
    anything that touches a file later leaves a later ctime. A file whose (size, mtime, ctime,
    inode, mode) is still the recorded one was not touched since; any other file is hashed again.
    """

    tree: str
    stats: dict[str, Stat] = field(default_factory=dict)


_WRITTEN: dict[str, Written] = {}
"""checkout path -> what the host wrote there (this process only)."""


def _write_blobs(repo: Path, dest: Path, items: list[tuple[str, str, str]], timeout: float) -> Written:
    written = Written("")
    proc = subprocess.Popen(
        ["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    timer = _killer(proc, timeout)
    stdin = proc.stdin

    def feed() -> None:  # from a thread: a large tree's answers fill the pipe before the questions end
        try:
            stdin.write("".join(f"{sha}\n" for _, sha, _ in items).encode())
            stdin.close()
        except OSError:
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    made = {str(dest)}
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        for mode, sha, path in items:
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[0].decode() != sha:
                raise gitops.GitError(f"git cat-file: unexpected answer for {path} (timed out?)")
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            target = os.path.join(dest, path)
            parent = os.path.dirname(target)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            if mode == "120000":
                os.symlink(os.fsdecode(data), target)
                written.stats[path] = _stat(os.lstat(target))
                continue
            fd = os.open(target, flags, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, 0o755 if mode == "100755" else 0o644)
                written.stats[path] = _stat(os.fstat(fd))
            finally:
                os.close(fd)
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
        feeder.join()
    return written


def _clock_past(directory: Path, ctime_ns: int, patience: float = 1.0) -> bool:
    """Waits (a few ms: file times are coarse) until a file made in directory gets a ctime later than
    ctime_ns; False when the file system's clock does not move (then nothing is trusted by stat)."""
    deadline = time.monotonic() + patience
    while True:
        fd, probe = tempfile.mkstemp(prefix=".orch-clock-", dir=directory)
        try:
            now = os.fstat(fd).st_ctime_ns
        finally:
            os.close(fd)
            os.unlink(probe)
        if now > ctime_ns:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _killer(proc: subprocess.Popen[bytes], timeout: float) -> threading.Timer:
    timer = threading.Timer(max(timeout, 0.001), proc.kill)
    timer.daemon = True
    timer.start()
    return timer


def checkout(repo: Path, base: str, tree: str, dest: Path, timeout: float) -> Path:
    """A fresh worktree at base whose files are exactly tree's blobs (no attributes, no filters)."""
    remove(repo, dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    gitops.git(repo, "worktree", "add", "--detach", "--no-checkout", str(dest), base, timeout=timeout)
    written = _write_blobs(repo, dest, entries(repo, tree, timeout), timeout)
    gitops.git(dest, "read-tree", tree, timeout=timeout)
    newest = max((s[2] for s in written.stats.values()), default=0)
    if _clock_past(dest.parent, newest):
        _WRITTEN[str(dest)] = Written(tree, written.stats)
    return dest


def _untouched(dest: Path, tree: str, paths: list[str]) -> bool:
    """True when every path is exactly as `checkout` wrote it for tree (see `Written`)."""
    written = _WRITTEN.get(str(dest))
    if written is None or written.tree != tree or len(written.stats) != len(paths):
        return False
    for path in paths:
        try:
            if _stat(os.lstat(os.path.join(dest, path))) != written.stats.get(path):
                return False
        except OSError:
            return False
    return True


def remove(repo: Path, dest: Path) -> None:
    _WRITTEN.pop(str(dest), None)
    if dest.exists():
        gitops.remove_worktree(repo, dest)


def tree_after_checks(repo: Path, dest: Path, tree: str, timeout: float) -> tuple[str, list[str]]:
    """The tree of the checkout's tracked files as they are now, and the paths that differ from tree."""
    items = entries(repo, tree, timeout)
    paths = [p for _, _, p in items]
    if _untouched(dest, tree, paths):
        return tree, []
    candidates = measure(dest, paths)
    now = build_tree(
        repo, dest, tree, candidates, timeout
    )  # git runs in repo: the checkout's .git is not trusted
    changed = (
        _z(gitops.git_bytes(repo, "diff", "-z", "--name-only", "--no-renames", tree, now, timeout=timeout))
        if now != tree
        else []
    )
    return now, sorted({*changed, *(c.path for c in candidates if c.kind in ("dir", "other"))})


def check_published(repo: Path, change_tree: str, tested: str | None) -> None:
    """Publish's last check: the change commit's blobs are exactly the tested files' bytes."""
    if tested is None or tested == change_tree:
        return
    changed = _z(gitops.git_bytes(repo, "diff", "-z", "--name-only", "--no-renames", tested, change_tree))
    raise Refused(f"the tree to publish is not the tree that was tested: {_listing(changed)}")

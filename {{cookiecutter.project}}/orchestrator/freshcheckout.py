"""The fresh checkout verify and the plugin run on: a worktree whose files are written from the
tested tree's blobs byte for byte (no checkout filters), and that tree measured again after the
checks (`tree_after_checks`: the `tested_tree` publish compares blob for blob).

A file whose lstat after the checks is exactly what it was right after the host wrote it, change
time included, is not hashed again (see `Written`); any other is.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import gitops
from orchestrator.errors import Refused
from orchestrator.tested import build_tree, measure, nul_split


def entries(repo: Path, tree: str, timeout: float) -> list[tuple[str, str, str]]:
    """(mode, blob, path) of every blob of a tree.

    A tree id names its content, so a tree is listed once per process (the checkout, then the
    re-check after the checks ran on it)."""
    key = (str(repo), tree)
    if key not in _LISTED:
        out = []
        listing = gitops.git_bytes(repo, "ls-tree", "-r", "-z", "--full-tree", tree, timeout=timeout)
        for record in nul_split(listing):
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

Stat = tuple[int, int, int, int, int, int, int]


def _stat(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_nlink, st.st_mode)


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
        nul_split(
            gitops.git_bytes(repo, "diff", "-z", "--name-only", "--no-renames", tree, now, timeout=timeout)
        )
        if now != tree
        else []
    )
    return now, sorted({*changed, *(c.path for c in candidates if c.kind in ("dir", "other"))})

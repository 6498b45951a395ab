"""The few git operations the engine needs, as plain subprocess calls.

Trees are built with a temporary index (`GIT_INDEX_FILE`) so neither the user's
checkout nor the workspace's own index is ever touched by the orchestrator.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import BadInput, OrchestratorError, Refused

IDENTITY = {
    "GIT_AUTHOR_NAME": "Codex Orchestrator",
    "GIT_AUTHOR_EMAIL": "orchestrator@localhost",
    "GIT_COMMITTER_NAME": "Codex Orchestrator",
    "GIT_COMMITTER_EMAIL": "orchestrator@localhost",
}

REF_JOURNAL = Path(".orchestrator") / "journal" / "refs.jsonl"
"""Every ref the orchestrator moves, appended before it moves it: the escape guard's record of
what changed refs legitimately (relative to the repository root)."""


class GitError(OrchestratorError):
    """A git command failed where the engine cannot go on."""


class GitTimeout(GitError):
    """A git command ran past the time the run had left."""


def git(
    cwd: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
) -> str:
    return git_bytes(cwd, *args, env=env, input=input, timeout=timeout).decode("utf-8", "replace")


def git_bytes(
    cwd: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
) -> bytes:
    """git's stdout; `timeout` (seconds) bounds host-side work on the workspace (GitTimeout)."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            check=False,
            timeout=None if timeout is None else max(timeout, 0.001),
        )
    except subprocess.TimeoutExpired:
        raise GitTimeout(f"git {' '.join(args[:3])} still running after {timeout:.1f}s") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {' '.join(args[:3])} failed: {message}")
    return proc.stdout


def rev_parse(repo: Path, ref: str) -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def require_commit(repo: Path, ref: str, what: str) -> str:
    sha = rev_parse(repo, ref)
    if sha is None:
        raise BadInput(
            f"{what} {ref!r} does not exist in {repo}; create it or set BASE_BRANCH to an existing branch"
        )
    return sha


def dirty_paths(repo: Path) -> list[str]:
    """Uncommitted changes (tracked or untracked, not ignored) in the user's checkout."""
    out = git(repo, "status", "--porcelain", "--untracked-files=all")
    return [line[3:] for line in out.splitlines() if line.strip()]


def add_worktree(repo: Path, path: Path, commit: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", "--force", str(path), commit)


def remove_worktree(repo: Path, path: Path) -> None:
    if path.exists():
        git(repo, "worktree", "remove", "--force", str(path))


def _with_temp_index(repo: Path, fn: Callable[[Mapping[str, str]], str]) -> str:
    with tempfile.TemporaryDirectory(prefix="orch-index-") as tmp:
        return fn({"GIT_INDEX_FILE": str(Path(tmp) / "index")})


def workspace_tree(workspace: Path) -> str:
    """The tree of everything in the workspace (new files included, ignored files not)."""

    def build(env: Mapping[str, str]) -> str:
        git(workspace, "read-tree", "HEAD", env=env)
        git(workspace, "add", "-A", ".", env=env)
        return git(workspace, "write-tree", env=env).strip()

    return _with_temp_index(workspace, build)


@dataclass(frozen=True)
class FileChange:
    path: str
    added: int
    deleted: int
    binary: bool = False


def diff_stat(repo: Path, base: str, tree: str, timeout: float | None = None) -> list[FileChange]:
    out = git(repo, "diff", "--numstat", "-z", "--no-renames", base, tree, timeout=timeout)
    changes: list[FileChange] = []
    for record in out.split("\0"):
        if not record.strip():
            continue
        added, deleted, path = record.split("\t", 2)
        binary = added == "-"
        changes.append(FileChange(path, 0 if binary else int(added), 0 if binary else int(deleted), binary))
    return sorted(changes, key=lambda c: c.path)


def diff_patch(repo: Path, base: str, tree: str, cap: int, timeout: float | None = None) -> tuple[bytes, int]:
    """The first `cap` bytes of the patch from base to tree, and the patch's whole size (the rest is
    counted as it streams, never held); git is killed when `timeout` seconds have passed (GitTimeout)."""
    # No --binary: a binary file's bytes never enter the evidence (the review reads them from the tree).
    argv = ["git", "diff", "--no-renames", "--full-index", base, tree]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    proc = subprocess.Popen(argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(max(timeout, 0.001), expire) if timeout is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        head = proc.stdout.read(cap)
        size = len(head)
        while chunk := proc.stdout.read(1 << 16):
            size += len(chunk)
    finally:
        if timer is not None:
            timer.cancel()
        code = proc.wait()
    if expired.is_set():
        raise GitTimeout(f"git diff still running after {timeout:.1f}s")
    if code != 0:
        raise GitError(f"git diff {base[:12]} {tree[:12]} failed (exit {code})")
    return head, size


def hash_files(repo: Path, files: Iterable[Path], timeout: float | None = None) -> list[str]:
    paths = [str(p) for p in files]
    if not paths:
        return []
    out = git(
        repo,
        "hash-object",
        "-w",
        "--no-filters",
        "--stdin-paths",
        input="\n".join(paths).encode(),
        timeout=timeout,
    )
    return out.split()


def commit_tree(
    repo: Path,
    *,
    start_tree: str,
    keep_from: str | None,
    keep_prefix: str,
    add: Mapping[str, Path],
    parents: list[str],
    message: str,
    identity: Mapping[str, str],
) -> str:
    """A commit whose tree is start_tree, plus keep_prefix/ from keep_from, plus the files in add."""

    def build(env: Mapping[str, str]) -> str:
        git(repo, "read-tree", start_tree, env=env)
        if keep_from:
            listing = git(repo, "ls-tree", "-r", "--full-tree", keep_from, "--", keep_prefix)
            if listing.strip():
                git(repo, "update-index", "--index-info", env=env, input=listing.encode())
        names = sorted(add)
        blobs = hash_files(repo, [add[n] for n in names])
        info = "".join(f"100644 {blob}\t{name}\n" for name, blob in zip(names, blobs, strict=True))
        if info:
            git(repo, "update-index", "--add", "--index-info", env=env, input=info.encode())
        tree = git(repo, "write-tree", env=env).strip()
        parent_args = [arg for p in parents for arg in ("-p", p)]
        return git(repo, "commit-tree", tree, *parent_args, "-m", message, env={**env, **identity}).strip()

    return _with_temp_index(repo, build)


def identity(repo: Path) -> dict[str, str]:
    """Author/committer: GIT_* variables, else git config, else the documented fallback."""
    ident = dict(IDENTITY)
    for who in ("AUTHOR", "COMMITTER"):
        for field, key in (("NAME", "user.name"), ("EMAIL", "user.email")):
            var = f"GIT_{who}_{field}"
            if os.environ.get(var):
                ident[var] = os.environ[var]
                continue
            proc = subprocess.run(
                ["git", "config", key], cwd=repo, capture_output=True, text=True, check=False
            )
            if proc.returncode == 0 and proc.stdout.strip():
                ident[var] = proc.stdout.strip()
    return ident


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, descendant],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def branch_parents(repo: Path, first: str, previous: str | None) -> list[str]:
    """Parents of a run's last commit: its own line first, then the branch's previous head.

    The first parent descends from the run's base, so the base stays the merge-base of
    the task branch and the base branch; the second keeps every earlier run's commits
    and evidence reachable from the branch itself (a push carries them along). It is
    left out when it adds nothing (the previous head is already an ancestor).
    """
    if previous is None or is_ancestor(repo, previous, first):
        return [first]
    return [first, previous]


def remote_url(repo: Path, remote: str) -> str | None:
    proc = subprocess.run(
        ["git", "remote", "get-url", remote], cwd=repo, capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


FILE_JOURNAL = Path(".orchestrator") / "journal" / "files.jsonl"
"""Files of the checkout the orchestrator itself writes (control-plane commits of task packs), with the
lstat signature they had right after: the escape guard accepts exactly those, nothing changed later."""


def journal_files(repo: Path, paths: Iterable[Path]) -> None:
    entries = []
    for path in paths:
        st = path.lstat()
        entries.append(
            {
                "path": path.relative_to(repo).as_posix(),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "ctime_ns": st.st_ctime_ns,
                "ino": st.st_ino,
                "mode": st.st_mode,
            }
        )
    target = repo / FILE_JOURNAL
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(entry) + "\n" for entry in entries)


def journal_ref(repo: Path, ref: str, new: str) -> None:
    path = repo / REF_JOURNAL
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"ref": ref, "new": new}) + "\n")


def update_branch(repo: Path, branch: str, new: str, old: str | None) -> None:
    ref = f"refs/heads/{branch}"
    journal_ref(repo, ref, new)
    git(repo, "update-ref", "-m", "orchestrator publish", ref, new, *([old] if old else ["0" * 40]))


def check_branch_name(repo: Path, branch: str) -> None:
    proc = subprocess.run(
        ["git", "check-ref-format", "--branch", branch], cwd=repo, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BadInput(
            f"branch name {branch!r} is not a valid git branch name (ORCH_BRANCH_NAME / BASE_BRANCH)"
        )


def require_remote(repo: Path, remote: str = "origin") -> None:
    """`--push` needs the remote it pushes to; checked before a run starts, and again here."""
    if remote_url(repo, remote) is None:
        raise Refused(
            f"--push (ORCH_PUSH=1) pushes to the remote {remote!r}, and this repository has "
            f"no remote {remote!r}; add it (git remote add {remote} <url>) or run without --push"
        )

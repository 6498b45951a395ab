"""What git inside the jail sees: a synthetic git dir with a sanitised config, over the real objects.

The worktree's own `.git` file points into the main checkout's `.git`, whose config
may hold credentials (a CI token in `http.<url>.extraheader`, a credential helper,
a userinfo URL) and settings that run programs (`core.hooksPath`, `core.fsmonitor`,
filters). None of it is shown. The jail gets, in its scratch:

- `git/` with a copy of the worktree's HEAD and index, a copy of the refs, and a
  config holding only the repository format;
- `git/objects/info/alternates` naming the main objects, bound read-only at
  `git-objects/`, so `git status`, `git diff` and `git log` work and anything the
  command writes (a commit, a tag) stays in its scratch;
- `gitfile`, bound read-only over the worktree's `.git`, pointing at `git/`.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.sandbox.scratch import fresh_dir, fresh_file

KEPT_CONFIG = re.compile(
    r"^\s*(repositoryformatversion|objectformat)\s*=\s*([A-Za-z0-9]+)\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class GitDirs:
    common: Path
    """The repository's shared git dir (objects, refs, config)."""
    private: Path
    """This worktree's own git dir (HEAD, index); the same as `common` for a plain clone."""

    @property
    def checkout(self) -> Path:
        """The main checkout the repository belongs to."""
        return self.common.parent if self.common.name == ".git" else self.common


@dataclass(frozen=True)
class GitView:
    binds: tuple[tuple[Path, Path], ...]
    """(host source, jail destination) pairs, bound read-only."""


def gitdir_file(workspace: Path) -> Path | None:
    """The git dir a worktree's `.git` file names; None unless `.git` is a regular file (not a
    symlink) holding the one line `gitdir: <path>` that git writes. The one parser of that file."""
    dot_git = workspace / ".git"
    if not dot_git.is_file() or dot_git.is_symlink():
        return None
    try:
        text = dot_git.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:") or "\n" in text:
        return None
    path = Path(text.split(":", 1)[1].strip())
    return (path if path.is_absolute() else workspace / path).resolve()


def git_dirs(workspace: Path) -> GitDirs | None:
    dot_git = workspace / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        return GitDirs(dot_git.resolve(), dot_git.resolve())
    private = gitdir_file(workspace)
    if private is None:
        return None
    try:
        common_text = (private / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return GitDirs(private, private)
    common = Path(common_text)
    common = common if common.is_absolute() else private / common
    return GitDirs(common.resolve(), private)


def sanitised_config(common: Path) -> str:
    """Only the repository format survives: no remotes, helpers, headers, hooks, filters or fsmonitor."""
    kept = {"repositoryformatversion": "0"}
    try:
        text = (common / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        if match := KEPT_CONFIG.match(line):
            kept[match.group(1).lower()] = match.group(2)
    out = f"[core]\n\trepositoryformatversion = {kept['repositoryformatversion']}\n\tbare = false\n"
    if "objectformat" in kept:
        out += f"[extensions]\n\tobjectformat = {kept['objectformat']}\n"
    return out


def _copy(source: Path, dest: Path) -> None:
    if source.is_file() and not source.is_symlink():
        shutil.copyfile(source, dest)


def prepare(workspace: Path, scratch: Path) -> GitView:
    """Writes the synthetic git dir into scratch; returns the read-only binds that present it."""
    dirs = git_dirs(workspace)
    if dirs is None:
        return GitView(())
    view = fresh_dir(scratch / "git")
    (view / "objects" / "info").mkdir(parents=True)
    objects = fresh_dir(scratch / "git-objects")
    (view / "objects" / "info" / "alternates").write_text(f"{objects}\n", encoding="utf-8")
    (view / "config").write_text(sanitised_config(dirs.common), encoding="utf-8")
    _copy(dirs.private / "HEAD", view / "HEAD")
    _copy(dirs.private / "index", view / "index")
    _copy(dirs.common / "packed-refs", view / "packed-refs")
    _copy(dirs.common / "shallow", view / "shallow")
    refs = dirs.common / "refs"
    if refs.is_dir():
        shutil.copytree(refs, view / "refs", symlinks=False, ignore_dangling_symlinks=True)
    else:
        (view / "refs").mkdir()
    binds = [(dirs.common / "objects", objects)]
    dot_git = workspace / ".git"
    if dot_git.is_dir():
        binds.append((view, dot_git))
    else:
        gitfile = fresh_file(scratch / "gitfile", f"gitdir: {view}\n")
        binds.append((gitfile, dot_git))
    return GitView(tuple(binds))

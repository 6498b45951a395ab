"""The cache of prepared environments, per repository, under `.orchestrator/cache/` (outside any jail).

An entry is what setup wrote to ignored paths, copied as it was, with the workspace path it was
made in. Worktree paths differ from run to run, and tools bake absolute paths into what they
install (a venv's script shebangs, `pyvenv.cfg`, activate scripts), so a restore relocates:
it copies the tree into the new workspace and rewrites the old workspace path to the new one
in the files known to mention it (found once, when the tree was stored), never through a link.
The same relocation provides the prepared environment to another checkout of the run (the tree
verify tests), from the run's pristine snapshot: hard links to the cache entry, which no jail sees.
What a workspace gets is always a real copy: the execution plane may change its environment in
place, and that must not reach the cache. Entries are
evicted oldest-used first past a size cap; `nox -s cache -- prune` trims by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR = "cache"
META = "meta.json"
TREE = "tree"
INVENTORY = "inventory"
DEFAULT_MAX_MB = 2048
SCAN_LIMIT = 64 * 1024 * 1024
"""Files larger than this are copied but not searched for the old workspace path."""


@dataclass(frozen=True)
class Entry:
    path: Path
    workspace: str
    paths: tuple[str, ...]
    bytes: int
    mentions: tuple[str, ...] = ()
    """Workspace-relative files of the entry that hold the workspace path (rewritten on restore)."""

    @property
    def used(self) -> float:
        return (self.path / META).stat().st_mtime


def cache_root(state_dir: Path, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env["ORCH_CACHE_DIR"]) if env.get("ORCH_CACHE_DIR") else state_dir / CACHE_DIR


def tree_size(paths: list[Path]) -> int:
    total = 0
    for top in paths:
        walk: Iterable[tuple[str, list[str], list[str]]] = (
            os.walk(top) if top.is_dir() and not top.is_symlink() else [(str(top.parent), [], [top.name])]
        )
        for dirpath, _dirs, files in walk:
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(target)], check=True, capture_output=True)


def _mentions(root: Path, old: str) -> Iterator[Path]:
    """Files (and symlinks) under root whose content (text) or target holds the path `old`.

    A root that is itself a symlink is not walked: it would lead the host outside the tree."""
    old_b = old.encode()
    if root.is_symlink():
        return
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink():
                target = os.readlink(path)
                if target == old or target.startswith(old + "/"):
                    yield path
                continue
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode) or info.st_size > SCAN_LIMIT:
                    continue  # never open a FIFO, socket or device the tree holds: the host would block
                data = path.read_bytes()
            except OSError:
                continue
            if old_b in data and b"\0" not in data[:8192]:
                yield path


def inside(workspace: Path, rel: str) -> Path | None:
    """workspace/rel when rel is plain and no directory on the way is a symlink (else None): the host never
    writes through a link that a prepared tree (the execution plane's output) could have planted."""
    parts = Path(rel).parts
    if not parts or Path(rel).is_absolute() or ".." in parts:
        return None
    here = workspace
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink() or not here.is_dir():
            return None
    return here / parts[-1]


def _rewrite(path: Path, old: str, new: str) -> None:
    if path.is_symlink():
        target = os.readlink(path)
        path.unlink()
        path.symlink_to(new + target[len(old) :])
        return
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    with os.fdopen(fd, "r+b") as handle:
        data = handle.read().replace(old.encode(), new.encode())
        handle.seek(0)
        handle.write(data)
        handle.truncate()


def relocate(workspace: Path, old: str, mentions: Sequence[str]) -> int:
    """Rewrites the workspace path `old` to this workspace's in the files (and symlinks) known to mention it
    (`mentions`, workspace-relative, found once when the tree was stored); returns how many changed."""
    new = str(workspace)
    if old == new:
        return 0
    targets = [path for rel in mentions if (path := inside(workspace, rel)) is not None]
    for path in targets:
        _rewrite(path, old, new)
    return len(targets)


def snapshot_entry(root: Path, key: str, dest: Path) -> bool:
    """The run's pristine copy as hard links to the cache entry (which no jail ever sees, and which is only
    ever replaced whole): instant, and exactly what setup made. False when the entry is gone."""
    entry = load(root / key)
    if entry is None:
        return False
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(entry.path / TREE), str(dest / TREE)], check=True, capture_output=True)
    (dest / META).write_text(
        json.dumps({"workspace": entry.workspace, "mentions": list(entry.mentions)}), encoding="utf-8"
    )
    return True


def snapshot_workspace(workspace: Path, paths: Sequence[str], dest: Path) -> None:
    """The run's pristine copy as a real copy of the workspace's prepared paths (when nothing was cached)."""
    mentions: list[str] = []
    for rel in paths:
        _copy(workspace / rel, dest / TREE / rel)
        mentions += [
            p.relative_to(dest / TREE).as_posix() for p in _mentions(dest / TREE / rel, str(workspace))
        ]
    (dest / META).write_text(
        json.dumps({"workspace": str(workspace), "mentions": mentions}), encoding="utf-8"
    )


def reset(snapshot: Path, paths: Sequence[str], workspace: Path) -> None:
    """Replaces the workspace's prepared paths by the pristine snapshot (what the executor did to them is
    dropped), relocated: verify and the plugin judge with the environment setup made, nothing else."""
    meta = json.loads((snapshot / META).read_text(encoding="utf-8"))
    for rel in paths:
        target = inside(workspace, rel)
        if target is None:
            continue
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        _copy(snapshot / TREE / rel, target)
    relocate(workspace, str(meta["workspace"]), [str(m) for m in meta["mentions"]])


def special_files(workspace: Path, paths: Sequence[str]) -> list[str]:
    """FIFOs, sockets and devices under the prepared paths (never cached, copied or read by the host)."""
    found = []
    for rel in paths:
        top = workspace / rel
        walk = os.walk(top) if top.is_dir() and not top.is_symlink() else [(str(top.parent), [], [top.name])]
        for dirpath, _dirs, files in walk:
            for name in files:
                info = os.lstat(os.path.join(dirpath, name))
                if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                    found.append(os.path.relpath(os.path.join(dirpath, name), workspace))
    return found


def save(
    root: Path,
    key: str,
    workspace: Path,
    paths: list[str],
    max_bytes: int,
    inventory: list[Path] | None = None,
) -> str:
    """Stores the prepared paths (and the inventory of what they hold) under `key`; returns what happened."""
    size = tree_size([workspace / p for p in paths])
    if size > max_bytes:
        return f"not cached: the environment is {size >> 20} MB, over the cache cap of {max_bytes >> 20} MB"
    entry = root / key
    staging = root / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    mentions: list[str] = []
    for rel in paths:
        _copy(workspace / rel, staging / TREE / rel)
        mentions += [
            p.relative_to(staging / TREE).as_posix() for p in _mentions(staging / TREE / rel, str(workspace))
        ]
    for item in inventory or ():
        _copy(item, staging / INVENTORY / item.name)
    (staging / META).write_text(
        json.dumps(
            {"workspace": str(workspace), "paths": paths, "bytes": size, "mentions": sorted(mentions)}
        ),
        encoding="utf-8",
    )
    shutil.rmtree(entry, ignore_errors=True)
    os.replace(staging, entry)
    evicted = prune(root, max_bytes)
    return f"cached as {key} ({size >> 10} KiB)" + (f"; evicted {evicted} older entr(ies)" if evicted else "")


def restore(root: Path, key: str, workspace: Path, inventory_dir: Path | None = None) -> list[str] | None:
    """Lays the cached environment into the workspace, relocated, and its inventory into inventory_dir;
    None on a miss."""
    entry = load(root / key)
    if entry is None:
        return None
    for rel in entry.paths:
        _copy(entry.path / TREE / rel, workspace / rel)
    relocate(workspace, entry.workspace, entry.mentions)
    saved = entry.path / INVENTORY
    if inventory_dir is not None and saved.is_dir():
        inventory_dir.mkdir(parents=True, exist_ok=True)
        for item in saved.iterdir():
            shutil.copyfile(item, inventory_dir / item.name)
    os.utime(entry.path / META)  # most recently used
    return list(entry.paths)


def load(path: Path) -> Entry | None:
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
        entry = Entry(
            path,
            str(meta["workspace"]),
            tuple(meta["paths"]),
            int(meta["bytes"]),
            tuple(meta.get("mentions", ())),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    plain = all(inside(path / TREE, rel) is not None for rel in (*entry.paths, *entry.mentions))
    return entry if plain else None


def entries(root: Path) -> Iterator[Entry]:
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.is_dir() and not path.name.startswith(".") and (entry := load(path)) is not None:
            yield entry


def prune(root: Path, max_bytes: int) -> int:
    """Evicts the least recently used entries until the cache fits in max_bytes (-1: all);
    returns how many went."""
    found = sorted(entries(root), key=lambda e: e.used)
    total = sum(e.bytes for e in found)
    evicted = 0
    for entry in found:
        if total <= max_bytes:
            break
        shutil.rmtree(entry.path, ignore_errors=True)
        total -= entry.bytes
        evicted += 1
    for stale in root.glob(".*.tmp") if root.is_dir() else ():
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    return evicted


def command(repo: Path, state_dir: Path, action: str, everything: bool) -> int:
    """`python -m orchestrator cache list|prune [--all]`."""
    from orchestrator.config import read_tool_section

    root = cache_root(state_dir)
    if action == "list":
        found = sorted(entries(root), key=lambda e: e.used, reverse=True)
        for entry in found:
            print(f"{entry.path.name}  {entry.bytes >> 10:>8} KiB  {', '.join(entry.paths)}")
        print(f"{len(found)} entr(ies), {sum(e.bytes for e in found) >> 20} MB in {root}")
        return 0
    cap = (
        -1
        if everything
        else int((read_tool_section(repo).get("environment") or {}).get("cache_max_mb", DEFAULT_MAX_MB)) << 20
    )
    evicted = prune(root, cap)
    print(f"pruned {evicted} entr(ies) from {root}" + ("" if everything else f" (cap {cap >> 20} MB)"))
    return 0

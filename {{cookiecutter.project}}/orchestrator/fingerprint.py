"""How the escape guard fingerprints a tree: `lstat` signatures of every entry (type, size,
mtime_ns, inode, mode; a link's target; small files' digests where asked), walked in Python or
listed by one GNU `find` with the very same fields. Bounded by `MAX_ENTRIES`: what was not walked
is recorded as such (`Snapshot.truncated`), never treated as unchanged."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

MAX_ENTRIES = 400_000
DIGEST_LIMIT = 1 << 20

Signature = tuple[object, ...]


@dataclass
class Snapshot:
    entries: dict[str, Signature] = field(default_factory=dict)
    """What was fingerprinted entry by entry: refs, each area's root, git's control files, and the
    trees when `find` could not list them."""
    truncated: list[str] = field(default_factory=list)
    listing: bytes = b""
    """The raw `find` listing of the large trees (checkout, venv, engine), parsed only when it differs."""
    starts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """The listing's start points: absolute path -> (area, entry name at the top of the area)."""
    listed: int = 0

    def add(self, key: str, sig: Signature) -> bool:
        if self.count >= MAX_ENTRIES:
            return False
        self.entries[key] = sig
        return True

    @property
    def count(self) -> int:
        return len(self.entries) + self.listed

    def all_entries(self) -> dict[str, Signature]:
        return {**self.entries, **_parse_listing(self.listing, self.starts)}


def signature(st: os.stat_result) -> Signature:
    kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
    if kind == "d":  # a directory's own mtime moves with every entry; its entries speak for it
        return (kind, st.st_mode)
    # ctime too: an in-place rewrite that keeps the size and puts the mtime back still moves it
    return (kind, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)


def walk(
    snap: Snapshot, area: str, root: Path, *, skip_top: tuple[str, ...] = (), digest: bool = False
) -> None:
    """Every entry under root by lstat (symlinks are not followed), keyed `area:relative/path`."""
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                items = list(it)
        except OSError:
            continue
        for item in items:
            if not prefix and item.name in skip_top:
                continue
            rel = prefix + item.name
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            sig = signature(st)
            if digest and sig[0] == "f" and st.st_size <= DIGEST_LIMIT:
                sig = (*sig, file_digest(Path(item.path)))
            elif sig[0] == "l":
                sig = (*sig, os.readlink(item.path))
            if not snap.add(f"{area}:{rel}", sig):
                snap.truncated.append(f"{area} (more than {MAX_ENTRIES} entries)")
                return
            if sig[0] == "d":
                stack.append((Path(item.path), rel + "/"))


# --- the large trees, listed by find ------------------------------------------------------
#
# The checkout, the venv and the engine are most of what is fingerprinted (a venv alone holds
# some 13,000 entries). One `find` lists them all with the very fields `_sig` takes from lstat
# (type, size, mtime and ctime in ns, inode, mode; a link's target), without following links. The listing
# is kept as bytes: when the listing after a phase is byte for byte the one before, no entry
# changed, and nothing is parsed; only a listing that differs is parsed, entry by entry, to name
# what changed. Without GNU find (or when it fails) the trees are walked by `walk`, as before.
#
# Every entry is listed every time. Two shortcuts were weighed and refused:
# - a directory's own stat (mtime, inode) does not prove its files unchanged: an in-place write
#   changes the file, never its directory;
# - the jail binds only the worktree and its scratch writable (`sandbox.jail.bwrap_argv`: system
#   dirs and exceptions read-only, the venv and the main checkout not at all), so no jailed code
#   can write the venv; but that is the jail's promise, and this guard exists to check it after an
#   escape. Skipping the venv because the jail cannot write it would trust what is being checked.

FIND_PRINTF = (
    "(",
    "-type",
    "d",
    "-printf",
    r"d %d %m %p\0",
    ")",
    "-o",
    "(",
    "-type",
    "l",
    "-printf",
    r"l %d %s %T@ %C@ %i %m %p\0>%l\0",  # a piece that starts with ">" is the target of the link before it
    ")",
    "-o",
    "-printf",
    r"%y %d %s %T@ %C@ %i %m %p\0",
)
FILE_TYPES = {
    b"f": stat.S_IFREG,
    b"p": stat.S_IFIFO,
    b"s": stat.S_IFSOCK,
    b"c": stat.S_IFCHR,
    b"b": stat.S_IFBLK,
    b"D": 0,
}


@functools.cache
def _gnu_find() -> str | None:
    """GNU find, the one whose `-printf` the listing relies on (another find may ignore it)."""
    find = shutil.which("find")
    if find is None:
        return None
    try:
        proc = subprocess.run([find, "--version"], capture_output=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return find if proc.returncode == 0 and b"GNU findutils" in proc.stdout else None


def _ns(text: bytes) -> int:
    return int(Decimal(text.decode()) * 1_000_000_000)


def _parse_listing(listing: bytes, starts: dict[str, tuple[str, str]]) -> dict[str, Signature]:
    """Entries keyed `area:relative/path`; a record at depth 0 is a start point and opens its area."""
    out: dict[str, Signature] = {}
    encoded: dict[bytes, tuple[int, str]] = {}
    for start, (area, top) in starts.items():
        raw = os.fsencode(start)
        encoded[raw] = (len(raw), f"{area}:{top}")
    cut, base = 0, ""
    parts = iter(listing.split(b"\0"))
    for record in parts:
        if not record:
            continue
        kind = record[:1]
        fields = record.split(b" ", 3 if kind == b"d" else 7)
        path = fields[-1]
        if fields[1] == b"0":
            cut, base = encoded[path]
        key = base + os.fsdecode(path[cut:])
        if kind == b"d":
            out[key] = ("d", stat.S_IFDIR | int(fields[2], 8))
            continue
        _, _, size, mtime, ctime, ino, mode, _ = fields
        if kind == b"l":
            piece = next(parts, b"")
            if not piece.startswith(b">"):  # a listing cut short after this link's name
                break
            target = os.fsdecode(piece[1:])
            out[key] = ("l", int(size), _ns(mtime), _ns(ctime), int(ino), stat.S_IFLNK | int(mode, 8), target)
        else:
            out[key] = (
                "f",
                int(size),
                _ns(mtime),
                _ns(ctime),
                int(ino),
                FILE_TYPES.get(kind, 0) | int(mode, 8),
            )
    return out


def _start_points(trees: list[tuple[str, Path, tuple[str, ...]]]) -> dict[str, tuple[str, str]] | None:
    """Every top entry of every tree, by absolute path; None when one cannot be read or two coincide."""
    starts: dict[str, tuple[str, str]] = {}
    for area, root, skip_top in trees:
        try:
            with os.scandir(root) as it:
                names = sorted(e.name for e in it if e.name not in skip_top)
        except OSError:
            return None
        for name in names:
            path = os.path.join(root, name)
            if path in starts:
                return None
            starts[path] = (area, name)
    return starts


def list_trees(
    snap: Snapshot, trees: list[tuple[str, Path, tuple[str, ...]]], first: Callable[[], None] = lambda: None
) -> None:
    """Lists every tree with one `find`; without GNU find, or when it fails, the trees are walked.

    `first` runs once find has started (or before the walk), ahead of the trees in the entry budget."""
    find, starts = _gnu_find(), _start_points(trees)
    proc = None
    if find is not None and starts:
        try:
            proc = subprocess.Popen(
                [find, "-P", *starts, *FIND_PRINTF],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={"LC_ALL": "C"},
            )
        except OSError:
            proc = None
    first()
    if proc is None or starts is None:
        if starts == {}:
            return
        for area, root, skip_top in trees:
            walk(snap, area, root, skip_top=skip_top)
        return
    assert proc.stdout is not None
    budget = MAX_ENTRIES - snap.count
    chunks, seen = [], 0
    while chunk := proc.stdout.read(1 << 16):
        chunks.append(chunk)
        seen += chunk.count(b"\0")  # a link is two pieces: counted high, never low
        if seen > budget:
            proc.kill()
            break
    proc.stdout.close()
    proc.wait()
    listing = b"".join(chunks)
    if seen > budget:  # keep what fits, parsed, and say the rest was not walked
        whole = listing[: listing.rfind(b"\0") + 1]  # the records read to their end
        for key, sig in list(_parse_listing(whole, starts).items())[:budget]:
            snap.entries[key] = sig
        areas = ", ".join(dict.fromkeys(area for area, _, _ in trees))
        snap.truncated.append(f"{areas} (more than {MAX_ENTRIES} entries)")
    elif proc.returncode not in (0, 1) or not listing:  # 1: an entry vanished or was unreadable
        for area, root, skip_top in trees:
            walk(snap, area, root, skip_top=skip_top)
    else:
        snap.listing, snap.starts, snap.listed = listing, starts, seen - listing.count(b"\0>")


def file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"

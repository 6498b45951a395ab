"""The escape guard: what only an escape from the jail could change, compared before and after.

Around every phase that runs execution-plane code (prepare, execute, verify, plugin) the host
takes a fingerprint of:
- the main checkout: every tracked, untracked and ignored file (`.env` included), except the
  orchestrator's own `runs/` and `.orchestrator/` and the `.git` directory;
- `.git`'s config, hooks, `info/` (exclude, attributes) and `objects/info/` (alternates);
- the refs (`git for-each-ref`) and `HEAD`;
- the interpreter environment the orchestrator runs in (`sys.prefix`: a venv's `pyvenv.cfg`,
  `bin/` and `lib/`) and the engine itself, when they live outside the checkout.

Fingerprints are `lstat` based (type, size, mtime_ns, inode, mode); git's control files are
small and also hashed. The walk is bounded (`MAX_ENTRIES`); what was not walked is said so in
the decision, never silently treated as unchanged.

Changes the orchestrator makes itself are journalled and are not violations: its branch
updates (`gitops.REF_JOURNAL`, written by `gitops.update_branch`), and bytecode the host's
own imports write (a new `__pycache__/*.pyc` is accepted only when it is exactly the compiled
form of the source beside it). Any other difference refuses the run (exit 3), naming the paths.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import marshal
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import orchestrator
from orchestrator.errors import BadInput, Refused
from orchestrator.gitops import FILE_JOURNAL, REF_JOURNAL
from orchestrator.model import Ruling
from orchestrator.runs import Run

GUARDED = ("prepare", "execute", "verify", "plugin")
"""Phases that run execution-plane code: each is fingerprinted before and after."""
EXCLUDED_TOP = ("runs", ".orchestrator", ".git")
"""Top-level entries of the checkout the orchestrator itself writes (or that are guarded apart)."""
GIT_CONTROL = (
    "config",
    "config.worktree",
    "hooks",
    "info",
    "objects/info/alternates",
    "objects/info/http-alternates",
    "HEAD",
)
MAX_ENTRIES = 400_000
DIGEST_LIMIT = 1 << 20
SHOWN = 10

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


def _sig(st: os.stat_result) -> Signature:
    kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
    if kind == "d":  # a directory's own mtime moves with every entry; its entries speak for it
        return (kind, st.st_mode)
    return (kind, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)


def _walk(
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
            sig = _sig(st)
            if digest and sig[0] == "f" and st.st_size <= DIGEST_LIMIT:
                sig = (*sig, _digest(Path(item.path)))
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
# (type, size, mtime in ns, inode, mode; a link's target), without following links. The listing
# is kept as bytes: when the listing after a phase is byte for byte the one before, no entry
# changed, and nothing is parsed; only a listing that differs is parsed, entry by entry, to name
# what changed. Without GNU find (or when it fails) the trees are walked by `_walk`, as before.
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
    r"l %d %s %T@ %i %m %p\0>%l\0",  # a piece that starts with ">" is the target of the link before it
    ")",
    "-o",
    "-printf",
    r"%y %d %s %T@ %i %m %p\0",
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
        fields = record.split(b" ", 3 if kind == b"d" else 6)
        path = fields[-1]
        if fields[1] == b"0":
            cut, base = encoded[path]
        key = base + os.fsdecode(path[cut:])
        if kind == b"d":
            out[key] = ("d", stat.S_IFDIR | int(fields[2], 8))
            continue
        _, _, size, mtime, ino, mode, _ = fields
        if kind == b"l":
            piece = next(parts, b"")
            if not piece.startswith(b">"):  # a listing cut short after this link's name
                break
            target = os.fsdecode(piece[1:])
            out[key] = ("l", int(size), _ns(mtime), int(ino), stat.S_IFLNK | int(mode, 8), target)
        else:
            out[key] = ("f", int(size), _ns(mtime), int(ino), FILE_TYPES.get(kind, 0) | int(mode, 8))
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


def _list_trees(
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
            _walk(snap, area, root, skip_top=skip_top)
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
            _walk(snap, area, root, skip_top=skip_top)
    else:
        snap.listing, snap.starts, snap.listed = listing, starts, seen - listing.count(b"\0>")


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _refs(repo: Path) -> dict[str, str]:
    return _read_refs(_start_refs(repo))


def _start_refs(repo: Path) -> subprocess.Popen[str]:
    """`git for-each-ref`, started: it runs while the trees are listed."""
    return subprocess.Popen(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )


def _read_refs(proc: subprocess.Popen[str]) -> dict[str, str]:
    stdout, stderr = proc.communicate()
    refs = dict(line.split(" ", 1) for line in stdout.splitlines() if " " in line)
    if proc.returncode != 0:
        refs["(for-each-ref failed)"] = stderr.strip()
    return refs


def _outside(path: Path, repo: Path) -> bool:
    return not path.resolve().is_relative_to(repo.resolve())


def interpreter_paths() -> dict[str, Path]:
    """What the interpreter the orchestrator runs in executes or reads at start: a venv's `pyvenv.cfg`,
    `bin/` and `lib/`; without a venv, its site-packages directories (never all of /usr)."""
    prefix = Path(sys.prefix).resolve()
    if sys.prefix != sys.base_prefix:
        parts = ("pyvenv.cfg", "bin", "lib", "lib64")
        return {
            f"venv/{p}": prefix / p for p in parts if not (prefix / p).is_symlink() and (prefix / p).exists()
        }
    paths = sysconfig.get_paths()
    return {
        f"site/{key}": Path(paths[key]).resolve()
        for key in ("purelib", "platlib")
        if Path(paths[key]).is_dir()
    }


def areas(repo: Path) -> dict[str, Path]:
    """What is fingerprinted, by name: the checkout, git's control files, the venv and the engine."""
    found = {"checkout": repo}
    for name in GIT_CONTROL:
        found[f".git/{name}"] = repo / ".git" / name
    for name, path in interpreter_paths().items():
        if _outside(path, repo):
            found[name] = path
    engine = Path(orchestrator.__file__).resolve().parent
    if _outside(engine, repo):
        found["engine"] = engine
    return found


def snapshot(repo: Path) -> Snapshot:
    snap = Snapshot()
    refs = _start_refs(repo)

    def add_refs() -> None:
        for ref, sha in _read_refs(refs).items():
            snap.add(f"ref:{ref}", ("ref", sha))

    trees: list[tuple[str, Path, tuple[str, ...]]] = []
    for name, path in areas(repo).items():
        try:
            st = path.lstat()
        except OSError:
            snap.add(f"{name}:", ("absent",))
            continue
        git_file = name.startswith(".git/")
        if stat.S_ISDIR(st.st_mode):
            snap.add(f"{name}:", _sig(st))
            if git_file:  # small, and hashed as well
                _walk(snap, name, path, digest=True)
            else:
                trees.append((name, path, EXCLUDED_TOP if name == "checkout" else ()))
        else:
            sig = _sig(st)
            snap.add(f"{name}:", (*sig, _digest(path)) if git_file and sig[0] == "f" else sig)
    _list_trees(snap, trees, add_refs)
    return snap


# --- what the orchestrator did itself ----------------------------------------------------


def journalled_refs(repo: Path) -> set[tuple[str, str]]:
    path = repo / REF_JOURNAL
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return set()
    out = set()
    for line in lines:
        try:
            item = json.loads(line)
            out.add((str(item["ref"]), str(item["new"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def journalled_files(repo: Path) -> dict[str, Signature]:
    """checkout-relative path -> the signature the orchestrator left it with (the last one journalled)."""
    try:
        lines = (repo / FILE_JOURNAL).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    out: dict[str, Signature] = {}
    for line in lines:
        try:
            item = json.loads(line)
            out[str(item["path"])] = ("f", item["size"], item["mtime_ns"], item["ino"], item["mode"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


def legit_bytecode(pyc: Path) -> bool:
    """True when pyc is exactly what importing the source beside it writes (the host's own import)."""
    if pyc.parent.name != "__pycache__" or pyc.suffix != ".pyc" or pyc.is_symlink():
        return False
    module = pyc.name.split(".", 1)[0]
    source = pyc.parent.parent / f"{module}.py"
    try:
        if importlib.util.cache_from_source(str(source)) != str(pyc):
            return False
        data = pyc.read_bytes()
        st = source.stat()
        if data[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(data[4:8], "little") != 0:
            return False
        if int.from_bytes(data[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF:
            return False
        if int.from_bytes(data[12:16], "little") != st.st_size & 0xFFFFFFFF:
            return False
        compiled = compile(source.read_bytes(), str(source), "exec", dont_inherit=True)
        return bool(marshal.loads(data[16:]) == compiled)
    except (OSError, ValueError, EOFError, TypeError, SyntaxError):
        return False


def _path_of(key: str, repo: Path) -> Path | None:
    area, _, rel = key.partition(":")
    root = areas(repo).get(area)
    if root is None:
        return None
    return root / rel if rel else root


def differences(before: Snapshot, after: Snapshot, repo: Path) -> list[str]:
    """What changed, as `area:path (how)`, minus the orchestrator's own journalled changes."""
    journal: set[tuple[str, str]] | None = None
    files: dict[str, Signature] | None = None
    found = []
    old_entries, new_entries = before.entries, after.entries
    if (before.listing, before.starts) != (after.listing, after.starts):  # else: not one entry changed
        old_entries, new_entries = before.all_entries(), after.all_entries()
    for key in sorted(old_entries.keys() | new_entries.keys()):
        old, new = old_entries.get(key), new_entries.get(key)
        if old == new:
            continue
        if key.startswith("ref:") and new is not None:
            journal = journalled_refs(repo) if journal is None else journal
            if (key[4:], str(new[1])) in journal:
                continue
        if key.startswith("checkout:") and new is not None:
            files = journalled_files(repo) if files is None else files
            if new[0] == "d" or files.get(key[len("checkout:") :]) == new:
                continue  # a file the orchestrator wrote (a proposed task pack), exactly as it left it
        if old is None and key.endswith(".pyc") and (path := _path_of(key, repo)) and legit_bytecode(path):
            continue
        if old is None and new is not None and new[0] == "d" and key.endswith("/__pycache__"):
            continue  # a new bytecode directory: each file in it is judged on its own
        how = "created" if old is None else "removed" if new is None else "changed"
        found.append(f"{key} ({how})")
    return found


def describe(changed: list[str]) -> str:
    shown = ", ".join(changed[:SHOWN])
    more = f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
    return f"{shown}{more}"


_LAST: dict[tuple[str, str], Snapshot] = {}
"""The last clean snapshot of a run, in this process: the next guarded phase starts from it, so the
time between two guarded phases is covered too (and one walk is saved)."""


@contextmanager
def watch(run: Run, phase: str) -> Iterator[None]:
    """Fingerprints before and after a guarded phase; a difference refuses the run, naming it.

    The check runs however the phase ended (a tripped breaker does not hide an escape)."""
    if phase not in GUARDED:
        yield
        return
    from orchestrator.recording import decide

    key = (str(run.repo), run.id)
    before = _LAST.pop(key, None) or snapshot(run.repo)
    failure: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        failure = exc
    after = snapshot(run.repo)
    changed = differences(before, after, run.repo)
    gaps = sorted(set(before.truncated + after.truncated))
    if changed:
        reason = (
            f"escape guard: {phase} changed what only an escape could change: {describe(changed)}; "
            "nothing outside the run's worktree may change during a run"
        )
        decide(run, f"guard.{phase}", Ruling.DENY, reason)
        raise Refused(reason) from failure
    _LAST[key] = after
    note = f" (not walked: {', '.join(gaps)})" if gaps else ""
    decide(
        run,
        f"guard.{phase}",
        Ruling.ALLOW,
        f"{after.count} entries outside the worktree unchanged across {phase}{note}",
    )
    if failure is not None:
        raise failure


def refuse_if_published(run: Run) -> None:
    """A published run's evidence is sealed on its task branch: a phase rerun would rewrite it."""
    commit = run.manifest.git.evidence_commit
    if commit:
        raise BadInput(
            f"run {run.id} of {run.task.id} is already published to {run.manifest.git.branch} "
            f"(evidence commit {str(commit)[:12]}); rerunning a phase would rewrite evidence that no longer "
            f"matches the branch. Start a new run instead: nox -s run -- {run.task.id}"
        )

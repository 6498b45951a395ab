"""The escape guard: what only an escape from the jail could change, compared before and after.

Around every phase that runs execution-plane code (prepare, execute, verify, plugin) the host
takes a fingerprint of:
- the main checkout: every tracked, untracked and ignored file (`.env` included), except the
  orchestrator's own `runs/` and `.orchestrator/` and the `.git` directory;
- `.git`'s config, hooks, `info/` (exclude, attributes) and `objects/info/` (alternates);
- the refs (`git for-each-ref`) and `HEAD`;
- the interpreter environment the orchestrator runs in (`sys.prefix`: a venv's `pyvenv.cfg`,
  `bin/` and `lib/`) and the engine itself, when they live outside the checkout.

Fingerprints are `lstat` based (type, size, mtime_ns, ctime_ns, inode, mode); git's control files are
small and also hashed. The walk is bounded (`fingerprint.MAX_ENTRIES`); what was not walked is said so in
the decision, never silently treated as unchanged.

Changes the orchestrator makes itself are journalled and are not violations: its branch
updates (`gitops.REF_JOURNAL`, written by `gitops.update_branch`), and bytecode the host's
own imports write (a new `__pycache__/*.pyc` is accepted only when it is exactly the compiled
form of the source beside it). Any other difference refuses the run (exit 3), naming the paths.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orchestrator
from orchestrator.errors import BadInput, Refused
from orchestrator.fingerprint import Signature, Snapshot, file_digest, list_trees, signature, walk
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


SHOWN = 10


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
            snap.add(f"{name}:", signature(st))
            if git_file:  # small, and hashed as well
                walk(snap, name, path, digest=True)
            else:
                trees.append((name, path, EXCLUDED_TOP if name == "checkout" else ()))
        else:
            sig = signature(st)
            snap.add(f"{name}:", (*sig, file_digest(path)) if git_file and sig[0] == "f" else sig)
    list_trees(snap, trees, add_refs)
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
            out[str(item["path"])] = (
                "f",
                item["size"],
                item["mtime_ns"],
                item["ctime_ns"],
                item["ino"],
                item["mode"],
            )
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

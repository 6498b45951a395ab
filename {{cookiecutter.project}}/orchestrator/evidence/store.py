"""The repository's evidence index: every artifact of every run, queryable in one place.

A cache, never the source of truth: `.orchestrator/evidence.sqlite` (git-ignored)
holds one row per artifact of every `runs/<task>/<run>/evidence_index.json`. The
evidence phase upserts its run as it finishes; before each query, `sync` stats each
run's index and manifest and re-reads only the runs whose files changed, so a
missing, stale or corrupt database is rebuilt from the run directories by itself.
SQLite keeps concurrent runs (parallel task packs) from corrupting it.

Each artifact row also holds its query answer as compact JSON (`obj`, made by SQLite from the
row and its run when the run is written), so the streamed `--json` query only reads and writes
strings: no per-row assembly in Python.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

from orchestrator.fsio import read_json, sha256_file
from orchestrator.globs import glob_to_regex
from orchestrator.layout import ATTESTATION, INDEX, MANIFEST

DB = Path(".orchestrator") / "evidence.sqlite"
VERSION = "evidence-db/2"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_dir TEXT PRIMARY KEY, task TEXT NOT NULL, run_id TEXT NOT NULL, status TEXT NOT NULL,
    root_digest TEXT NOT NULL, stamp TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts (
    run_dir TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL,
    kind TEXT NOT NULL, phase TEXT, media_type TEXT NOT NULL, obj TEXT,
    PRIMARY KEY (run_dir, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_task ON runs (task, run_id);
CREATE INDEX IF NOT EXISTS runs_run_id ON runs (run_id);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE INDEX IF NOT EXISTS artifacts_kind ON artifacts (kind);
CREATE INDEX IF NOT EXISTS artifacts_phase ON artifacts (phase);
"""
GLOB_SPECIAL = "*?["


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "-"
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def run_stamp(run_dir: Path | str) -> str:
    """Changes whenever the run's index or manifest is rewritten (atomic writes: new inode)."""
    base = os.fspath(run_dir)
    return f"{_stamp(os.path.join(base, INDEX))}|{_stamp(os.path.join(base, 'manifest.json'))}"


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    row = conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
    if row is None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (VERSION,))
    elif row[0] != VERSION:
        raise sqlite3.DatabaseError(f"version {row[0]}")
    return conn


@contextlib.contextmanager
def connect(repo: Path) -> Iterator[sqlite3.Connection]:
    """The database, recreated from scratch when it is unreadable or of another version."""
    path = repo / DB
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = _open(path)
    except sqlite3.DatabaseError:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        conn = _open(path)
    try:
        yield conn
    finally:
        conn.close()


def rel_run_dir(repo: Path, run_dir: Path) -> str:
    return os.path.relpath(run_dir.resolve(), repo.resolve()).replace(os.sep, "/")


def _rows(run_key: str, run_dir: Path, index: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = [
        (run_key, e["path"], e["sha256"], e["bytes"], e["kind"], e["phase"], e["media_type"], None)
        for e in index["entries"]
    ]
    for name, kind in ((INDEX, "evidence-index"), (ATTESTATION, "attestation")):
        path = run_dir / name
        if path.is_file():
            media = "application/vnd.in-toto+json" if name == ATTESTATION else "application/json"
            rows.append(
                (run_key, name, sha256_file(path), path.stat().st_size, kind, "evidence", media, None)
            )
    return rows


def _write_run(
    conn: sqlite3.Connection,
    key: str,
    run_dir: Path,
    index: dict[str, Any] | None,
    manifest: dict[str, Any] | None,
) -> None:
    stamp = run_stamp(run_dir)
    if index is None:
        index = read_json(run_dir / INDEX)
    if manifest is None:
        manifest = read_json(run_dir / MANIFEST)
    conn.execute("DELETE FROM artifacts WHERE run_dir = ?", (key,))
    conn.execute(
        "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
        (key, index["task"], index["run_id"], manifest.get("status", "unknown"), index["root_digest"], stamp),
    )
    conn.executemany(
        "INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _rows(key, run_dir, index)
    )
    conn.execute(UPDATE_OBJ, (key,))


def upsert_run(
    repo: Path, run_dir: Path, index: dict[str, Any] | None = None, manifest: dict[str, Any] | None = None
) -> None:
    """Incremental update for one run, as it finishes (or after a refresh)."""
    with connect(repo) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _write_run(conn, rel_run_dir(repo, run_dir), run_dir, index, manifest)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def run_dirs(repo: Path) -> dict[str, str]:
    """Every runs/<task>/<run>/ holding an evidence index: {"runs/<task>/<run>": its path}."""
    root = os.path.join(repo, "runs")
    found: dict[str, str] = {}
    if not os.path.isdir(root):
        return found
    for task in os.scandir(root):
        if not task.is_dir(follow_symlinks=False):
            continue
        for run in os.scandir(task.path):
            if run.is_dir(follow_symlinks=False) and os.path.isfile(os.path.join(run.path, INDEX)):
                found[f"runs/{task.name}/{run.name}"] = run.path
    return dict(sorted(found.items()))


def sync(repo: Path, conn: sqlite3.Connection) -> tuple[int, int]:
    """Brings the database up to date with runs/ (stat only for unchanged runs); (updated, removed)."""
    known = dict(conn.execute("SELECT run_dir, stamp FROM runs").fetchall())
    on_disk = run_dirs(repo)
    stale = [key for key, d in on_disk.items() if known.get(key) != run_stamp(d)]
    gone = sorted(set(known) - set(on_disk))
    if not stale and not gone:
        return 0, 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for key in gone:
            conn.execute("DELETE FROM artifacts WHERE run_dir = ?", (key,))
            conn.execute("DELETE FROM runs WHERE run_dir = ?", (key,))
        for key in sorted(stale):
            try:
                _write_run(conn, key, Path(on_disk[key]), None, None)
            except (OSError, ValueError, KeyError):
                conn.execute("DELETE FROM artifacts WHERE run_dir = ?", (key,))
                conn.execute("DELETE FROM runs WHERE run_dir = ?", (key,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(stale), len(gone)


def _glob_prefix(pattern: str) -> str:
    cut = min((pattern.index(c) for c in GLOB_SPECIAL if c in pattern), default=len(pattern))
    return pattern[:cut]


COLUMNS = ("task", "run_id", "run_dir", "status", "path", "sha256", "bytes", "kind", "phase", "media_type")
"""The fields of one query row, in order."""
SELECT = {
    "task": "r.task",
    "run_id": "r.run_id",
    "run_dir": "r.run_dir",
    "status": "r.status",
    "path": "a.path",
    "sha256": "a.sha256",
    "bytes": "a.bytes",
    "kind": "a.kind",
    "phase": "a.phase",
    "media_type": "a.media_type",
}


def _where(run: str | None, path_glob: str | None, **equal: str | None) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("r.task", equal["task"]),
        ("a.phase", equal["phase"]),
        ("a.kind", equal["kind"]),
        ("r.status", equal["status"]),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if run is not None:
        where.append("r.run_dir = ?" if "/" in run else "r.run_id = ?")
        args.append(run.rstrip("/"))
    if path_glob:
        prefix = _glob_prefix(path_glob)
        if prefix:
            where.append("substr(a.path, 1, ?) = ?")
            args += [len(prefix), prefix]
    return (" WHERE " + " AND ".join(where) if where else ""), args


UPDATE_OBJ = (
    "UPDATE artifacts SET obj = (SELECT json_object("
    + ", ".join(f"'{name}', {SELECT[name].replace('a.', 'artifacts.')}" for name in COLUMNS)
    + ") FROM runs r WHERE r.run_dir = artifacts.run_dir) WHERE run_dir = ?"
)
"""Fills a run's `obj` column: the query's JSON object of each row, fields in COLUMNS order."""


def _select(
    repo: Path,
    what: str,
    *,
    task: str | None,
    run: str | None,
    phase: str | None,
    kind: str | None,
    status: str | None,
    path_glob: str | None,
) -> Iterator[tuple[Any, ...]]:
    """(path, run_dir, *what) rows matching every filter, in (run directory, path) order, as SQLite
    yields them.

    The runs table is joined only when a filter needs it: `what` may name run columns (`r.`) only then."""
    regex = glob_to_regex(path_glob) if path_glob else None
    where, args = _where(run, path_glob, task=task, phase=phase, kind=kind, status=status)
    join = " JOIN runs r ON r.run_dir = a.run_dir" if "r." in where or "r." in what else ""
    sql = f"SELECT a.path, a.run_dir, {what} FROM artifacts a{join}{where} ORDER BY a.run_dir, a.path"
    with connect(repo) as conn:
        sync(repo, conn)
        rows = conn.execute(sql, args)
        if regex is None:
            yield from rows
        else:
            yield from (row for row in rows if regex.fullmatch(row[0]))


def query(
    repo: Path,
    *,
    task: str | None = None,
    run: str | None = None,
    phase: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    path_glob: str | None = None,
) -> list[dict[str, Any]]:
    """Artifacts matching every given filter, sorted by run directory, then path (the table's key order).

    `run` is a run id or a run directory (relative to the repository); `path_glob` uses the
    scope glob syntax against run-relative paths (`logs/*.log`, `**/*.json`). Raises
    GlobError for a bad glob.
    """
    rows = _select(
        repo,
        ", ".join(SELECT.values()),
        task=task,
        run=run,
        phase=phase,
        kind=kind,
        status=status,
        path_glob=path_glob,
    )
    return [dict(zip(COLUMNS, row[2:], strict=True)) for row in rows]


def query_json(
    repo: Path,
    *,
    task: str | None = None,
    run: str | None = None,
    phase: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    path_glob: str | None = None,
) -> Iterator[str]:
    """The same rows as `query`, each a compact JSON object, as SQLite yields them: for streaming out.

    Each object was made by SQLite when its run was written (`obj`): a row reaches the caller
    without passing through Python code of ours (but the path glob's match)."""
    rows = _select(
        repo,
        "a.obj",
        task=task,
        run=run,
        phase=phase,
        kind=kind,
        status=status,
        path_glob=path_glob,
    )
    return map(itemgetter(2), rows)

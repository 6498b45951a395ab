"""`python -m orchestrator evidence query|verify`: the evidence of every run, from the command line.

query  lists artifacts across all runs (filters: task, run, phase, kind, run status, path glob).
verify re-hashes a run (or all of them) against its evidence index and attestation and
       names each changed, missing or unexpected file; exit 1 when anything differs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from orchestrator import textsafe
from orchestrator.evidence.index import KINDS, verify_run
from orchestrator.evidence.store import query, query_json, run_dirs
from orchestrator.globs import GlobError, glob_to_regex
from orchestrator.layout import INDEX, MANIFEST
from orchestrator.model import RunStatus
from orchestrator.phases import NAMES as PHASES

STATUSES = tuple(RunStatus)
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments by raising, so main() returns 2 instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _BadArgs(f"{self.prog}: {message}")


class _BadArgs(Exception):
    pass


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="python -m orchestrator evidence",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    q = sub.add_parser("query", help="list artifacts across all runs")
    q.add_argument("--task", help="task id")
    q.add_argument("--run", help="run id (e.g. 20250101T000000Z-abc123) or run directory")
    q.add_argument("--phase", choices=PHASES, help="phase that produced the artifact")
    q.add_argument("--kind", choices=KINDS, help="artifact kind")
    q.add_argument("--status", choices=STATUSES, help="the run's status")
    q.add_argument(
        "--path", dest="path_glob", metavar="GLOB", help="run-relative path glob, e.g. 'logs/*.log'"
    )
    q.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    v = sub.add_parser("verify", help="check runs against their evidence index and attestation")
    group = v.add_mutually_exclusive_group()
    group.add_argument(
        "--run", dest="run_dir", metavar="DIR", help="run directory (default: every run, as --all)"
    )
    group.add_argument("--all", action="store_true", help="every run under runs/")
    return top


def _resolve_run(repo: Path, arg: str) -> Path:
    for candidate in (Path(arg), repo / arg):
        if (candidate / MANIFEST).is_file() or (candidate / INDEX).is_file():
            return candidate.resolve()
    raise _BadArgs(f"--run {arg}: not a run directory (no manifest.json); pass runs/<task-id>/<run-id>")


def _shown(repo: Path, run_dir: Path) -> str:
    try:
        return os.path.relpath(run_dir, repo.resolve()).replace(os.sep, "/")
    except ValueError:
        return str(run_dir)


def cmd_verify(repo: Path, args: argparse.Namespace) -> int:
    if args.run_dir:
        targets = [_resolve_run(repo, args.run_dir)]
    else:
        root = repo / "runs"
        found = {Path(p) for p in run_dirs(repo).values()} | {
            p.parent for p in root.glob("*/*/manifest.json")
        }
        targets = sorted(p.resolve() for p in found)
        if not targets:
            print("no runs to verify under runs/", file=sys.stderr)
            return EXIT_OK
    bad = 0
    for run_dir in targets:
        shown = _shown(repo, run_dir)
        problems = verify_run(run_dir)
        if problems:
            bad += 1
            for problem in problems:
                state, _, rest = problem.partition(": ")
                print(f"{state}: {shown}/{rest}")
        else:
            print(f"ok: {shown}")
    if bad:
        print(f"{bad} of {len(targets)} run(s) differ from their evidence", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def write_json_array(objects: Iterable[str], out: TextIO) -> None:
    """A JSON array, one object a line, written as the objects come (the query is streamed)."""
    write, rest = out.write, iter(objects)
    for first in rest:
        write("[\n" + first)
        for obj in rest:
            write(",\n")
            write(obj)
        write("\n]\n")
        return
    write("[]\n")


HEADER = ("ARTIFACT", "STATUS", "PHASE", "KIND", "BYTES", "SHA256")


def table(rows: list[dict[str, Any]]) -> str:
    """The query result as aligned columns under a header row (one artifact a line)."""
    cells = [
        HEADER,
        *(
            (
                textsafe.terminal(f"{r['run_dir']}/{r['path']}"),
                r["status"],
                r["phase"] or "-",
                r["kind"],
                str(r["bytes"]),
                r["sha256"][:16],
            )
            for r in rows
        ),
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in cells
    )


def cmd_query(repo: Path, args: argparse.Namespace) -> int:
    run = args.run
    if run is not None and ("/" in run or os.sep in run):
        run = _shown(repo, _resolve_run(repo, run))
    filters = {
        "task": args.task,
        "run": run,
        "phase": args.phase,
        "kind": args.kind,
        "status": args.status,
        "path_glob": args.path_glob,
    }
    try:
        glob_to_regex(args.path_glob) if args.path_glob else None
    except GlobError as exc:
        raise _BadArgs(f"--path {args.path_glob!r} {exc}") from None
    if args.json:
        write_json_array(query_json(repo, **filters), sys.stdout)
        return EXIT_OK
    rows = query(repo, **filters)
    if not rows:
        print("no artifacts match", file=sys.stderr)
        return EXIT_OK
    print(table(rows))
    runs = len({r["run_dir"] for r in rows})
    print(f"{len(rows)} artifact(s) in {runs} run(s)", file=sys.stderr)
    return EXIT_OK


def main(repo: Path, argv: list[str]) -> int:
    """Entry point for `python -m orchestrator evidence ...`; returns the exit code."""
    try:
        args = parser().parse_args(argv)
        if args.command == "query":
            return cmd_query(repo, args)
        return cmd_verify(repo, args)
    except _BadArgs as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

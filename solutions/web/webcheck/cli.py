"""The two ways in: the plugin protocol (JSON on stdin) and a command line a person can run."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import options as options_mod
from . import runner, site
from .model import CheckName

PLUGIN_DIR = Path(__file__).resolve().parent.parent
BEGIN = "----- BEGIN plugin_result/v1 -----"
END = "----- END plugin_result/v1 -----"
EXIT_BAD_INPUT = 2
OUT_ENV = "ORCH_PLUGIN_OUT"


def version() -> str:
    return str(json.loads((PLUGIN_DIR / "plugin.json").read_text(encoding="utf-8"))["version"])


def bad(message: str) -> int:
    print(f"web: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def plugin_main(stdin: Any = None) -> int:
    """Reads plugin_request/v1, checks the pages, prints plugin_result/v1 between the markers.

    Artifacts (web/<page>.png, web.sarif) go to $ORCH_PLUGIN_OUT, or a directory under TMPDIR,
    and are listed in details.artifacts with paths relative to it.
    """
    try:
        request = json.load(stdin or sys.stdin)
    except json.JSONDecodeError as exc:
        return bad(f"stdin: line {exc.lineno} column {exc.colno}: not a plugin request: {exc.msg}")
    if not isinstance(request, dict) or request.get("schema") != "plugin_request/v1":
        return bad("stdin: not a plugin_request/v1 document")
    try:
        opts = options_mod.parse(request.get("options"))
    except options_mod.BadOptions as exc:
        return bad(f"task.yml plugin {exc}")
    workspace = Path.cwd()
    out_dir = Path(os.environ.get(OUT_ENV) or tempfile.mkdtemp(prefix="web-plugin-"))
    root = workspace / opts.root
    if not opts.serve and not root.is_dir():
        return bad(f"task.yml plugin options.root: {opts.root!r} is not a directory in the workspace")
    names = site.select_pages(
        opts, root, list(request.get("changed_files", [])), list(request.get("deleted_files", []))
    )
    pages = site.as_pages(opts, names)
    task = str(request.get("task", {}).get("id", "task"))
    try:
        outcomes = runner.run_checks(opts, workspace, PLUGIN_DIR, pages, out_dir)
    except site.SiteProblem as exc:
        return bad(str(exc))
    report = runner.build_report(opts, pages, outcomes, out_dir, version(), task)
    before = runner.base_findings(opts, workspace, PLUGIN_DIR, str(request.get("base") or ""), pages)
    print(runner.human(report), file=sys.stderr)
    print(f"artifacts in {out_dir}", file=sys.stderr)
    print(BEGIN)
    print(json.dumps(runner.result(report, version(), before), indent=1, sort_keys=True))
    print(END)
    return 0


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m solutions.web.check",
        description="Check a static site: HTML validity, links, accessibility, runtime.",
    )
    parser.add_argument("root", nargs="?", default="site", help="the site's directory (default: site)")
    parser.add_argument("--pages", nargs="+", help="pages under root to check (globs allowed); default: all")
    parser.add_argument("--checks", nargs="+", choices=[c.value for c in CheckName], help="default: all")
    parser.add_argument("--fail-on-impact", choices=["minor", "moderate", "serious", "critical"])
    parser.add_argument(
        "--external-host", action="append", dest="external_hosts", help="check links to this host"
    )
    parser.add_argument("--require-all", action="store_true", help="a check that cannot run fails")
    parser.add_argument("--out", type=Path, help="write screenshots (web/<page>.png) and web.sarif here")
    parser.add_argument("--json", action="store_true", help="print the plugin_result/v1 document")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when the site passes, 1 when a check failed, 2 on bad input."""
    args = arguments(argv)
    raw: dict[str, Any] = {"root": args.root}
    for key in ("pages", "checks", "fail_on_impact", "external_hosts"):
        if getattr(args, key):
            raw[key] = getattr(args, key)
    if args.out is None:
        if args.checks and CheckName.SCREENSHOTS in args.checks:
            return bad("--checks screenshots needs --out DIR (where the PNG files go)")
        raw["checks"] = [
            c for c in raw.get("checks", [c.value for c in CheckName]) if c != CheckName.SCREENSHOTS
        ]
    if args.require_all:
        raw["require_all"] = True
    try:
        opts = options_mod.parse(raw)
    except options_mod.BadOptions as exc:
        return bad(str(exc))
    workspace = Path.cwd()
    root = workspace / opts.root
    if not root.is_dir():
        return bad(f"{opts.root}: not a directory")
    pages = site.as_pages(opts, site.select_pages(opts, root, None))
    if args.pages and not pages:
        return bad(f"--pages: no page under {opts.root} matches {' '.join(args.pages)}")
    outcomes = runner.run_checks(opts, workspace, PLUGIN_DIR, pages, args.out)
    report = runner.build_report(opts, pages, outcomes, args.out, version(), "cli")
    print(
        json.dumps(runner.result(report, version()), indent=1, sort_keys=True)
        if args.json
        else runner.human(report)
    )
    return 0 if report.status == "passed" else 1

"""`python -m orchestrator <command>`: the engine without nox, for scripts and CI.

Every error a user can cause ends here as a message and a contract exit code
(0 ok, 1 run failed, 2 bad input, 3 refused or tripped), never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from orchestrator import PHASES
from orchestrator.config import find_repo, load_settings
from orchestrator.errors import EXIT_BAD_INPUT, BadInput, OrchestratorError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m orchestrator", description=__doc__.splitlines()[0])
    parser.add_argument("-C", "--repo", type=Path, default=None, help="repository root (default: found from cwd)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    p = sub.add_parser("validate", help="check task packs against taskpack/v1 (all packs when none named)")
    p.add_argument("refs", nargs="*", help="task ids or paths to task packs")
    p.add_argument("--run", dest="run_dir", default=None, help="record the validate phase in this run instead")
    p = sub.add_parser("new", help="scaffold a task pack that validates as written")
    p.add_argument("task_id")
    p = sub.add_parser("run", help="carry a task pack through every phase (a new run)")
    p.add_argument("task_id")
    p.add_argument("--push", action="store_true", help="push the task branch (same as ORCH_PUSH=1)")
    for name in PHASES[1:]:
        if name == "evidence":
            p = sub.add_parser(name, help="the evidence phase (<task-id> [--run DIR]), or `evidence query|verify`")
            p.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        p = _phase_arguments(sub.add_parser(name, help=f"run the {name} phase against a run (default: the latest)"))
        if name == "publish":
            p.add_argument("--push", action="store_true", help="push the task branch (same as ORCH_PUSH=1)")
    return parser


def _phase_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("task_id")
    parser.add_argument("--run", dest="run_dir", default=None, help="run directory (default: the latest run)")
    return parser


def dispatch(args: argparse.Namespace) -> int:
    repo = args.repo.resolve() if args.repo else find_repo()
    settings = load_settings(repo)
    if getattr(args, "push", False):
        settings = replace(settings, push=True)
    if args.command == "validate" and not args.run_dir:
        from orchestrator import validate

        return validate.main(repo, args.refs)
    if args.command == "new":
        from orchestrator.scaffold import new_task, next_steps

        new_task(repo, args.task_id, settings.default_executor)
        print(next_steps(args.task_id))
        return 0
    if args.command == "evidence":
        if args.rest[:1] in (["query"], ["verify"]):
            from orchestrator import evidence_cli

            return evidence_cli.main(repo, args.rest)
        phase = _phase_arguments(argparse.ArgumentParser(prog="python -m orchestrator evidence"))
        args = phase.parse_args(args.rest, namespace=args)
    from orchestrator import pipeline

    if args.command == "run":
        code, run = pipeline.run_all(settings, args.task_id)
    elif args.command == "validate":
        if len(args.refs) != 1:
            raise BadInput("validate --run takes exactly one task id")
        code, run = pipeline.run_phase(settings, "validate", args.refs[0], args.run_dir)
    else:
        code, run = pipeline.run_phase(settings, args.command, args.task_id, args.run_dir)
    print(pipeline.report(run))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return dispatch(args)
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

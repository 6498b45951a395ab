"""`python -m orchestrator <command>`: the engine without nox, for scripts and CI.

Every error a user can cause ends here as a message and a contract exit code
(0 ok, 1 run failed, 2 bad input, 3 refused or tripped), never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from orchestrator import __version__
from orchestrator.config import find_repo, load_settings
from orchestrator.errors import EXIT_BAD_INPUT, BadInput, OrchestratorError
from orchestrator.phases import NAMES as PHASES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m orchestrator", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-C", "--repo", type=Path, default=None, help="repository root (default: found from cwd)"
    )
    parser.add_argument("--version", action="version", version=f"orchestrator {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    p = sub.add_parser("validate", help="check task packs against taskpack/v1 (all packs when none named)")
    p.add_argument("refs", nargs="*", help="task ids or paths to task packs")
    p.add_argument(
        "--run", dest="run_dir", default=None, help="record the validate phase in this run instead"
    )
    p = sub.add_parser("new", help="scaffold a task pack that validates as written")
    p.add_argument("task_id")
    p = sub.add_parser(
        "run", help="carry task packs through every phase (a new run each; several at once with -j)"
    )
    p.add_argument("task_ids", nargs="*", metavar="task_id")
    p.add_argument("-j", "--jobs", type=int, default=None, help="run at most N packs at once (default: CPUs)")
    p.add_argument("--all", action="store_true", help="every task pack under taskpacks/")
    p.add_argument("--run-id", default=None, help=argparse.SUPPRESS)  # chosen by a control plane (mcp)
    p.add_argument("--started-by", default=None, help=argparse.SUPPRESS)
    p.add_argument("--push", action="store_true", help="push the task branch (same as ORCH_PUSH=1)")
    p = sub.add_parser("matrix", help="print the CI job matrix (JSON) for task ids, `all` or `changed`")
    p.add_argument("selectors", nargs="+", metavar="id|all|changed")
    p.add_argument(
        "--since", default="HEAD~1", help="for `changed`: the commit to compare with (default HEAD~1)"
    )
    p = sub.add_parser("outcomes", help="a Markdown table of each named pack's latest run (CI job summaries)")
    p.add_argument("task_ids", nargs="+", metavar="task_id")
    p = sub.add_parser("pr", help="open or update the draft pull request of a task branch (GITHUB_TOKEN)")
    p.add_argument("task_id")
    p = sub.add_parser("cache", help="the prepared-environment cache: `cache list`, `cache prune [--all]`")
    p.add_argument("action", choices=("list", "prune"))
    p.add_argument("--all", dest="everything", action="store_true", help="prune: remove every entry")
    p = sub.add_parser(
        "mcp", help="serve the control plane over MCP (stdio; --http HOST:PORT with ORCH_MCP_TOKEN)"
    )
    p.add_argument("--http", metavar="HOST:PORT", default=None, help="serve streamable HTTP instead of stdio")
    p = sub.add_parser("draft", help="ask a model for a draft task pack from an objective (OPENAI_API_KEY)")
    p.add_argument("objective")
    p.add_argument("--id", dest="task_id", default=None, help="the draft's task id (default: from the model)")
    p = sub.add_parser(
        "approve", help="commit a proposed or drafted task pack held in .orchestrator/proposals/"
    )
    p.add_argument("task_id")
    for name in PHASES[1:]:
        if name == "evidence":
            p = sub.add_parser(
                name, help="the evidence phase (<task-id> [--run DIR]), or `evidence query|verify`"
            )
            p.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        p = _phase_arguments(
            sub.add_parser(name, help=f"run the {name} phase against a run (default: the latest)")
        )
        if name == "publish":
            p.add_argument("--push", action="store_true", help="push the task branch (same as ORCH_PUSH=1)")
    return parser


def _phase_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("task_id")
    parser.add_argument("--run", dest="run_dir", default=None, help="run directory (default: the latest run)")
    return parser


def _run_ids(repo: Path, args: argparse.Namespace) -> list[str]:
    from orchestrator.taskpack import find_task_ids

    ids = list(dict.fromkeys([*args.task_ids, *(find_task_ids(repo) if args.all else [])]))
    if not ids:
        raise BadInput(
            "name the task packs to run (python -m orchestrator run <task-id>... [-j N]), or --all"
        )
    if args.jobs is not None and args.jobs < 1:
        raise BadInput(f"--jobs {args.jobs}: must be 1 or more")
    if args.run_id and len(ids) > 1:
        raise BadInput("--run-id names one run; give one task id with it")
    return ids


def dispatch(args: argparse.Namespace) -> int:
    repo = args.repo.resolve() if args.repo else find_repo()
    settings = load_settings(repo)
    if getattr(args, "push", False):
        settings = replace(settings, push=True)
    if args.command == "validate" and not args.run_dir:
        from orchestrator.phases import validate

        return validate.main(repo, args.refs)
    if args.command == "new":
        from orchestrator.scaffold import new_task, next_steps

        new_task(repo, args.task_id, settings.default_executor)
        print(next_steps(args.task_id))
        return 0
    if args.command == "matrix":
        from orchestrator import matrix

        return matrix.main(repo, args.selectors, args.since)
    if args.command == "outcomes":
        from orchestrator import matrix

        print(matrix.outcomes(settings, args.task_ids), end="")
        return 0
    if args.command == "pr":
        from orchestrator import github

        return github.main(settings, args.task_id)
    if args.command == "cache":
        from orchestrator import envcache

        return envcache.command(repo, settings.state_dir, args.action, args.everything)
    if args.command == "mcp":
        from orchestrator.mcpserver.server import serve

        return serve(repo, args.http, dict(os.environ))
    if args.command == "draft":
        from orchestrator.mcpserver.draft import draft_command

        return draft_command(repo, args.objective, args.task_id, dict(os.environ))
    if args.command == "approve":
        from orchestrator import gitops
        from orchestrator.mcpserver.proposals import approve

        who = gitops.identity(repo)["GIT_AUTHOR_NAME"]
        commit = approve(repo, args.task_id, who)
        print(
            f"committed taskpacks/{args.task_id}/ on {settings.base_branch} ({commit[:12]}); "
            f"run it with `nox -s run -- {args.task_id}`"
        )
        return 0
    if args.command == "evidence":
        if args.rest[:1] in (["query"], ["verify"]):
            from orchestrator.evidence import query as evidence_cli

            return evidence_cli.main(repo, args.rest)
        phase = _phase_arguments(argparse.ArgumentParser(prog="python -m orchestrator evidence"))
        args = phase.parse_args(args.rest, namespace=args)
    from orchestrator import pipeline

    if args.command == "run":
        ids = _run_ids(repo, args)
        if len(ids) > 1 or args.jobs or args.all:
            from orchestrator.parallel import run_many

            return run_many(settings, ids, args.jobs or os.cpu_count() or 1, push=settings.push)
        code, run = pipeline.run_all(settings, ids[0], run_id=args.run_id, started_by=args.started_by)
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

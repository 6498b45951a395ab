#!/usr/bin/env python3
# /// script
# requires-python = ">=3.11"
# dependencies = ["nox>=2025.2.9"]
# [tool.nox]
# script-venv-backend = "virtualenv"
# ///
"""Phases of a run as nox sessions; `nox -s run -- <task-id>` chains them.

Thin by design: every session is a call into `orchestrator` in nox's own
interpreter (venv_backend "none"), so no phase installs anything or starts a
second Python. Exit codes are the engine's (0, 1, 2, 3), not nox's.

One environment, however nox was started: when this file is loaded by a nox
outside the repository's `.venv` (`pipx install nox`, a system nox), it hands
over to `.venv/bin/nox` with the same arguments, so every session, and the
sandboxed commands of a run, see exactly the pinned tools of requirements.txt.
Without a `.venv`, the interpreter that loaded this file must have them itself
(CI installs requirements.txt and runs nox in place).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from dataclasses import replace
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
DELEGATED = "ORCH_NOX_DELEGATED"
"""Set on the hand-over to `.venv/bin/nox`, so it happens at most once."""


def _use_repo_venv() -> None:
    """Re-executes this nox invocation as `.venv/bin/nox` when another nox loaded the file."""
    repo_nox = VENV / "bin" / "nox"
    if os.environ.get(DELEGATED) or not repo_nox.exists():
        return
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, DELEGATED: "1", "NOX_SCRIPT_MODE": "none"}
    os.execve(repo_nox, [str(repo_nox), *sys.argv[1:]], env)


def _missing_requirements() -> list[str]:
    """The pins of requirements.txt this interpreter does not have."""
    missing = []
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.split("#", 1)[0].strip().partition("==")
        if not name:
            continue
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found = None
        if found != version:
            missing.append(f"{name}=={version}")
    return missing


def _require_environment() -> None:
    if missing := _missing_requirements():
        print(
            f"error: there is no .venv and this nox's Python ({sys.executable}) lacks "
            f"{', '.join(missing)}; run `make bootstrap` (creates .venv from requirements.txt), "
            "then any nox works",
            file=sys.stderr,
        )
        raise SystemExit(2)


_use_repo_venv()
_require_environment()
sys.path.insert(0, str(ROOT))

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = True

from orchestrator.phases import NAMES as PHASES  # noqa: E402 - the one phase table, after the path is set

RUN_FLAGS = ("--push", "--all")
"""Flags of `nox -s run --` besides task ids (and `-j N` / `--jobs N`)."""


def _requested_sessions(argv: list[str]) -> list[str]:
    """The sessions named on nox's own command line (`-s a b`, `--session a`, `-s=a`), before `--`.

    Read from this process's arguments, not from nox's internals: a phase session needs to know
    whether it runs alone or as a link of `nox -s run`."""
    argv = argv[: argv.index("--")] if "--" in argv else argv
    names, collecting = [], False
    for arg in argv[1:]:
        if arg in ("-s", "--session", "--sessions", "-e"):
            collecting = True
        elif arg.startswith(("-s=", "--session=", "--sessions=")):
            names.append(arg.split("=", 1)[1])
            collecting = True
        elif arg.startswith("-"):
            collecting = False
        elif collecting:
            names.append(arg)
    return [name for item in names for name in item.replace(",", " ").split()]


def _in_chain() -> bool:
    """True when this session runs as a link of `nox -s run` (posargs reach every session)."""
    return "run" in _requested_sessions(sys.argv)


def _run_args(posargs: list[str]) -> tuple[list[str], bool]:
    """(task ids, whether they go to the parallel runner) of
    `nox -s run -- <id>... [-j N] [--all] [--push]`."""
    ids, parallel, skip = [], False, False
    for arg in posargs:
        if skip:
            skip = False
        elif arg in ("-j", "--jobs"):
            parallel, skip = True, True
        elif arg.startswith(("-j", "--jobs=")) or arg == "--all":
            parallel = True
        elif arg not in RUN_FLAGS:
            ids.append(arg)
    return ids, parallel or len(ids) > 1


def _usage(session: nox.Session, text: str) -> None:
    """Bad arguments are bad input: exit 2, like the engine, not nox's generic 1."""
    session.log(f"usage: {text}")
    raise SystemExit(2)


def _finish(session: nox.Session, code: int) -> None:
    if code != 0:
        raise SystemExit(code)  # the contract exit code, not nox's generic 1


def _engine(session: nox.Session, *argv: str) -> None:
    from orchestrator.cli import main

    _finish(session, main(list(argv)))


def _phase(session: nox.Session, name: str) -> None:
    """One phase: alone, against the task's latest run (`--run` for another); in `nox -s run`, the
    chain's run: `validate` starts it, every later phase finds it on disk as the task's latest run."""
    from orchestrator import pipeline
    from orchestrator.cli import main
    from orchestrator.config import load_settings
    from orchestrator.errors import OrchestratorError

    args = list(session.posargs)
    if not _in_chain():
        _finish(session, main([name, *args]))
        return
    ids, parallel = _run_args(args)
    if parallel:
        return  # several packs: the `run` session hands them to the parallel runner
    if len(ids) != 1:
        _usage(session, "nox -s run -- <task-id>... [-j N] [--all] [--push]")
    try:
        settings = replace(load_settings(ROOT), push=True) if "--push" in args else load_settings(ROOT)
        code, run = pipeline.run_phase(settings, name, ids[0], new_run=name == PHASES[0], chain=True)
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    if code != 0 or name == PHASES[-1]:
        session.log(pipeline.report(run))
    _finish(session, code)


@nox.session(venv_backend="none", default=True)
def validate(session: nox.Session) -> None:
    """Check task packs against taskpack/v1: `nox -s validate [-- <task-id|path> ...]`."""
    if _in_chain():
        _phase(session, "validate")
    else:
        _engine(session, "validate", *session.posargs)


@nox.session(venv_backend="none", default=False)
def safety(session: nox.Session) -> None:
    """Decide before anything runs: policy, secrets, isolation, a clean tree."""
    _phase(session, "safety")


@nox.session(venv_backend="none", default=False)
def prepare(session: nox.Session) -> None:
    """Install the task's declared environment (environment.setup), or restore it from the cache."""
    _phase(session, "prepare")


@nox.session(venv_backend="none", default=False)
def execute(session: nox.Session) -> None:
    """The executor (shell, codex or command) does the work in the run's workspace."""
    _phase(session, "execute")


@nox.session(venv_backend="none", default=False)
def verify(session: nox.Session) -> None:
    """Run every acceptance check in the sandbox."""
    _phase(session, "verify")


@nox.session(venv_backend="none", default=False)
def plugin(session: nox.Session) -> None:
    """Run the solution plugin named by the task pack (ORCH_ENABLE_PLUGINS=1)."""
    _phase(session, "plugin")


@nox.session(venv_backend="none", default=False)
def review(session: nox.Session) -> None:
    """Deterministic review: review_report.json and REVIEW.md."""
    _phase(session, "review")


@nox.session(venv_backend="none", default=False)
def evidence(session: nox.Session) -> None:
    """Index every artifact of the run with its digest; write the attestation."""
    _phase(session, "evidence")


@nox.session(venv_backend="none", default=False)
def summarize(session: nox.Session) -> None:
    """Render SUMMARY.md from the manifest."""
    _phase(session, "summarize")


@nox.session(venv_backend="none", default=False)
def publish(session: nox.Session) -> None:
    """Commit the change and the evidence on the task branch (never the base branch)."""
    _phase(session, "publish")


@nox.session(venv_backend="none", default=False, requires=list(PHASES))
def run(session: nox.Session) -> None:
    """Carry task packs through every phase: `nox -s run -- <task-id>` (the chain of phase sessions),
    or several at once: `nox -s run -- <id> <id>... [-j N]`, `nox -s run -- --all`."""
    ids, parallel = _run_args(list(session.posargs))
    if parallel:
        _engine(session, "run", *session.posargs)
    elif len(ids) != 1:
        _usage(session, "nox -s run -- <task-id>... [-j N] [--all] [--push]")


@nox.session(venv_backend="none", default=False)
def new(session: nox.Session) -> None:
    """Scaffold a task pack that passes validate: `nox -s new -- <task-id>`."""
    if len(session.posargs) != 1:
        _usage(session, "nox -s new -- <task-id>")
    _engine(session, "new", *session.posargs)


@nox.session(venv_backend="none", default=False, name="evidence-query")
def evidence_query(session: nox.Session) -> None:
    """Query the evidence of every run: `nox -s evidence-query -- --task <id> --json`."""
    _engine(session, "evidence", "query", *session.posargs)


@nox.session(venv_backend="none", default=False, name="evidence-verify")
def evidence_verify(session: nox.Session) -> None:
    """Check that no artifact changed: `nox -s evidence-verify -- [--run DIR | --all]`."""
    _engine(session, "evidence", "verify", *session.posargs)


@nox.session(venv_backend="none", default=False)
def cache(session: nox.Session) -> None:
    """The prepared-environment cache: `nox -s cache -- prune [--all]`, `nox -s cache -- list`."""
    _engine(session, "cache", *session.posargs)


@nox.session(venv_backend="none", default=False)
def mcp(session: nox.Session) -> None:
    """Serve the control plane over MCP: stdio, or `-- --http HOST:PORT` with ORCH_MCP_TOKEN set."""
    _engine(session, "mcp", *session.posargs)


@nox.session(venv_backend="none", default=False)
def draft(session: nox.Session) -> None:
    """Draft a task pack from an objective with a model: `nox -s draft -- "<objective>"` (OPENAI_API_KEY)."""
    if not session.posargs:
        _usage(session, 'nox -s draft -- "<objective>" [--id <task-id>]')
    _engine(session, "draft", *session.posargs)


@nox.session(venv_backend="none", default=False)
def approve(session: nox.Session) -> None:
    """Commit a proposed or drafted task pack: `nox -s approve -- <task-id>`."""
    if len(session.posargs) != 1:
        _usage(session, "nox -s approve -- <task-id>")
    _engine(session, "approve", *session.posargs)


@nox.session(venv_backend="none", default=False)
def tests(session: nox.Session) -> None:
    """The engine's own test suite."""
    session.run(sys.executable, "-m", "pytest", *session.posargs, external=True)


@nox.session(venv_backend="none", default=False)
def lint(session: nox.Session) -> None:
    """The engine's bar: `ruff format --check`, `ruff check` and a strict `mypy` (see pyproject.toml)."""
    session.run(sys.executable, "-m", "ruff", "format", "--check", ".", external=True)
    session.run(sys.executable, "-m", "ruff", "check", ".", external=True)
    session.run(sys.executable, "-m", "mypy", external=True)


@nox.session(venv_backend="none", default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (figures, not pass/fail): run overhead, evidence throughput, queries."""
    session.run(sys.executable, "-m", "tools.bench", *session.posargs, external=True)


if __name__ == "__main__":
    nox.main()

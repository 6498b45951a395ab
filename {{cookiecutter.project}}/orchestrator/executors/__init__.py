"""Executors: the execution plane's ways of doing the work (shell, codex, command).

Each is a module that satisfies the `Executor` protocol, registered by kind in
`REGISTRY` (imported on first use, so a shell run never loads codex's model proxy).
The execute phase loops over attempts and feeds the last failure back as `feedback`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jinja2
from jinja2.exceptions import SecurityError

from orchestrator import controlplane, render
from orchestrator.errors import BadInput, Problem

if TYPE_CHECKING:
    from orchestrator.phaselog import PhaseLog
    from orchestrator.runs import Run


@dataclass
class AttemptResult:
    ok: bool
    reason: str = ""
    exit_code: int | None = 0
    breaker: str | None = None
    limit: float = 0
    measured: float = 0
    outputs: list[Path] = field(default_factory=list)
    failure_key: tuple[str, int | None, str] | None = None
    """(command, exit code, output digest) of the failure, for the repeated-failure breaker."""


class Executor(Protocol):
    """An executor: its version (recorded in the manifest) and one attempt at the task."""

    def version(self) -> str: ...

    def execute(self, run: Run, log: PhaseLog, attempt: int, feedback: str | None) -> AttemptResult: ...


def _shell() -> Executor:
    from orchestrator.executors import shell

    return shell


def _codex() -> Executor:
    from orchestrator.executors import codex

    return codex


def _command() -> Executor:
    from orchestrator.executors import command

    return command


REGISTRY: dict[str, Callable[[], Executor]] = {"shell": _shell, "codex": _codex, "command": _command}
"""Executor kinds (`executor.kind` of a task pack) and how to load each."""


def executor(kind: str) -> Executor:
    return REGISTRY[kind]()


FEEDBACK_CAP = 16 * 1024
"""Characters of failure output carried into a retry prompt (the tail: where errors are)."""


def render_prompt(run: Run, attempt: int, feedback: str | None) -> str:
    """The agent prompt: objective (or the pack's own prompt), scope, acceptance, constraints.

    The pack's `executor.prompt` is itself a template rendered with the pack as `task`,
    so a control plane can write `{{ task.objective }}`; it replaces the objective part
    only, so the constraints are always stated. A retry carries the failure output.
    """
    task = run.task
    data = task.data
    own = task.executor.get("prompt")
    objective = _render_pack_prompt(own, data, task.file) if own else str(data["objective"]).strip()
    context = {
        "task": data,
        "objective": objective.strip(),
        "scope": task.scope,
        "acceptance": task.acceptance,
        "network_hosts": task.network_hosts,
        "cloud_providers": task.cloud_providers,
        "limits": task.limits,
        "control_plane": controlplane.patterns(run.settings.policy.control_plane),
        "agents_md": (run.workspace / "AGENTS.md").is_file(),
        "context_files": list(data.get("context", [])),
        "attempt": attempt,
        "max_attempts": task.limits.get("max_attempts", 1),
        "feedback": (feedback or "")[-FEEDBACK_CAP:].strip(),
        "prepared": run.manifest.environment is not None
        and run.manifest.environment.cache in ("hit", "miss"),
    }
    return render.prompt("prompt.md.j2", context)


def _render_pack_prompt(source: str, data: dict[str, Any], file: Path) -> str:
    """Renders a pack's own prompt in a sandboxed Jinja environment: packs are data, not code."""
    line = _prompt_line(file)
    try:
        return render.pack_prompt(source, data)
    except jinja2.TemplateSyntaxError as exc:
        raise BadInput(
            "executor.prompt is not a valid Jinja template",
            [
                Problem(
                    str(file),
                    line,
                    1,
                    "executor.prompt",
                    f"line {exc.lineno} of the prompt: {exc.message}",
                    "fix the template syntax",
                )
            ],
        ) from None
    except (jinja2.UndefinedError, SecurityError) as exc:
        raise BadInput(
            "executor.prompt could not be rendered",
            [
                Problem(
                    str(file),
                    line,
                    1,
                    "executor.prompt",
                    str(exc),
                    "use only fields of the task pack, e.g. {{ task.objective }}",
                )
            ],
        ) from None


def _prompt_line(file: Path) -> int:
    """The line of `prompt:` in task.yml, so a template error points at the pack's own text."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    return next((n for n, text in enumerate(lines, 1) if text.lstrip().startswith("prompt:")), 1)

"""`new <task-id>`: a task pack that validates as written, with every field explained.

A person starts from a file that already passes `validate`, so the first error
they see is about their own edit, not about boilerplate they had to guess.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import yaml

from orchestrator.errors import BadInput, Problem
from orchestrator.executors import REGISTRY
from orchestrator.fsio import atomic_write_text
from orchestrator.taskpack import SLUG, TASK_FILE, TASKPACKS

EXECUTORS = tuple(REGISTRY)


class _Resolver(Protocol):
    """yaml's Resolver.resolve, typed (the PyYAML stubs leave it unannotated)."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str: ...


_RESOLVER: _Resolver = yaml.resolver.Resolver()

_HEAD = """\
# Task pack {id}: written by the control plane, read by the orchestrator.
# Reference: orchestrator/schemas/taskpack.v1.md. Check it: nox -s validate -- {id}
schema: taskpack/v1
id: {id}                     # must equal this directory's name
title: {title}
objective: |
  Say what must be true when this task is done, in words a reviewer can check.
  The acceptance checks below are the machine-checkable part of it.
solution: generic            # generic | security | web | game
"""

_EXECUTORS = {
    "shell": """\
executor:
  kind: shell                # shell | codex | command
  commands:                  # run in order from the workspace root; the first failure stops
    - python -c "print('replace these commands with the ones that make the change')"
""",
    "codex": """\
executor:
  kind: codex                # shell | codex | command
  # prompt: |                # optional Jinja template; the default prompt cites objective, scope, acceptance
  #   {{{{ task.objective }}}}
  # model: gpt-5.5           # optional: the model codex exec uses
""",
    "command": """\
executor:
  kind: command              # shell | codex | command
  argv: [my-agent, --prompt, "{{prompt}}"]   # any agent CLI; {{prompt}} receives the rendered prompt
  prompt_via: arg            # arg: substitute {{prompt}} in argv; stdin: pipe it in
""",
}

_TAIL = """\
scope:
  allowed_paths: ["src/**"]  # globs the change may touch; control-plane files are protected anyway
  forbidden_paths: []        # globs it must not touch even when allowed_paths matches
acceptance:                  # all must pass; each runs from the workspace root in the sandbox
  - id: objective-met        # replace: until you do, every run of this pack fails (fail closed)
    run: python -c "raise SystemExit('write an acceptance check that passes only when the objective is met')"
    expect_exit: 0           # the exit code that means pass
safety:
  network: {{hosts: []}}       # [] = no network; listed hosts only, through the egress proxy
  cloud: {{providers: []}}     # [] = no cloud mutations
  secrets: forbidden         # the only value v1 accepts
limits:                      # circuit breakers; omitted ones take the schema defaults
  wall_seconds: 600          # the whole run
  max_attempts: 1
  max_changed_files: 50
  max_diff_lines: 2000
  max_output_bytes: 1048576  # per process
# plugin: security           # optional: a solution under solutions/ (ORCH_ENABLE_PLUGINS runs it)
# context: []                # optional: repository-relative files the prompt may cite
"""


def render(task_id: str, executor: str) -> str:
    """The text of a fresh pack; a pure function so tests can check it without a repository."""
    title = task_id.replace("-", " ").capitalize()
    head = _HEAD.format(id=_plain(task_id), title=_plain(title))
    return head + _EXECUTORS[executor].format() + _TAIL.format()


def _plain(text: str) -> str:
    """`text` as YAML reads it back as the same string: quoted only when YAML would read a number or bool."""
    if _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str":
        return text
    return json.dumps(text)


def next_steps(task_id: str) -> str:
    """What the person does after `new`: a run starts only from a pack committed on the base branch."""
    path = f"{TASKPACKS}/{task_id}"
    return (
        f"created {path}/{TASK_FILE}; next:\n"
        f"  1. edit it: the objective, the executor, scope and acceptance\n"
        f"  2. validate it: nox -s validate -- {task_id}\n"
        f"  3. commit it: git add {path} && git commit -m 'task pack {task_id}'"
        f"  (a run refuses uncommitted changes)\n"
        f"  4. run it: nox -s run -- {task_id}"
    )


def new_task(repo: Path, task_id: str, default_executor: str) -> Path:
    """Writes taskpacks/<id>/task.yml; refuses a bad or existing id and an unknown executor."""
    if not SLUG.fullmatch(task_id):
        raise BadInput(
            f"cannot create task pack {task_id!r}",
            [
                Problem(
                    task_id,
                    1,
                    1,
                    "id",
                    f"{task_id!r} is not a valid task id",
                    "use lowercase letters, digits and '-', starting with a letter or digit, "
                    "at most 63 characters",
                )
            ],
        )
    if default_executor not in EXECUTORS:
        raise BadInput(
            f"cannot create task pack {task_id!r}",
            [
                Problem(
                    "pyproject.toml",
                    1,
                    1,
                    "tool.orchestrator.default_executor",
                    f"{default_executor!r} is not an executor kind",
                    f"use one of: {', '.join(EXECUTORS)}",
                )
            ],
        )
    directory = repo / TASKPACKS / task_id
    if directory.exists():
        raise BadInput(
            f"cannot create task pack {task_id!r}",
            [
                Problem(
                    f"{TASKPACKS}/{task_id}",
                    1,
                    1,
                    "id",
                    "a task pack with this id already exists",
                    "choose another id, or edit the existing pack",
                )
            ],
        )
    path = directory / TASK_FILE
    atomic_write_text(path, render(task_id, default_executor))
    return path

"""What the schema cannot say: ids, globs, context files, hosts, prompt templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.egress import host_problem
from orchestrator.environment import presets
from orchestrator.errors import Problem
from orchestrator.globs import GlobError, check_relative, glob_to_regex
from orchestrator.plugin_options import option_problems
from orchestrator.taskpack.marks import Document, Path_, field_path
from orchestrator.taskpack.model import SLUG, TASKPACKS


@dataclass
class _Found:
    """The located problems of one pack, as they are found."""

    doc: Document
    display: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, path: Path_, message: str, hint: str) -> None:
        line, column = self.doc.mark(path)
        self.problems.append(Problem(self.display, line, column, field_path(path), message, hint))


def _check_id(found: _Found, data: dict[str, Any], file: Path) -> None:
    task_id = data.get("id")
    if isinstance(task_id, str) and SLUG.match(task_id) and not SLUG.fullmatch(task_id):  # "id\n" passes `$`
        found.add(
            ("id",),
            f"{task_id!r} is not a slug (a line break or other character after it)",
            "use lowercase letters, digits and '-' only",
        )
    elif isinstance(task_id, str) and task_id != file.parent.name:
        found.add(
            ("id",),
            f"'{task_id}' differs from the pack's directory name '{file.parent.name}'",
            f"set id: {file.parent.name}, or rename the directory to {task_id}/",
        )


def _check_acceptance_ids(found: _Found, data: dict[str, Any]) -> None:
    acceptance = data.get("acceptance")
    if not isinstance(acceptance, list):
        return
    seen: dict[str, int] = {}
    for index, check in enumerate(acceptance):
        check_id = check.get("id") if isinstance(check, dict) else None
        if not isinstance(check_id, str):
            continue
        if check_id in seen:
            found.add(
                ("acceptance", index, "id"),
                f"duplicate acceptance id '{check_id}' (also acceptance[{seen[check_id]}])",
                "give every acceptance check its own id",
            )
        else:
            seen[check_id] = index


def _check_globs(found: _Found, data: dict[str, Any]) -> None:
    scope = data.get("scope")
    if not isinstance(scope, dict):
        return
    for name in ("allowed_paths", "forbidden_paths"):
        patterns = scope.get(name)
        if not isinstance(patterns, list):
            continue
        for index, pattern in enumerate(patterns):
            if not isinstance(pattern, str) or not pattern:
                continue
            try:
                glob_to_regex(pattern)
            except GlobError as exc:
                what, _, how = str(exc).partition("; ")
                found.add(("scope", name, index), f"glob {pattern!r} {what}", how or "fix the glob")


def _check_context(found: _Found, data: dict[str, Any], file: Path, root: Path) -> None:
    context = data.get("context")
    if not isinstance(context, list):
        return
    for index, entry in enumerate(context):
        if not isinstance(entry, str) or not entry:
            continue
        try:
            check_relative(entry)
        except GlobError as exc:
            what, _, how = str(exc).partition("; ")
            found.add(("context", index), f"path {entry!r} {what}", how or "fix the path")
            continue
        target = root / entry
        if not target.resolve().is_relative_to(root):
            found.add(
                ("context", index),
                f"path {entry!r} leads outside the repository (through a symlink)",
                "point to a file inside the repository",
            )
        elif not target.is_file():
            found.add(
                ("context", index),
                f"file {entry!r} does not exist",
                f"create it, or fix the path (context paths are relative to the repository root, "
                f"e.g. {TASKPACKS}/{file.parent.name}/notes.md)",
            )


def _check_hosts(found: _Found, data: dict[str, Any]) -> None:
    for section in ("safety", "environment"):
        block = data.get(section)
        network = block.get("network") if isinstance(block, dict) else None
        hosts = network.get("hosts") if isinstance(network, dict) else None
        for index, entry in enumerate(hosts if isinstance(hosts, list) else []):
            if not isinstance(entry, str):
                continue
            if entry.startswith("@"):
                if entry[1:] not in presets():
                    found.add(
                        (section, "network", "hosts", index),
                        f"unknown preset {entry!r}",
                        "use one of " + ", ".join(f"@{name}" for name in sorted(presets())),
                    )
            elif "/" not in entry and (why := host_problem(entry)):  # a URL already fails the schema
                found.add(
                    (section, "network", "hosts", index),
                    why,
                    "declare a host name (pypi.org), or an address as a canonical dotted quad "
                    "(127.0.0.1:8080)",
                )


def _check_executor(found: _Found, data: dict[str, Any]) -> None:
    executor = data.get("executor")
    if not isinstance(executor, dict):
        return
    prompt = executor.get("prompt")
    if isinstance(prompt, str) and ("{{" in prompt or "{%" in prompt):
        from jinja2 import Environment, TemplateSyntaxError

        try:
            Environment().parse(prompt)
        except TemplateSyntaxError as exc:
            found.add(
                ("executor", "prompt"),
                f"prompt template error on its line {exc.lineno}: {exc.message}",
                "fix the Jinja syntax ({{ task.objective }}, {% if ... %}...{% endif %})",
            )
    argv = executor.get("argv")
    if (
        executor.get("prompt_via") == "arg"
        and isinstance(argv, list)
        and not any(isinstance(a, str) and "{prompt}" in a for a in argv)
    ):
        found.add(
            ("executor", "prompt_via"),
            "is 'arg' but no argv entry contains {prompt}",
            "put {prompt} where the prompt belongs in argv, or use prompt_via: stdin",
        )


def semantic_problems(
    data: dict[str, Any], doc: Document, display: str, *, file: Path, repo: Path, root: Path
) -> list[Problem]:
    """Every problem of a schema-shaped pack that needs the repository or a second look to see.

    `root` is the resolved repository, inside which context files must stay.
    """
    found = _Found(doc, display)
    for path, message, hint in option_problems(repo, data):
        found.add(path, message, hint)
    _check_id(found, data, file)
    _check_acceptance_ids(found, data)
    _check_globs(found, data)
    _check_context(found, data, file, root)
    _check_hosts(found, data)
    _check_executor(found, data)
    return found.problems

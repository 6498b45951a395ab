"""Refuse answers that would bake a broken repository, before any file is worth keeping.

Cookiecutter renders this file with Jinja and runs it from a temporary copy, so the
answers arrive as JSON data (never pasted into code) and only the standard library
is used. Each refused answer is reported on one line; the exit code is 1, which makes
cookiecutter stop and delete the half-made project.
"""

from __future__ import annotations

import json
import keyword
import re
import shutil
import subprocess
import sys
from typing import Any

# Jinja's tojson escapes every ' as \u0027, so nothing an answer holds can close r'''...''' early.
ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')  # fmt: skip

SLUG = re.compile(r"[a-z_][a-z0-9_]*")
PYTHON_VERSION = re.compile(r"3\.(\d{1,3})")
MIN_PYTHON_MINOR = 11
TASK_BRANCH_PREFIX = "codex"


def has_control_chars(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def check_project_name(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "project_name: must not be empty (fix: give the repository a human name)"
    if has_control_chars(value):
        return "project_name: must be one line without control characters (fix: remove line breaks and tabs)"
    return None


def check_project(value: object) -> str | None:
    hint = "fix: answer project=<slug> with lowercase letters, digits and _, starting with a letter or _"
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        return f"project: {json.dumps(value)} is not a valid directory and Python package name ({hint})"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return f"project: {json.dumps(value)} is a Python keyword (fix: choose another name)"
    if len(value) > 100:
        return "project: longer than 100 characters (fix: choose a shorter name)"
    return None


def check_description(value: object) -> str | None:
    if not isinstance(value, str):
        return "description: must be text"
    if has_control_chars(value):
        return "description: must be one line without control characters (fix: remove line breaks and tabs)"
    return None


def check_base_branch(value: object) -> str | None:
    """Defer to git itself, plus the names git accepts here but that break task branches."""
    if not isinstance(value, str) or not value:
        return "base_branch: must not be empty (fix: answer base_branch=main)"
    shown = json.dumps(value)
    if value.startswith("-") or "@{" in value or value == "@":
        return f"base_branch: {shown} is not a valid branch name (fix: use a plain name such as main)"
    if value == TASK_BRANCH_PREFIX or value.startswith(TASK_BRANCH_PREFIX + "/"):
        return (
            f"base_branch: {shown} collides with the task branches {TASK_BRANCH_PREFIX}/<task-id> "
            "(fix: use another name, such as main)"
        )
    git = shutil.which("git")
    if git is None:
        return "git: not found on PATH (fix: install git; the generated repository is a git repository)"
    result = subprocess.run(
        [git, "check-ref-format", "--branch", value], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or result.stdout.strip() != value:
        return (
            f"base_branch: {shown} is refused by `git check-ref-format --branch` (fix: use a name like main)"
        )
    return None


def check_python_version(value: object) -> str | None:
    match = PYTHON_VERSION.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < MIN_PYTHON_MINOR:
        return (
            f"python_version: {json.dumps(value)} is not a Python version 3.{MIN_PYTHON_MINOR} or later "
            f"in X.Y form (fix: answer python_version=3.{MIN_PYTHON_MINOR})"
        )
    return None


def check_flag(name: str, value: object) -> str | None:
    if not isinstance(value, bool):
        return f"{name}: {json.dumps(value)} is not yes or no (fix: answer {name}=yes or {name}=no)"
    return None


def problems(answers: dict[str, Any]) -> list[str]:
    found = [
        check_project_name(answers.get("project_name")),
        check_project(answers.get("project")),
        check_description(answers.get("description")),
        check_base_branch(answers.get("base_branch")),
        check_python_version(answers.get("python_version")),
        check_flag("enable_plugins", answers.get("enable_plugins")),
        check_flag("plugins_strict", answers.get("plugins_strict")),
    ]
    return [p for p in found if p]


def main() -> int:
    found = problems(ANSWERS)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

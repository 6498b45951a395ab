"""Finish a baked repository: solutions, optional CI, the answers file, git history.

Cookiecutter renders this file with Jinja and runs it from a temporary copy with the
new repository as the working directory, so `__file__` says nothing about where the
template is. The template root comes from the `template_root` Jinja global that
local_extensions.py defines: it is absolute for a relative path, an absolute path, a
git URL (cookiecutter's clone) and pytest-cookies alike.

Only the standard library is used. Any failure ends with one line on stderr and
exit 1, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# Jinja's tojson escapes every ' as \u0027, so nothing an answer holds can close r'''...''' early.
ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')  # fmt: skip
TEMPLATE_ROOT = json.loads(r'''{{ template_root | tojson }}''')  # fmt: skip

FALLBACK_NAME = "Codex Orchestrator"
FALLBACK_EMAIL = "orchestrator@localhost"
COMMIT_MESSAGE = "Initial commit from the Codex Orchestrator template"
SPECIAL_SOLUTIONS = {"all", "none"}
CACHES = ("__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache")
EXAMPLE = "example"
CODEX_EXAMPLES = "_codex_examples"
# What cookiecutter itself treats as a repository URL, plus its abbreviations.
REPO_URL = re.compile(r"^(((git|hg)\+)?(git|ssh|file|https?):(//)?|\w+@[\w.]+|(gh|gl|bb):)")


class HookError(Exception):
    """A reason to stop, worded for the person who ran cookiecutter."""


def public_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers a person gave: private keys hold paths and template internals, not choices."""
    return {key: value for key, value in answers.items() if not key.startswith("_")}


def template_root() -> Path:
    root = Path(TEMPLATE_ROOT)
    if not root.is_absolute() or not (root / "cookiecutter.json").is_file():
        raise HookError(f"template root {root} is not an absolute path holding cookiecutter.json")
    return root


def chosen_solutions(root: Path, choice: str) -> list[Path]:
    available = root / "solutions"
    if choice == "none":
        return []
    if choice == "all":
        if not available.is_dir():
            return []
        return sorted(p for p in available.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    source = available / choice
    if not source.is_dir():
        raise HookError(f"solution {choice!r}: {source} does not exist in the template")
    return [source]


def copy_solutions(root: Path, choice: str, project: Path) -> None:
    """`solutions/<name>/` goes to the same place; its `example/` tree (sample code, example
    task packs) is laid over the repository root, and two solutions may not ship the same file."""
    for source in chosen_solutions(root, choice):
        ignore = shutil.ignore_patterns(*CACHES, "*.pyc", ".nox", ".venv", "node_modules", EXAMPLE)
        shutil.copytree(
            source, project / "solutions" / source.name, symlinks=True, ignore=ignore, dirs_exist_ok=True
        )
        example = source / EXAMPLE
        if example.is_dir():
            copy_example(example, project, source.name)


def copy_example(example: Path, project: Path, solution: str) -> None:
    for path in sorted(example.rglob("*")):
        if path.is_dir() or any(part in CACHES for part in path.parts) or path.suffix == ".pyc":
            continue
        target = project / path.relative_to(example)
        if target.exists():
            raise HookError(
                f"solution {solution!r}: example file {target.relative_to(project)} already exists"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target, follow_symlinks=False)


def place_codex_examples(project: Path, executor: str) -> None:
    """With `executor=codex` the codex example packs join taskpacks/; otherwise they are dropped."""
    source = project / CODEX_EXAMPLES
    if not source.is_dir():
        return
    if executor == "codex":
        shutil.copytree(source, project, dirs_exist_ok=True)
    shutil.rmtree(source)


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise HookError(f"git {args[0]} failed: {detail[-1] if detail else 'exit ' + str(result.returncode)}")
    return result


def template_source(root: Path, answers: dict[str, Any]) -> dict[str, Any] | None:
    """Where `cruft update` can fetch the template again: only for a template cloned from a URL."""
    template = str(answers.get("_template") or "")
    if not REPO_URL.match(template):
        return None
    url = git("remote", "get-url", "origin", cwd=root, check=False).stdout.strip()
    commit = git("rev-parse", "HEAD", cwd=root, check=False).stdout.strip()
    if not url or not commit:
        return None
    return {"template": url, "commit": commit, "checkout": answers.get("_checkout")}


def identity_overrides(cwd: Path) -> list[str]:
    """Fallback identity, only for the parts neither the environment nor git config provide."""
    overrides = []
    for key, env_names, fallback in (
        ("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"), FALLBACK_NAME),
        ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"), FALLBACK_EMAIL),
    ):
        configured = git("config", key, cwd=cwd, check=False).stdout.strip()
        if not configured and not all(os.environ.get(name) for name in env_names):
            overrides += ["-c", f"{key}={fallback}"]
    return overrides


def init_repository(project: Path, branch: str) -> None:
    if shutil.which("git") is None:
        raise HookError("git not found on PATH (install git, then bake again)")
    git("init", "-q", "-b", branch, cwd=project)
    git("add", "-A", cwd=project)
    git(*identity_overrides(project), "commit", "-q", "--no-verify", "-m", COMMIT_MESSAGE, cwd=project)


def drop_caches(project: Path) -> None:
    """Tool caches a developer's checkout may hold inside the template are not part of a repo."""
    for pattern in CACHES:
        for path in sorted(project.rglob(pattern), reverse=True):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def main() -> int:
    project = Path.cwd()
    root = template_root()
    drop_caches(project)
    copy_solutions(root, ANSWERS["solution"], project)
    shutil.copy2(
        root / "CHANGELOG.md", project / "CHANGELOG.md"
    )  # one changelog: template and engine share a version
    place_codex_examples(project, ANSWERS["executor"])
    if ANSWERS["ci"] == "none":
        shutil.rmtree(project / ".github", ignore_errors=True)
    answers = public_answers(ANSWERS)
    write_json(project / ".cookiecutter.json", {"cookiecutter": answers})
    # Without `_output_dir` the files are being regenerated directly (as `cruft update` does to
    # compute its diff): the history and the link to the template belong to the real repository.
    if "_output_dir" not in ANSWERS:
        return 0
    source = template_source(root, ANSWERS)
    if source is not None:
        context = {"cookiecutter": {**answers, "_template": source["template"]}}
        write_json(project / ".cruft.json", {**source, "context": context, "directory": None, "skip": []})
    init_repository(project, ANSWERS["base_branch"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (HookError, OSError, KeyError) as exc:
        print(f"error: post-generation failed: {exc}", file=sys.stderr)
        sys.exit(1)

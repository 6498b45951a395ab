"""Control-plane files: what the execution plane may never change, whatever a pack's scope says.

One list, used by the workspace guard, the review and the agent prompt. A path is
compared case-folded and NFC-normalised, so `Noxfile.py`, `.GITHUB/workflows/x.yml`,
`TASKPACKS/x/task.yml` and a decomposed-unicode spelling of a protected name are the
files they look like (on a case-insensitive checkout, or to a person reading the
diff). The repository adds its own entries in `[tool.orchestrator.policy]
control_plane = ["deploy/**"]`, checked like scope globs when settings are read.

Dependency manifests outside the control plane (a service's `requirements.txt` or
`package.json`) stay changeable within scope; the review lists them as dependency
changes, so a person looks at what a change pulls in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from orchestrator.globs import glob_to_regex, normalize

CONTROL_PLANE: tuple[str, ...] = (
    # the pack, the engine (and its own tests), the evidence and the orchestrator's state
    "taskpacks/**",
    "orchestrator/**",
    "solutions/**",
    "runs/**",
    ".orchestrator/**",
    # host tooling that decides the run: sessions, build, bootstrap installs, CI
    "noxfile.py",
    "pyproject.toml",
    "Makefile",
    "GNUmakefile",
    "makefile",
    "requirements*.txt",
    ".github/**",
    # what an acceptance test run loads: pytest plugins and configuration, at any depth
    "**/conftest.py",
    "**/pytest.ini",
    "**/.pytest.ini",
    "**/pytest.toml",
    "**/.pytest.toml",
    # What `python -m pytest` (or any `python -m`) run from the root would import instead of the real
    # thing: the current directory comes first on sys.path.
    "pytest.py",
    "py.py",
    "_pytest/**",
    "pluggy/**",
    "sitecustomize.py",
    "usercustomize.py",
    "**/tox.ini",
    "**/setup.cfg",
    # what git obeys when it checks out, diffs or publishes the tree
    "**/.gitignore",
    "**/.gitattributes",
    ".gitmodules",
    # instructions and configuration an agent reads on a later attempt
    "**/AGENTS*.md",
    "**/.codex/**",
)
"""Globs (repository-relative, compared case-folded) of files the execution plane may never change:
its own instructions, limits, acceptance, engine, CI, build and test configuration, and evidence."""

DEPENDENCY_MANIFESTS: tuple[str, ...] = (
    "**/requirements*.txt",
    "**/requirements*.in",
    "**/constraints*.txt",
    "**/pyproject.toml",
    "**/setup.py",
    "**/Pipfile",
    "**/Pipfile.lock",
    "**/poetry.lock",
    "**/uv.lock",
    "**/package.json",
    "**/package-lock.json",
    "**/npm-shrinkwrap.json",
    "**/yarn.lock",
    "**/pnpm-lock.yaml",
    "**/go.mod",
    "**/go.sum",
    "**/Cargo.toml",
    "**/Cargo.lock",
    "**/Gemfile",
    "**/Gemfile.lock",
    "**/pom.xml",
    "**/build.gradle",
    "**/build.gradle.kts",
    "**/composer.json",
    "**/composer.lock",
)
"""Files that declare what a project installs; a change to one (within scope) is listed by the review."""


def fold(path: str) -> str:
    """The comparison form of a path or pattern: POSIX separators, NFC, case-folded."""
    return unicodedata.normalize("NFC", normalize(path)).casefold()


@lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((pattern, glob_to_regex(fold(pattern))) for pattern in patterns)


def first_match(patterns: Iterable[str], path: str) -> str | None:
    """The first pattern (as written) matching `path` case-folded and NFC-normalised, else None."""
    folded = fold(path)
    for pattern, regex in _compiled(tuple(patterns)):
        if regex.fullmatch(folded) is not None:
            return pattern
    return None


def patterns(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The built-in list followed by the repository's additions (duplicates dropped)."""
    return tuple(dict.fromkeys((*CONTROL_PLANE, *extra)))


def is_control_plane(path: str, extra: Iterable[str] = ()) -> str | None:
    """The rule that makes `path` a control-plane file (built-in or repository addition), else None."""
    return first_match(patterns(extra), path)


def is_dependency_manifest(path: str) -> str | None:
    """The rule that makes `path` a dependency manifest, else None."""
    return first_match(DEPENDENCY_MANIFESTS, path)

"""A baked repository works as its users will use it: its own tests, its nox sessions, validate.

Everything runs with this interpreter (the .venv `make` bootstraps, which holds the
generated repository's pinned requirements too), so nothing is installed here.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest import describe, run

SESSIONS = (
    "validate",
    "safety",
    "execute",
    "verify",
    "plugin",
    "review",
    "evidence",
    "summarize",
    "publish",
    "run",
    "new",
)


def nox(repo: Path, *args: str, timeout: float = 300) -> object:
    return run([sys.executable, "-m", "nox", *args], cwd=repo, timeout=timeout)


@pytest.mark.slow
def test_generated_test_suite_passes(generated_repo: Path, tmp_path: Path) -> None:
    """The repository's own suite, as `make test` runs it there; ORCH_CODEX_BIN passes through."""
    repo = tmp_path / generated_repo.name
    shutil.copytree(generated_repo, repo, symlinks=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NOX_"))}
    result = run([sys.executable, "-m", "pytest", "-q", "-rs"], cwd=repo, env=environ, timeout=900)
    assert result.returncode == 0, describe(result)
    leftovers = run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo)
    assert leftovers.stdout == "", f"the suite left the tree dirty:\n{leftovers.stdout}"
    if environ.get("ORCH_CODEX_BIN"):
        skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
        assert not [line for line in skipped if "codex" in line.lower()], "\n".join(skipped)


def test_nox_lists_every_phase_session(generated_repo: Path) -> None:
    result = nox(generated_repo, "-l")
    assert result.returncode == 0, describe(result)
    listed = set(re.findall(r"^[*-] (\S+)", result.stdout, flags=re.MULTILINE))
    assert set(SESSIONS) <= listed, f"missing: {sorted(set(SESSIONS) - listed)}\n{result.stdout}"


def test_nox_validate_accepts_the_shipped_task_packs(generated_repo: Path) -> None:
    result = nox(generated_repo, "-s", "validate")
    assert result.returncode == 0, describe(result)


BROKEN_PACK = """\
schema: taskpack/v1
id: broken-limits
title: A pack whose limits are wrong
objective: |
  Nothing; the max_attempts field below is not a number.
solution: generic
executor:
  kind: shell
  commands:
    - "true"
scope:
  allowed_paths: ["src/**"]
acceptance:
  - id: nothing
    run: "true"
safety:
  network: {hosts: []}
  cloud: {providers: []}
  secrets: forbidden
limits:
  max_attempts: many
"""
BROKEN_LINE = BROKEN_PACK.splitlines().index("  max_attempts: many") + 1


@pytest.fixture
def repo_with_broken_pack(generated_repo: Path, tmp_path: Path) -> Path:
    repo = tmp_path / generated_repo.name
    shutil.copytree(generated_repo, repo, symlinks=True)
    pack = repo / "taskpacks" / "broken-limits"
    pack.mkdir()
    (pack / "task.yml").write_text(BROKEN_PACK, encoding="utf-8")
    return repo


@pytest.mark.parametrize("args", [(), ("--", "broken-limits")], ids=["all-packs", "named-pack"])
def test_nox_validate_locates_a_malformed_pack(repo_with_broken_pack: Path, args: tuple[str, ...]) -> None:
    result = nox(repo_with_broken_pack, "-s", "validate", *args)
    output = result.stdout + result.stderr
    assert result.returncode == 2, describe(result)
    assert f"task.yml:{BROKEN_LINE}" in output, describe(result)
    assert "max_attempts" in output
    assert "Traceback" not in output

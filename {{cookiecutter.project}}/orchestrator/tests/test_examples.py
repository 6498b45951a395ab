"""The example packs: add-slugify turns a failing check green;
broken-acceptance fails for its named reason."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GIT_ENV, ROOT, git
from orchestrator.globs import match_any
from orchestrator.taskpack import TaskPack, load_taskpack


def python_env() -> dict[str, str]:
    """`python` on PATH is the interpreter running the tests, as it is in the sandbox."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def sh(workspace: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        shlex.split(command),
        check=False,
        cwd=workspace,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def results(pack: TaskPack, workspace: Path) -> dict[str, bool]:
    return {c["id"]: sh(workspace, c["run"]).returncode == c["expect_exit"] for c in pack.acceptance}


def execute(pack: TaskPack, workspace: Path) -> None:
    for command in pack.executor["commands"]:
        proc = sh(workspace, command)
        assert proc.returncode == 0, proc.stderr


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A git copy of the app, its tests and the packs: what the executor's worktree holds."""
    dest = tmp_path / "ws"
    dest.mkdir()
    for part in ("src", "taskpacks", "pyproject.toml"):
        source = ROOT / part
        if source.is_dir():
            subprocess.run(["cp", "-r", str(source), str(dest / part)], check=True)
        else:
            (dest / part).write_bytes(source.read_bytes())
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "base")
    return dest


def test_add_slugify_acceptance_fails_before_its_change(workspace: Path) -> None:
    pack = load_taskpack(ROOT, "add-slugify")
    check = next(c for c in pack.acceptance if c["id"] == "slugify-tests")
    assert sh(workspace, check["run"]).returncode != check["expect_exit"]


def test_add_slugify_change_makes_every_acceptance_check_pass(workspace: Path) -> None:
    pack = load_taskpack(ROOT, "add-slugify")
    execute(pack, workspace)
    assert results(pack, workspace) == {"slugify-tests": True, "textkit-tests": True}


def test_broken_acceptance_fails_exactly_its_named_check(workspace: Path) -> None:
    pack = load_taskpack(ROOT, "broken-acceptance")
    assert "rejects-empty-input" in pack.title
    execute(pack, workspace)
    assert results(pack, workspace) == {"initials-basic": True, "rejects-empty-input": False}


@pytest.mark.parametrize("task_id", ["add-slugify", "broken-acceptance"])
def test_example_change_stays_inside_the_pack_scope(workspace: Path, task_id: str) -> None:
    pack = load_taskpack(ROOT, task_id)
    execute(pack, workspace)
    git(workspace, "add", "-A")
    changed = git(workspace, "diff", "--cached", "--name-only").split()
    assert changed
    assert all(match_any(pack.scope["allowed_paths"], path) for path in changed), changed


def test_example_packs_use_the_shell_executor_and_no_network() -> None:
    for task_id in ("add-slugify", "broken-acceptance"):
        pack = load_taskpack(ROOT, task_id)
        assert pack.executor["kind"] == "shell"
        assert pack.safety["network"]["hosts"] == [] and pack.safety["secrets"] == "forbidden"


def make_demo(repo: Path) -> subprocess.CompletedProcess[str]:
    """`make demo` with this interpreter's nox (bootstrap is taken as done: it would install)."""
    nox = Path(sys.executable).parent / "nox"
    if shutil.which("make") is None or not nox.exists():
        pytest.skip("make, or nox next to this interpreter, is not installed")
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(
        ["make", "-o", "bootstrap", "demo", f"NOX={nox}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_make_demo_succeeds_when_every_example_ends_as_it_is_meant_to(repo: Path) -> None:
    proc = make_demo(repo)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== add-slugify: exit 0, as expected" in proc.stdout
    assert "== broken-acceptance: exit 1, as expected" in proc.stdout
    assert git(repo, "status", "--porcelain") == ""


def test_make_demo_fails_when_the_runs_are_refused(repo: Path) -> None:
    (repo / "notes.txt").write_text("uncommitted work\n", encoding="utf-8")
    proc = make_demo(repo)
    assert proc.returncode != 0
    assert "did not end as expected: add-slugify broken-acceptance" in proc.stderr

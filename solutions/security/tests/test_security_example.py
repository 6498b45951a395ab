"""The shipped example: the attacks work against vulnapp as shipped and fail after the pack's fix.

Runs where the example is laid over the repository (a repository generated with the security solution).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from security_testkit import Repo, git, run_plugin

REPO = Path(__file__).resolve().parents[3]
PACK = REPO / "taskpacks" / "fix-sql-injection"
pytestmark = pytest.mark.skipif(
    not (PACK / "task.yml").is_file() or not (REPO / "src" / "vulnapp").is_dir(),
    reason="the security example is not laid over this repository",
)


@pytest.fixture
def app(tmp_path: Path) -> Repo:
    root = tmp_path / "ws"
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PACK, root / "taskpacks" / PACK.name)
    return Repo.create(root, {})


def exploits(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "src/tests/exploits.py"],
        cwd=root,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


def test_both_attacks_work_against_the_shipped_code(app: Repo) -> None:
    result = exploits(app.root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "exploit sql-injection: WORKED" in result.stdout
    assert "exploit yaml-code-execution: WORKED" in result.stdout


def test_the_fix_blocks_both_attacks_and_keeps_the_app_working(app: Repo) -> None:
    git(app.root, "apply", "taskpacks/fix-sql-injection/fix.patch")
    assert exploits(app.root).returncode == 0
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "src/tests/test_vulnapp.py"],
        cwd=app.root,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout


def test_the_plugin_sees_the_fix_resolve_the_findings(app: Repo, tmp_path: Path) -> None:
    git(app.root, "apply", "taskpacks/fix-sql-injection/fix.patch")
    run = run_plugin(app.request({"tools": ["sast"]}), tmp_path / "out")
    assert run.result["status"] == "passed"
    resolved = {(f["rule"], f["line"]) for f in run.result["details"]["resolved"]}
    assert {("semgrep/python-sql-string-formatting", 30), ("semgrep/python-yaml-unsafe-load", 36)} <= resolved

"""The documented upgrade path: a repository baked by cruft from an earlier template commit
takes the next one with `cruft update`, cleanly, and still works."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT, describe, git, run

CRUFT = shutil.which("cruft", path=str(Path(sys.executable).parent))
IDENTITY = {
    "GIT_AUTHOR_NAME": "Upgrader",
    "GIT_AUTHOR_EMAIL": "upgrader@localhost",
    "GIT_COMMITTER_NAME": "Upgrader",
    "GIT_COMMITTER_EMAIL": "upgrader@localhost",
}
NEW_NOTE = "Added by the next template commit."


@pytest.fixture
def template_history(tmp_path: Path) -> tuple[Path, str, str]:
    """A clone of this template: the previous commit, and a next commit on top of HEAD."""
    clone = tmp_path / "template"
    git(tmp_path, "clone", "-q", str(ROOT), str(clone))
    previous = git(clone, "rev-list", "--max-count=1", "--skip=1", "HEAD") or git(clone, "rev-parse", "HEAD")
    readme = clone / "{{cookiecutter.project}}" / "docs" / "upgrading.md"
    readme.write_text(f"# Upgrading\n\n{NEW_NOTE}\n", encoding="utf-8")
    git(clone, "add", "-A")
    git(
        clone,
        "-c",
        "user.name=T",
        "-c",
        "user.email=t@localhost",
        "commit",
        "-q",
        "-m",
        "Next template commit",
    )
    return clone, previous, git(clone, "rev-parse", "HEAD")


@pytest.mark.skipif(
    CRUFT is None, reason="cruft is not installed beside this interpreter (make bootstrap installs it)"
)
def test_a_repo_baked_from_the_previous_commit_updates_cleanly(
    template_history: tuple[Path, str, str], tmp_path: Path
) -> None:
    clone, previous, latest = template_history
    env = {**os.environ, **IDENTITY, "HOME": str(tmp_path)}
    out = tmp_path / "out"
    out.mkdir()
    created = run([CRUFT, "create", "--no-input", "--checkout", previous, str(clone)], out, env=env)
    assert created.returncode == 0, describe(created)
    repo = out / "orchestrated_repo"
    if not (
        repo / ".git"
    ).exists():  # cruft renders into a temporary directory; the hook's repository stays there
        git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=U",
        "-c",
        "user.email=u@localhost",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "baked",
    )

    updated = run([CRUFT, "update", "--skip-apply-ask", "-y", "--checkout", latest], repo, env=env)
    assert updated.returncode == 0, describe(updated)
    assert json.loads((repo / ".cruft.json").read_text(encoding="utf-8"))["commit"] == latest
    assert NEW_NOTE in (repo / "docs" / "upgrading.md").read_text(encoding="utf-8")
    leftovers = [p.name for p in repo.rglob("*") if p.suffix in {".rej", ".orig"}]
    assert not leftovers, f"the update left conflicts: {leftovers}"
    validate = run([sys.executable, "-m", "orchestrator", "validate"], repo)
    assert validate.returncode == 0, describe(validate)

"""One environment however nox was started: a nox installed outside the repository (pipx,
a system nox) gives the same run as `.venv/bin/nox`, because the noxfile hands over to it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import GIT_ENV, ROOT, manifest, runs_of

NOISE = "uv binary not found"


def pinned_nox() -> str:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return next(line.split("#")[0].strip() for line in lines if line.lower().startswith("nox=="))


@pytest.fixture(scope="session")
def global_nox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nox in a virtualenv of its own, as `pipx install nox` leaves it: none of the repo's tools."""
    venv = tmp_path_factory.mktemp("globalnox") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    proc = subprocess.run([*pip, pinned_nox()], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(
            f"cannot install {pinned_nox()} into a separate venv (no package index?): {proc.stderr[-300:]}"
        )
    return venv / "bin" / "nox"


def repo_venv() -> Path:
    """The environment running these tests: the repository's own `.venv` when run by `make test`."""
    prefix = Path(sys.prefix)
    if not (prefix / "bin" / "nox").exists():
        pytest.skip(f"nox is not installed in {prefix}, so it cannot stand in for the repository's .venv")
    return prefix


def nox_run(nox: Path | str, repo: Path, task: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in {**os.environ, **GIT_ENV}.items() if not k.startswith(("NOX_", "VIRTUAL_ENV"))}
    here = Path(sys.prefix) / "bin"
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != here)
    return subprocess.run(
        [str(nox), "-s", "run", "--", task],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_global_nox_runs_the_example_as_the_repo_nox_does(repo: Path, global_nox: Path) -> None:
    (repo / ".venv").symlink_to(repo_venv(), target_is_directory=True)
    outcomes = []
    for nox in (global_nox, repo / ".venv" / "bin" / "nox"):
        proc = nox_run(nox, repo, "add-slugify")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert NOISE not in proc.stdout + proc.stderr
        data = manifest(runs_of(repo, "add-slugify")[-1])
        outcomes.append((data["status"], [(c["id"], c["status"]) for c in data["acceptance"]]))
    assert (
        outcomes[0]
        == outcomes[1]
        == ("succeeded", [(c, "passed") for c in ("slugify-tests", "textkit-tests")])
    )
    assert not (repo / ".nox" / "_nox_script_mode").exists()
    assert (
        subprocess.run(
            ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
        == ""
    )


def test_a_global_nox_without_a_repo_venv_says_to_bootstrap(repo: Path, global_nox: Path) -> None:
    proc = nox_run(global_nox, repo, "add-slugify")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "make bootstrap" in proc.stderr and "pytest==" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (repo / "runs").exists()

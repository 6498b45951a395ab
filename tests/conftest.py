"""Shared facts and helpers: the template's answers come from cookiecutter.json, never from here.

Bakes go through cookiecutter's own API with a private config (no writes to the user's
~/.cookiecutters or replay dir) and a private git configuration, so what a test sees
does not depend on the machine's git identity or settings.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "{{cookiecutter.project}}"
COOKIECUTTER_JSON: dict = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
PUBLIC = {key: value for key, value in COOKIECUTTER_JSON.items() if not key.startswith("_")}
CHOICES: dict[str, list] = {key: value for key, value in PUBLIC.items() if isinstance(value, list)}
FLAGS: dict[str, bool] = {key: value for key, value in PUBLIC.items() if isinstance(value, bool)}
DEFAULTS: dict = {key: value[0] if isinstance(value, list) else value for key, value in PUBLIC.items()}
COPIED_RAW: list[str] = COOKIECUTTER_JSON.get("_copy_without_render", [])
FALLBACK_IDENTITY = "Codex Orchestrator <orchestrator@localhost>"
IDENTITY_VARIABLES = (
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "EMAIL",
)
NOT_PART_OF_TEMPLATE = {
    ".git",
    ".venv",
    ".tools",
    "build",
    ".nox",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
}


def copied_raw(relative: str) -> bool:
    """True for a generated path that cookiecutter copies without rendering (same rule it uses)."""
    return any(fnmatch.fnmatch(relative, pattern) for pattern in COPIED_RAW)


def template_solutions() -> list[str]:
    """The solution directories the template ships (what `solution=all` copies)."""
    return sorted(
        p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@contextlib.contextmanager
def hermetic_git(home: Path, environ: dict[str, str] | None = None) -> Iterator[None]:
    """No identity from the machine: an empty global git config, no identity variables."""
    home.mkdir(parents=True, exist_ok=True)
    global_config = home / "gitconfig"
    global_config.touch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for name in IDENTITY_VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in (environ or {}).items():
            patch.setenv(name, value)
        yield


def cookiecutter_config(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "cookiecutter.yaml"
    dirs = {"cookiecutters_dir": str(home / "templates"), "replay_dir": str(home / "replay")}
    config.write_text(json.dumps(dirs), encoding="utf-8")  # JSON is YAML
    return config


def bake(
    output_dir: Path,
    template: str | None = None,
    environ: dict[str, str] | None = None,
    **answers: object,
) -> Path:
    """Bake with cookiecutter's API, as `cookiecutter <template> --no-input key=value ...` would."""
    from cookiecutter.main import cookiecutter

    home = output_dir.parent / f".home-{output_dir.name}"
    with hermetic_git(home, environ):
        result = cookiecutter(
            template or str(ROOT),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            config_file=str(cookiecutter_config(home)),
        )
    return Path(result)


def generated_text_files(repo: Path) -> Iterator[tuple[str, str]]:
    """(relative path, text) of every text file in a baked repository, outside .git."""
    for path in sorted(repo.rglob("*")):
        relative = path.relative_to(repo).as_posix()
        if relative.split("/")[0] == ".git" or not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield relative, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def run(
    argv: list[str], cwd: Path, timeout: float = 600, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def python_tool(name: str) -> str | None:
    """A console script installed beside this interpreter (the .venv the Makefile bootstraps)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


@pytest.fixture(scope="session")
def generated_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repository baked with the default answers, shared by the tests that only read it."""
    return bake(tmp_path_factory.mktemp("generated") / "out")


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """The evidence to show when a process did not do what a test expected."""
    return (
        f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )

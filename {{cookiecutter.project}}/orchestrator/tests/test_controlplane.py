"""Control-plane files: the built-in list, case-folded NFC matching, and the repository's additions."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from orchestrator import controlplane, scope
from orchestrator.config import load_settings
from orchestrator.errors import BadInput

PROTECTED = [
    "GNUmakefile",
    "makefile",
    "Makefile",
    "requirements.txt",
    "requirements-dev.txt",
    "conftest.py",
    "src/conftest.py",
    "src/tests/deep/conftest.py",
    "pytest.ini",
    "src/.pytest.ini",
    "tox.ini",
    "setup.cfg",
    ".gitignore",
    "src/.gitignore",
    ".gitattributes",
    "src/tests/.gitattributes",
    ".gitmodules",
    "AGENTS.md",
    "AGENTS.override.md",
    "src/AGENTS.md",
    ".codex/config.toml",
    "src/.codex/prompts/x.md",
    "orchestrator/tests/test_x.py",
    "noxfile.py",
    "pyproject.toml",
    ".github/workflows/x.yml",
    "taskpacks/x/task.yml",
    "solutions/web/plugin.py",
    "runs/x/y/manifest.json",
]
CHANGEABLE = [
    "src/app.py",
    "src/requirements.txt",
    "services/api/requirements.txt",
    "site/package.json",
    "src/tests/test_app.py",
    "docs/agents.txt",
    "src/pyproject.toml",
    "README.md",
]


@pytest.mark.parametrize("path", PROTECTED)
def test_each_file_host_tooling_runs_or_reads_is_control_plane(path: str) -> None:
    assert controlplane.is_control_plane(path) is not None


@pytest.mark.parametrize(
    "path",
    [
        "Noxfile.py",
        "NOXFILE.PY",
        ".GITHUB/workflows/x.yml",
        "TASKPACKS/x/task.yml",
        "ORCHESTRATOR/review.py",
        "Conftest.py",
        "src/AGENTS.Override.MD",
        ".GitIgnore",
    ],
)
def test_matching_ignores_case(path: str) -> None:
    assert controlplane.is_control_plane(path) is not None


def test_matching_normalises_unicode_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "déploy/x.yml")
    assert decomposed != "déploy/x.yml"
    assert controlplane.is_control_plane(decomposed, ["déploy/**"]) == "déploy/**"


@pytest.mark.parametrize("path", CHANGEABLE)
def test_the_projects_own_code_and_manifests_stay_changeable(path: str) -> None:
    assert controlplane.is_control_plane(path) is None


def test_the_matched_rule_is_named() -> None:
    assert controlplane.is_control_plane("src/conftest.py") == "**/conftest.py"
    assert controlplane.is_control_plane("GNUmakefile") == "GNUmakefile"


@pytest.mark.parametrize(
    "path", ["services/api/requirements.txt", "site/package.json", "go.mod", "src/pyproject.toml"]
)
def test_dependency_manifests_are_recognised(path: str) -> None:
    assert controlplane.is_dependency_manifest(path) is not None


def test_the_guard_uses_the_repository_additions() -> None:
    control, outside, _ = scope.scope_violations(
        ["deploy/prod.yml", "src/a.py"], {"allowed_paths": ["**"]}, ("deploy/**",)
    )
    assert (control, outside) == (["deploy/prod.yml"], [])


def _repo(tmp_path: Path, policy: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.orchestrator.policy]\nallow_network = true\n{policy}\n")
    return tmp_path


def test_the_repository_adds_entries_in_its_policy(tmp_path: Path) -> None:
    settings = load_settings(_repo(tmp_path, 'control_plane = ["deploy/**", "**/secrets.yaml"]'), {})
    assert settings.policy.control_plane == ("deploy/**", "**/secrets.yaml")
    assert controlplane.is_control_plane("DEPLOY/prod.yml", settings.policy.control_plane) == "deploy/**"


@pytest.mark.parametrize("value", ['"deploy/**"', '["/etc/**"]', '["../x"]', "[1]"])
def test_a_bad_addition_is_bad_input_located_in_pyproject(tmp_path: Path, value: str) -> None:
    with pytest.raises(BadInput) as caught:
        load_settings(_repo(tmp_path, f"control_plane = {value}"), {})
    assert caught.value.exit_code == 2
    assert [(p.file, p.line) for p in caught.value.problems] == [("pyproject.toml", 3)]

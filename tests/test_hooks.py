"""The hooks: bad answers are refused with a reason, odd but valid answers survive intact."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, bake, cookiecutter_config, git, hermetic_git, run
from cookiecutter.exceptions import FailedHookException

REFUSED = [
    pytest.param({"project": "bad name!"}, "project", id="slug-with-space-and-bang"),
    pytest.param({"project": "1st_repo"}, "project", id="slug-starting-with-digit"),
    pytest.param({"project": "Repo"}, "project", id="slug-with-uppercase"),
    pytest.param({"project": "my-repo"}, "project", id="slug-with-dash"),
    pytest.param({"project": "class"}, "project", id="slug-is-keyword"),
    pytest.param({"project_name": "Ann's Repo!"}, "project", id="derived-slug-invalid"),
    pytest.param({"project_name": "   "}, "project_name", id="blank-name"),
    pytest.param({"project_name": "two\nlines"}, "project_name", id="name-with-newline"),
    pytest.param({"description": "first line\nsecond line"}, "description", id="description-with-newline"),
    pytest.param({"description": "tab\there"}, "description", id="description-with-tab"),
    pytest.param({"base_branch": "a..b"}, "base_branch", id="branch-with-dotdot"),
    pytest.param({"base_branch": "-main"}, "base_branch", id="branch-leading-dash"),
    pytest.param({"base_branch": "main.lock"}, "base_branch", id="branch-lock-suffix"),
    pytest.param({"base_branch": "has space"}, "base_branch", id="branch-with-space"),
    pytest.param({"base_branch": "@{-1}"}, "base_branch", id="branch-reflog-syntax"),
    pytest.param({"base_branch": ""}, "base_branch", id="branch-empty"),
    pytest.param({"base_branch": "codex"}, "base_branch", id="branch-shadows-task-branches"),
    pytest.param({"python_version": "3.10"}, "python_version", id="python-too-old"),
    pytest.param({"python_version": "3"}, "python_version", id="python-without-minor"),
    pytest.param({"python_version": "3.11.4"}, "python_version", id="python-with-patch"),
    pytest.param({"python_version": "py3.12"}, "python_version", id="python-with-prefix"),
]


@pytest.mark.parametrize(("answers", "field"), REFUSED)
def test_pre_gen_refuses_bad_answer(
    answers: dict, field: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(FailedHookException):
        bake(tmp_path / "out", **answers)
    err = capfd.readouterr().err
    assert f"error: {field}: " in err
    assert "Traceback" not in err
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir()), "a refused bake leaves no half-made repository"


def test_refusal_on_the_command_line_is_one_line_without_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with hermetic_git(home):
        result = run(
            [
                sys.executable, "-m", "cookiecutter", "--no-input", "--config-file",
                str(cookiecutter_config(home)), "-o", str(tmp_path / "out"), str(ROOT),
                "project=bad name!", "base_branch=a..b",
            ],
            cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(":")[1].strip() for line in errors] == ["project", "base_branch"]
    # cookiecutter logs its own FailedHookException; no frame may come from the hook itself.
    frames = [line for line in result.stderr.splitlines() if line.strip().startswith('File "')]
    assert all("/cookiecutter/" in frame for frame in frames), frames


def test_git_accepts_what_pre_gen_lets_through(tmp_path: Path) -> None:
    repo = bake(tmp_path / "out", base_branch="release/2026.1_x", solution="none")
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "release/2026.1_x"


ODD_TEXT = [
    pytest.param("single ''' triple quotes", id="triple-single-quotes"),
    pytest.param('double """ triple quotes', id="triple-double-quotes"),
    pytest.param(r"backslashes C:\new\table \u0041 \\", id="backslashes"),
    pytest.param("ends with a backslash \\", id="trailing-backslash"),
    pytest.param('it\'s "quoted" & <tagged>', id="quotes-and-markup"),
    pytest.param("Ünïcödé — ok ✓", id="unicode"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("description", ODD_TEXT)
def test_odd_description_survives_verbatim(description: str, tmp_path: Path) -> None:
    repo = bake(tmp_path / "out", description=description, solution="none", ci="none")
    kept = json.loads((repo / ".cookiecutter.json").read_text(encoding="utf-8"))["cookiecutter"]
    assert kept["description"] == description
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"] == description


def test_odd_project_name_survives_with_an_explicit_slug(tmp_path: Path) -> None:
    name = "O'Brien's \"Repo\" \\ ok"
    repo = bake(tmp_path / "out", project_name=name, project="obrien", solution="none")
    kept = json.loads((repo / ".cookiecutter.json").read_text(encoding="utf-8"))["cookiecutter"]
    assert (repo.name, kept["project_name"]) == ("obrien", name)
    assert (repo / "README.md").read_text(encoding="utf-8").startswith(f"# {name}\n")


def test_without_git_the_bake_is_refused_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    with pytest.raises(FailedHookException):
        bake(tmp_path / "out")
    assert "error: git: not found on PATH" in capfd.readouterr().err


def test_regenerating_without_cookiecutter_main_leaves_history_to_the_real_repository(tmp_path: Path) -> None:
    """What `cruft update` does to compute its diff: generate_files alone, so no git init there."""
    from cookiecutter.generate import generate_context, generate_files
    from cookiecutter.main import _patch_import_path_for_repo
    from cookiecutter.prompt import prompt_for_config

    context = generate_context(
        context_file=str(ROOT / "cookiecutter.json"), extra_context={"solution": "none"}
    )
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
    context["cookiecutter"]["_template"] = str(ROOT)
    with hermetic_git(tmp_path / "home"), _patch_import_path_for_repo(str(ROOT)):
        repo = Path(generate_files(repo_dir=str(ROOT), context=context, output_dir=str(tmp_path / "out")))
    assert (repo / ".cookiecutter.json").is_file()
    assert not (repo / ".git").exists()

"""Baking: every value of every choice gives the layout of DESIGN §3, fully rendered, in git.

One answer changes at a time from the defaults (choices and flags read from
cookiecutter.json), and each variant is baked once per module.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from conftest import (
    CHOICES,
    DEFAULTS,
    FALLBACK_IDENTITY,
    FLAGS,
    GENERATED,
    NOT_PART_OF_TEMPLATE,
    ROOT,
    bake,
    cookiecutter_config,
    copied_raw,
    generated_text_files,
    git,
    hermetic_git,
    template_solutions,
)


def variants() -> list:
    params = [pytest.param({}, id="defaults")]
    for key, values in CHOICES.items():
        params += [
            pytest.param({key: value}, id=f"{key}={value}") for value in values if value != DEFAULTS[key]
        ]
    for key, default in FLAGS.items():
        params.append(pytest.param({key: not default}, id=f"{key}={not default}"))
    params.append(pytest.param({"base_branch": "trunk/v1"}, id="base_branch=trunk/v1"))
    params.append(pytest.param({"python_version": "3.13"}, id="python_version=3.13"))
    return params


@pytest.fixture(scope="module", params=variants())
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    answers = {**DEFAULTS, **request.param}
    del answers["project"]  # derived from project_name, as a person answering Enter gets it
    repo = bake(tmp_path_factory.mktemp("bake") / "out", **request.param)
    return repo, answers


DESIGN_FILES = ("noxfile.py", "pyproject.toml", "Makefile", "README.md", "AGENTS.md", ".gitignore")
DESIGN_DIRS = (
    "orchestrator",
    "orchestrator/schemas",
    "orchestrator/templates",
    "orchestrator/tests",
    "taskpacks",
)
DESIGN_SCHEMAS = (
    "taskpack.v1.json",
    "manifest.v1.json",
    "review_report.v1.json",
    "evidence_index.v1.json",
    "plugin_result.v1.json",
)
UNRENDERED_VARIABLE = re.compile(r"\{\{-?\s*cookiecutter\b")
UNRENDERED_STATEMENT = re.compile(r"\{%-?\s*(if|elif|else|endif|for|endfor|raw|endraw|set)\b")


def test_layout_follows_the_design(baked: tuple[Path, dict]) -> None:
    repo, _ = baked
    missing = [name for name in DESIGN_FILES if not (repo / name).is_file()]
    missing += [name for name in DESIGN_DIRS if not (repo / name).is_dir()]
    missing += [
        f"orchestrator/schemas/{s}"
        for s in DESIGN_SCHEMAS
        if not (repo / "orchestrator/schemas" / s).is_file()
    ]
    assert not missing, f"missing from the baked repository: {missing}"


def test_repository_is_named_after_the_derived_slug(baked: tuple[Path, dict]) -> None:
    repo, answers = baked
    assert repo.name == answers["project_name"].lower().replace(" ", "_")


def test_no_template_syntax_survives(baked: tuple[Path, dict]) -> None:
    repo, _ = baked
    leftovers = []
    for relative, text in generated_text_files(repo):
        if UNRENDERED_VARIABLE.search(text):
            leftovers.append(f"{relative}: {{{{ cookiecutter")
        raw = copied_raw(relative) or relative.startswith("solutions/") or relative.endswith(".j2")
        if not raw and UNRENDERED_STATEMENT.search(text):
            leftovers.append(f"{relative}: {{%")
    assert not leftovers, leftovers


def test_answers_are_kept_for_replay(baked: tuple[Path, dict]) -> None:
    repo, answers = baked
    kept = json.loads((repo / ".cookiecutter.json").read_text(encoding="utf-8"))
    assert kept == {"cookiecutter": {**answers, "project": repo.name}}


def test_git_repository_on_base_branch_with_one_clean_commit(baked: tuple[Path, dict]) -> None:
    repo, answers = baked
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == answers["base_branch"]
    assert git(repo, "rev-list", "--count", "HEAD") == "1"
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_solutions_are_copied_per_choice(baked: tuple[Path, dict]) -> None:
    repo, answers = baked
    choice = answers["solution"]
    expected = {"all": template_solutions(), "none": []}.get(choice, [choice])
    present = sorted(p.name for p in (repo / "solutions").iterdir()) if (repo / "solutions").is_dir() else []
    assert present == expected
    for name in expected:
        source = ROOT / "solutions" / name
        shipped = sorted(
            p.relative_to(source).as_posix()
            for p in source.rglob("*")
            if p.is_file() and not NOT_PART_OF_TEMPLATE & set(p.relative_to(source).parts)
        )
        for relative in shipped:
            top, _, rest = relative.partition("/")
            # a solution's example/ tree is laid over the repository root, the rest goes to solutions/<name>/
            target = repo / rest if top == "example" else repo / "solutions" / name / relative
            assert target.read_bytes() == (source / relative).read_bytes()


def test_github_workflows_only_when_ci_is_github(baked: tuple[Path, dict]) -> None:
    repo, answers = baked
    workflows = sorted(p.name for p in (repo / ".github" / "workflows").glob("*.yml"))
    if answers["ci"] == "github":
        assert workflows, "ci=github bakes at least one workflow"
    else:
        assert not (repo / ".github").exists()


def test_files_copied_without_rendering_are_byte_identical(baked: tuple[Path, dict]) -> None:
    repo, _ = baked
    checked = 0
    for source in sorted(GENERATED.rglob("*")):
        relative = source.relative_to(GENERATED).as_posix()
        if not source.is_file() or NOT_PART_OF_TEMPLATE & set(source.relative_to(GENERATED).parts):
            continue
        if copied_raw(relative):
            assert (repo / relative).read_bytes() == source.read_bytes(), relative
            checked += 1
    assert (
        checked
        and (repo / "orchestrator" / "__init__.py").read_bytes()
        == (GENERATED / "orchestrator" / "__init__.py").read_bytes()
    )


def test_settings_follow_the_answers(baked: tuple[Path, dict]) -> None:
    repo, answers = baked
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    settings = pyproject["tool"]["orchestrator"]
    assert settings["base_branch"] == answers["base_branch"]
    assert settings["default_executor"] == answers["executor"]
    assert settings["enable_plugins"] is answers["enable_plugins"]
    assert settings["plugins_strict"] is answers["plugins_strict"]
    assert pyproject["project"]["requires-python"] == f">={answers['python_version']}"


def test_example_task_packs_ship(generated_repo: Path) -> None:
    packs = sorted(p.parent.name for p in (generated_repo / "taskpacks").glob("*/task.yml"))
    assert len(packs) >= 2, packs


# Where the template comes from: each way a user can name it.


def test_bakes_from_a_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT.parent)
    repo = bake(tmp_path / "with space", template=ROOT.name, solution="all")
    assert sorted(p.name for p in (repo / "solutions").iterdir()) == template_solutions()
    assert git(repo, "rev-list", "--count", "HEAD") == "1"


def test_bakes_from_an_absolute_path_into_a_relative_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = bake(Path("out"), template=str(ROOT), solution=CHOICES["solution"][1])
    assert (tmp_path / "out" / repo.name / "solutions" / CHOICES["solution"][1]).is_dir()


def committed_template(tmp_path: Path) -> tuple[str, str]:
    """This checkout's files as a bare git repository: (file:// URL, commit)."""
    work = tmp_path / "template-work"
    shutil.copytree(ROOT, work, ignore=lambda d, names: [n for n in names if n in NOT_PART_OF_TEMPLATE])
    with hermetic_git(tmp_path / "template-home"):
        for args in (["init", "-q", "-b", "main"], ["add", "-A"]):
            git(work, *args)
        git(work, "-c", "user.name=T", "-c", "user.email=t@localhost", "commit", "-q", "-m", "template")
        bare = tmp_path / "template.git"
        git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare.as_uri(), git(work, "rev-parse", "HEAD")


def test_bakes_from_a_git_url_and_links_it_for_cruft(tmp_path: Path) -> None:
    url, commit = committed_template(tmp_path)
    repo = bake(tmp_path / "out", template=url, solution=CHOICES["solution"][-2])
    assert (repo / "solutions" / CHOICES["solution"][-2]).is_dir()
    cruft = json.loads((repo / ".cruft.json").read_text(encoding="utf-8"))
    assert (cruft["template"], cruft["commit"]) == (url, commit)
    assert cruft["context"]["cookiecutter"]["project"] == repo.name
    assert git(repo, "status", "--porcelain") == ""


def test_local_bakes_carry_no_cruft_link(generated_repo: Path) -> None:
    assert not (generated_repo / ".cruft.json").exists()


def test_bakes_with_pytest_cookies(cookies, tmp_path: Path) -> None:
    with hermetic_git(tmp_path / "home"):
        result = cookies.bake(template=str(ROOT), extra_context={"project": "cookie_repo", "ci": "none"})
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    assert result.project_path.name == "cookie_repo"
    assert not (result.project_path / ".github").exists()
    assert git(result.project_path, "rev-list", "--count", "HEAD") == "1"


def test_replay_from_the_kept_answers_bakes_the_same_repository(generated_repo: Path, tmp_path: Path) -> None:
    from cookiecutter.main import cookiecutter

    with hermetic_git(tmp_path / "home"):
        again = Path(
            cookiecutter(
                str(ROOT),
                replay=str(generated_repo / ".cookiecutter.json"),
                output_dir=str(tmp_path / "out"),
                config_file=str(cookiecutter_config(tmp_path / "home")),
            )
        )
    assert (again / ".cookiecutter.json").read_bytes() == (generated_repo / ".cookiecutter.json").read_bytes()
    for name in ("pyproject.toml", "README.md", "AGENTS.md"):
        assert (again / name).read_bytes() == (generated_repo / name).read_bytes(), name


# Who the initial commit is by.


def test_initial_commit_falls_back_to_the_documented_identity(generated_repo: Path) -> None:
    assert (
        git(generated_repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>")
        == f"{FALLBACK_IDENTITY}|{FALLBACK_IDENTITY}"
    )


def test_initial_commit_takes_the_identity_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "GIT_AUTHOR_NAME": "Ada Author",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Cy Committer",
        "GIT_COMMITTER_EMAIL": "cy@example.com",
    }
    repo = bake(tmp_path / "out", environ=environ, solution="none")
    assert (
        git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>")
        == "Ada Author <ada@example.com>|Cy Committer <cy@example.com>"
    )


def test_initial_commit_takes_the_identity_from_git_config(tmp_path: Path) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Gia Config\n\temail = gia@example.com\n", encoding="utf-8")
    repo = bake(tmp_path / "out", environ={"GIT_CONFIG_GLOBAL": str(config)}, solution="none")
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "Gia Config <gia@example.com>"

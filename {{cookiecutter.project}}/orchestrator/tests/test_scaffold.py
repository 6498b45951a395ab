"""`new <task-id>`: a pack that validates as written, and refusals for ids that cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import orchestrator
from orchestrator.errors import BadInput
from orchestrator.scaffold import EXECUTORS, new_task, render
from orchestrator.taskpack import load_taskpack


@pytest.mark.parametrize("executor", EXECUTORS)
def test_new_pack_validates_as_written(tmp_path: Path, executor: str) -> None:
    path = new_task(tmp_path, "fresh-task", executor)
    assert path == tmp_path / "taskpacks" / "fresh-task" / "task.yml"
    pack = load_taskpack(tmp_path, "fresh-task")
    assert pack.executor["kind"] == executor


def test_new_pack_explains_its_fields_in_comments() -> None:
    text = render("explained", "shell")
    for field in ("schema:", "objective:", "executor:", "scope:", "acceptance:", "safety:", "limits:"):
        line = next(
            line for line in text.splitlines() if line.lstrip().startswith(field) or f"# {field}" in line
        )
        assert line
    assert text.count("#") >= 10


@pytest.mark.parametrize("task_id", ["123", "true", "0x1f", "null-check", "on"])
def test_ids_yaml_would_misread_are_quoted(tmp_path: Path, task_id: str) -> None:
    new_task(tmp_path, task_id, "shell")
    assert load_taskpack(tmp_path, task_id).id == task_id


def test_an_existing_id_is_refused_and_the_pack_is_untouched(tmp_path: Path) -> None:
    path = new_task(tmp_path, "taken", "shell")
    path.write_text(path.read_text(encoding="utf-8") + "# mine\n", encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(BadInput) as caught:
        new_task(tmp_path, "taken", "codex")
    assert caught.value.exit_code == 2 and "already exists" in str(caught.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize("task_id", ["Bad_Id", "-leading", "has space", "x" * 64, "", "../escape"])
def test_an_id_that_is_not_a_slug_is_refused(tmp_path: Path, task_id: str) -> None:
    with pytest.raises(BadInput) as caught:
        new_task(tmp_path, task_id, "shell")
    assert "not a valid task id" in str(caught.value)
    assert not (tmp_path / "taskpacks").exists()


def test_an_unknown_default_executor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        new_task(tmp_path, "fine", "bash")
    assert "default_executor" in str(caught.value)


def test_cli_new_creates_a_pack_that_cli_validate_accepts(repo: Path) -> None:
    made = orchestrator(repo, "new", "from-cli")
    assert made.returncode == 0, made.stderr
    checked = orchestrator(repo, "validate", "from-cli")
    assert checked.returncode == 0, checked.stderr


def test_cli_new_refuses_a_bad_id_with_exit_2(repo: Path) -> None:
    proc = orchestrator(repo, "new", "Not_A_Slug")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "not a valid task id" in proc.stderr


def test_cli_new_tells_the_user_to_edit_validate_and_commit(repo: Path) -> None:
    made = orchestrator(repo, "new", "told")
    assert made.returncode == 0, made.stderr
    steps = (
        "edit it",
        "nox -s validate -- told",
        "git add taskpacks/told && git commit",
        "nox -s run -- told",
    )
    for step in steps:
        assert step in made.stdout


def uncommented(text: str, marker: str) -> str:
    """The pack with the commented lines from `marker` on (as far as the indented block goes) uncommented."""
    lines, out, active = text.splitlines(), [], False
    for line in lines:
        if f"# {marker}" in line:
            active = True
        if active and line.lstrip().startswith("#"):
            indent = line[: len(line) - len(line.lstrip())]
            body = line.lstrip()[2:]
            out.append(indent + body.split("  #", 1)[0].rstrip())
            continue
        active = False
        out.append(line)
    return "\n".join(out) + "\n"


def test_the_codex_prompt_example_validates_and_renders_when_uncommented(repo: Path) -> None:
    from orchestrator.executors import _render_pack_prompt

    path = new_task(repo, "prompted", "codex")
    path.write_text(uncommented(path.read_text(encoding="utf-8"), "prompt:"), encoding="utf-8")
    checked = orchestrator(repo, "validate", "prompted")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    pack = load_taskpack(repo, "prompted")
    assert pack.executor["prompt"].strip() == "{{ task.objective }}"
    assert "Say what must be true" in _render_pack_prompt(pack.executor["prompt"], pack.data, pack.file)


def test_the_command_example_uses_the_prompt_placeholder_the_executor_substitutes() -> None:
    from orchestrator.executors.command import PLACEHOLDER

    text = render("agent", "command")
    assert f'"{PLACEHOLDER}"' in text and "{{" not in text

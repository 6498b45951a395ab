"""The generated GitHub Actions workflow: clean under actionlint, calling nox sessions only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import bake, describe, python_tool, run


@pytest.fixture(scope="module")
def workflows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    repo = bake(
        tmp_path_factory.mktemp("ci") / "out", ci="github", python_version="3.12", base_branch="trunk"
    )
    found = sorted((repo / ".github" / "workflows").glob("*.y*ml"))
    assert found, "ci=github bakes a workflow"
    return found


def actionlint() -> str:
    tool = python_tool("actionlint") or shutil.which("actionlint")
    if tool is None:
        pytest.fail("actionlint is not installed: it comes pinned in requirements.txt (run `make test`)")
    return tool


def test_workflows_pass_actionlint(workflows: list[Path]) -> None:
    result = run([actionlint(), "-no-color", *map(str, workflows)], cwd=workflows[0].parent)
    assert result.returncode == 0, describe(result)


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the bare key `on` as true
    return data


def steps_running(data: dict, text: str) -> list[dict]:
    return [
        step
        for job in data["jobs"].values()
        for step in job.get("steps", [])
        if text in str(step.get("run", ""))
    ]


def test_pull_requests_validate_every_task_pack(workflows: list[Path]) -> None:
    data = [load(p) for p in workflows]
    assert any("pull_request" in d["on"] and steps_running(d, "nox -s validate") for d in data)


def dispatched(workflows: list[Path]) -> dict:
    found = [d for d in map(load, workflows) if "workflow_dispatch" in (d["on"] or {})]
    assert found, "a workflow starts on workflow_dispatch"
    return found[0]


def test_manual_dispatch_plans_a_matrix_of_task_packs(workflows: list[Path]) -> None:
    data = dispatched(workflows)
    inputs = data["on"]["workflow_dispatch"]["inputs"]
    assert {"task_ids", "max_parallel", "push", "open_pr"} <= set(inputs)
    assert steps_running(data, "python -m orchestrator matrix")
    run_job = data["jobs"]["run"]
    assert run_job["strategy"]["fail-fast"] is False
    assert "matrix" in str(run_job["strategy"]["matrix"]) and "max_parallel" in str(
        run_job["strategy"]["max-parallel"]
    )
    steps = steps_running(data, "nox -s run --")
    assert steps, "the run job calls nox -s run -- <task_id>"
    # The input reaches the shell as a variable, never spliced into the script text.
    assert "${{" not in steps[0]["run"]


def test_the_run_job_can_write_nothing_and_keeps_no_credentials(workflows: list[Path]) -> None:
    data = dispatched(workflows)
    run_job = data["jobs"]["run"]
    assert run_job["permissions"] == {"contents": "read"}
    checkouts = [s for s in run_job["steps"] if str(s.get("uses", "")).startswith("actions/checkout")]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)
    keyed = [s for s in run_job["steps"] if "OPENAI_API_KEY" in str(s.get("env", {}))]
    assert len(keyed) == 1 and "matrix.executor == 'codex'" in keyed[0]["env"]["OPENAI_API_KEY"]


def test_only_the_publish_job_can_write_code_and_pull_requests(workflows: list[Path]) -> None:
    data = dispatched(workflows)
    writes = {
        name: sorted(k for k, v in (job.get("permissions") or {}).items() if v == "write")
        for name, job in data["jobs"].items()
    }
    assert {name: keys for name, keys in writes.items() if keys} == {
        "publish": ["contents", "pull-requests"],
        "code-scanning": ["security-events"],
    }
    assert data["jobs"]["publish"]["permissions"]["pull-requests"] == "write"
    assert data["permissions"] == {"contents": "read"}
    assert steps_running(data, "python -m orchestrator pr")


def test_python_version_and_base_branch_come_from_the_answers(workflows: list[Path]) -> None:
    data = load(workflows[0])
    versions = {
        step["with"]["python-version"]
        for job in data["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/setup-python")
    }
    assert versions == {"3.12"}
    assert data["env"]["BASE_BRANCH"] == "trunk"

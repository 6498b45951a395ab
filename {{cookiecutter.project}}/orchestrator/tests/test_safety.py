"""The safety phase's decisions and the workspace guard, on real repositories and worktrees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import git, write_pack
from orchestrator import controlplane, guard, scope, workspace
from orchestrator.config import load_settings
from orchestrator.errors import Refused
from orchestrator.phaselog import PhaseLog
from orchestrator.phases import safety
from orchestrator.pipeline import start_run
from orchestrator.redact import Redactor
from orchestrator.runs import Run


def new_run(repo: Path, task_id: str = "safe-task", env: dict[str, str] | None = None, **fields) -> Run:
    write_pack(repo, task_id, **fields)
    return start_run(load_settings(repo, env or {}), task_id)


def log_of(run: Run) -> PhaseLog:
    return PhaseLog(run.logs / "safety.log", Redactor())


def decisions(run: Run) -> dict[str, str]:
    return {d["id"]: d["decision"] for d in run.manifest.to_json()["safety"]["decisions"]}


def set_policy(repo: Path, **policy: bool) -> None:
    path = repo / "pyproject.toml"
    text = path.read_text()
    for key, value in policy.items():
        text = text.replace(f"{key} = true", f"{key} = {'true' if value else 'false'}")
    path.write_text(text)
    git(repo, "commit", "-qam", "policy")


def test_a_plain_pack_is_allowed_and_every_decision_recorded(repo: Path) -> None:
    run = new_run(repo)
    result = safety.run(run, log_of(run))
    assert result.status == "passed"
    assert decisions(run) == {
        "network": "allow",
        "cloud": "allow",
        "ceilings": "allow",
        "secrets": "allow",
        "isolation": "allow",
        "worktree": "allow",
    }
    assert "worktree: allow" in (run.logs / "safety.log").read_text()


def test_network_is_refused_when_the_repository_forbids_it(repo: Path) -> None:
    set_policy(repo, allow_network=False)
    run = new_run(repo, safety={"network": {"hosts": ["pypi.org"]}})
    with pytest.raises(Refused, match="allow_network = false"):
        safety.run(run, log_of(run))
    assert decisions(run)["network"] == "refuse"


def test_cloud_is_refused_when_the_repository_forbids_it(repo: Path) -> None:
    set_policy(repo, allow_cloud=False)
    run = new_run(repo, safety={"cloud": {"providers": ["aws"]}})
    with pytest.raises(Refused, match="allow_cloud = false"):
        safety.run(run, log_of(run))
    assert decisions(run)["cloud"] == "refuse"


def test_declared_network_is_allowed_when_policy_permits(repo: Path) -> None:
    run = new_run(repo, safety={"network": {"hosts": ["pypi.org"]}})
    safety.run(run, log_of(run))
    entry = next(d for d in run.manifest.to_json()["safety"]["decisions"] if d["id"] == "network")
    assert entry["decision"] == "allow" and "pypi.org" in entry["reason"]


def test_a_secret_in_the_task_pack_is_refused_without_repeating_it(repo: Path) -> None:
    token = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0" + "A1s2D3f4G5h6J7k8"
    run = new_run(repo, objective=f"Use the token {token} to deploy.")
    with pytest.raises(Refused, match="looks like a secret") as caught:
        safety.run(run, log_of(run))
    assert token not in str(caught.value)
    assert decisions(run)["secrets"] == "refuse"


def test_a_secret_in_a_context_file_is_refused(repo: Path) -> None:
    notes = repo / "ctx" / "notes.md"
    notes.parent.mkdir()
    notes.write_text("deploy with AKIAIOSFODNN7EXAMPLE\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "notes")
    run = new_run(repo, context=["ctx/notes.md"])
    with pytest.raises(Refused, match=r"ctx/notes\.md:1"):
        safety.run(run, log_of(run))


def test_missing_isolation_is_refused_with_the_override_named(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        safety, "isolation_available", lambda: (False, "no user namespaces; set ORCH_UNSAFE_NO_ISOLATION=1")
    )
    run = new_run(repo)
    with pytest.raises(Refused, match="ORCH_UNSAFE_NO_ISOLATION=1"):
        safety.run(run, log_of(run))
    assert decisions(run)["isolation"] == "refuse"


def test_the_unsafe_override_is_recorded_as_unsafe(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "isolation_available", lambda: (False, "no user namespaces"))
    run = new_run(repo, env={"ORCH_UNSAFE_NO_ISOLATION": "1"})
    result = safety.run(run, log_of(run))
    assert result.status == "warning" and "UNSAFE" in result.reason
    assert decisions(run)["isolation"] == "unsafe"
    assert run.manifest.to_json()["unsafe"] is True


def test_a_dirty_working_tree_is_refused_with_what_to_do(repo: Path) -> None:
    run = new_run(repo)
    (repo / "stray.txt").write_text("uncommitted\n")
    with pytest.raises(Refused, match="commit or stash") as caught:
        safety.run(run, log_of(run))
    assert caught.value.exit_code == 3
    assert "stray.txt" in str(caught.value)


def test_runs_and_state_directories_do_not_make_the_tree_dirty(repo: Path) -> None:
    run = new_run(repo)
    (repo / ".orchestrator" / "leftover").mkdir(parents=True)
    safety.run(run, log_of(run))
    assert decisions(run)["worktree"] == "allow"


# --- the workspace guard ----------------------------------------------------------------


@pytest.fixture
def guarded(repo: Path) -> Run:
    """A run past the safety phase, with its worktree created, scoped to src/**."""
    run = new_run(repo, scope={"allowed_paths": ["src/**", "tests/**"], "forbidden_paths": ["src/secret/**"]})
    safety.run(run, log_of(run))
    workspace.create(run)
    return run


def test_an_in_scope_change_passes_the_guard(guarded: Run) -> None:
    (guarded.workspace / "src").mkdir(exist_ok=True)
    (guarded.workspace / "src" / "new.py").write_text("x = 1\n")
    scope.check_workspace(guarded)


@pytest.mark.parametrize(
    "path",
    [
        "noxfile.py",
        "taskpacks/safe-task/task.yml",
        "orchestrator/sandbox.py",
        ".github/workflows/x.yml",
        "AGENTS.md",
        "pyproject.toml",
    ],
)
def test_touching_a_control_plane_file_is_refused(guarded: Run, path: str) -> None:
    target = guarded.workspace / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("changed by the execution plane\n")
    with pytest.raises(Refused, match="control-plane"):
        scope.check_workspace(guarded)
    assert decisions(guarded)["workspace.control-plane"] == "deny"


def test_a_change_outside_the_allowed_paths_is_refused(guarded: Run) -> None:
    (guarded.workspace / "README.extra").write_text("x\n")
    with pytest.raises(Refused, match=r"outside scope\.allowed_paths: README\.extra"):
        scope.check_workspace(guarded)


def test_after_verify_build_files_pass_but_an_escaping_symlink_does_not(guarded: Run) -> None:
    (guarded.workspace / "coverage.xml").write_text("<coverage/>\n")
    scope.check_workspace(guarded, scope=False)
    os.symlink("/etc/shadow", guarded.workspace / "shadow")
    with pytest.raises(Refused, match="symlinks out"):
        scope.check_workspace(guarded, scope=False)


def test_a_change_in_a_forbidden_path_is_refused(guarded: Run) -> None:
    (guarded.workspace / "src" / "secret").mkdir(parents=True)
    (guarded.workspace / "src" / "secret" / "k.py").write_text("x\n")
    with pytest.raises(Refused, match=r"forbidden_paths.*: src/secret/k\.py"):
        scope.check_workspace(guarded)


def test_a_symlink_out_of_the_workspace_is_refused(guarded: Run) -> None:
    (guarded.workspace / "src").mkdir(exist_ok=True)
    os.symlink("/etc/passwd", guarded.workspace / "src" / "leak")
    with pytest.raises(Refused, match="symlinks out of the workspace: src/leak -> /etc/passwd"):
        scope.check_workspace(guarded)


def test_a_replaced_workspace_git_is_refused_before_git_runs_there(guarded: Run) -> None:
    dot_git = guarded.workspace / ".git"
    dot_git.unlink()
    (dot_git / "hooks").mkdir(parents=True)
    (dot_git / "config").write_text("[core]\n\tfsmonitor = touch /tmp/pwned\n")
    with pytest.raises(Refused, match="replaced by a directory"):
        scope.check_workspace(guarded)


def test_a_git_hook_planted_during_a_guarded_phase_is_refused_by_name(guarded: Run) -> None:
    hook = guarded.repo / ".git" / "hooks" / "pre-commit"
    with pytest.raises(Refused, match=r"\.git/hooks:pre-commit \(created\)"), guard.watch(guarded, "execute"):
        hook.write_text("#!/bin/sh\necho pwned\n")
        hook.chmod(0o755)


def test_the_guard_list_is_the_one_prompts_name() -> None:
    assert {
        "taskpacks/**",
        "orchestrator/**",
        "noxfile.py",
        ".github/**",
        "**/AGENTS*.md",
        "solutions/**",
    } <= set(controlplane.CONTROL_PLANE)

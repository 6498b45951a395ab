"""The pipeline end to end with the shell executor: run, manifest, logs, summary, branch."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import GIT_ENV, base_branch, git, manifest, orchestrator, runs_of, write_pack

FIX = "printf 'def double(x):\\n    return 2 * x\\n' > calc.py"
CHECK = {"id": "doubles", "run": "python -c 'import calc; assert calc.double(2) == 4'"}


def test_a_passing_pack_succeeds_and_lands_on_its_task_branch(repo: Path, run_pack) -> None:
    proc, data, run_dir = run_pack(
        "double", executor={"kind": "shell", "commands": [FIX]}, acceptance=[CHECK]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert data["status"] == "succeeded"
    assert all(data["phases"][p]["status"] in ("passed", "skipped") for p in data["phases"])
    assert (run_dir / "SUMMARY.md").read_text().startswith("# ✅ SUCCEEDED")
    assert git(repo, "log", "-1", "--format=%s", base_branch()).strip() == "add pack double"
    files = git(repo, "ls-tree", "-r", "--name-only", "codex/double").split()
    assert "calc.py" in files
    assert f"runs/double/{run_dir.name}/SUMMARY.md" in files
    assert data["git"]["head"] == git(repo, "rev-parse", "codex/double~1").strip()


def test_the_evidence_committed_on_the_task_branch_verifies_on_its_own(
    repo: Path, run_pack, tmp_path: Path
) -> None:
    _, _, run_dir = run_pack("double", executor={"kind": "shell", "commands": [FIX]}, acceptance=[CHECK])
    checkout = tmp_path / "branch"
    git(repo, "worktree", "add", "-q", "--detach", str(checkout), "codex/double")
    committed = checkout / run_dir.relative_to(repo)
    proc = orchestrator(checkout, "evidence", "verify", "--run", str(committed))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert orchestrator(repo, "evidence", "verify", "--run", str(run_dir)).returncode == 0


def test_the_base_branch_and_checkout_are_untouched(repo: Path, run_pack) -> None:
    run_pack("double", executor={"kind": "shell", "commands": [FIX]}, acceptance=[CHECK])
    assert not (repo / "calc.py").exists()
    assert git(repo, "status", "--porcelain") == ""
    assert "calc.py" not in git(repo, "ls-tree", "-r", "--name-only", base_branch())


def test_failing_acceptance_fails_the_run_and_names_the_check(repo: Path, run_pack) -> None:
    proc, data, run_dir = run_pack(
        "wrong",
        executor={"kind": "shell", "commands": ["echo 'def double(x): return x' > calc.py"]},
        acceptance=[CHECK, {"id": "exists", "run": "test -f calc.py"}],
    )
    assert proc.returncode == 1
    assert data["status"] == "failed"
    assert "doubles" in data["reason"]
    assert [(a["id"], a["status"]) for a in data["acceptance"]] == [
        ("doubles", "failed"),
        ("exists", "passed"),
    ]
    summary = (run_dir / "SUMMARY.md").read_text()
    assert summary.startswith("# ❌ FAILED") and "`doubles` | ❌ failed" in summary
    assert data["phases"]["plugin"]["status"] == "skipped"
    assert data["phases"]["summarize"]["status"] == "passed"


def test_a_failed_run_publishes_its_evidence_but_not_its_change(repo: Path, run_pack) -> None:
    _, _, run_dir = run_pack(
        "wrong", executor={"kind": "shell", "commands": ["echo broken > calc.py"]}, acceptance=[CHECK]
    )
    files = git(repo, "ls-tree", "-r", "--name-only", "codex/wrong").split()
    assert f"runs/wrong/{run_dir.name}/manifest.json" in files
    assert "calc.py" not in files


def test_a_retry_feeds_the_failure_back_and_then_succeeds(repo: Path, run_pack) -> None:
    command = (
        f'if [ "$ORCH_ATTEMPT" -ge 2 ] && [ -n "$ORCH_FEEDBACK" ]; then {FIX}; '
        'else echo "def double(x): return x" > calc.py; fi'
    )
    proc, data, run_dir = run_pack(
        "retry",
        executor={"kind": "shell", "commands": [command]},
        acceptance=[CHECK],
        limits={"max_attempts": 3},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert data["executor"]["attempts"] == 2
    assert "attempt 2 of 3" in (run_dir / "logs" / "execute.log").read_text()


def test_the_first_failing_shell_command_stops_the_executor(repo: Path, run_pack) -> None:
    proc, data, run_dir = run_pack(
        "stops", executor={"kind": "shell", "commands": ["false", "touch never.txt"]}
    )
    assert proc.returncode == 1
    assert data["phases"]["execute"]["status"] == "failed"
    assert "`false` exited 1" in data["phases"]["execute"]["reason"]
    assert "never.txt" not in (run_dir / "logs" / "execute.log").read_text()


def test_phase_logs_record_command_exit_code_and_duration(repo: Path, run_pack) -> None:
    _, data, run_dir = run_pack("logs")
    log = (run_dir / "logs" / "verify.log").read_text()
    assert "$ test -f hello.txt" in log and "[exit 0 after " in log
    outputs = {o["path"] for o in data["phases"]["verify"]["outputs"]}
    assert "logs/verify.log" in outputs


def test_large_output_is_capped_in_the_log_and_the_cap_recorded(repo: Path, run_pack) -> None:
    _, _, run_dir = run_pack(
        "chatty",
        executor={"kind": "shell", "commands": ["head -c 200000 /dev/zero | tr '\\0' x; touch hello.txt"]},
    )
    log = (run_dir / "logs" / "execute.log").read_text()
    assert "output 200000 bytes; log keeps the last 65536 bytes (cap)" in log
    assert len(log) < 100_000


def test_a_dirty_checkout_is_refused_with_exit_3(repo: Path) -> None:
    write_pack(repo, "dirty")
    (repo / "scratch.txt").write_text("uncommitted\n")
    proc = orchestrator(repo, "run", "dirty")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    data = manifest(runs_of(repo, "dirty")[-1])
    assert data["status"] == "refused"
    assert "commit" in data["reason"].lower()


def test_the_base_branch_is_never_the_task_branch(repo: Path) -> None:
    write_pack(repo, "onmain")
    proc = orchestrator(repo, "run", "onmain", env={"ORCH_BRANCH_NAME": base_branch()})
    assert proc.returncode == 2
    assert "base branch" in proc.stderr and "Traceback" not in proc.stderr
    assert runs_of(repo, "onmain") == []


def test_an_unknown_task_is_bad_input_and_writes_nothing(repo: Path) -> None:
    proc = orchestrator(repo, "run", "no-such-task")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert not (repo / "runs").exists()


def test_a_phase_rerun_of_a_published_run_is_refused_and_rewrites_nothing(repo: Path, run_pack) -> None:
    _, _, run_dir = run_pack("again")
    before = {name: (run_dir / name).read_bytes() for name in ("SUMMARY.md", "manifest.json")}
    proc = orchestrator(repo, "summarize", "again", "--run", str(run_dir.relative_to(repo)))
    assert proc.returncode == 2, proc.stderr
    assert "already published" in proc.stderr and "nox -s run -- again" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert {name: (run_dir / name).read_bytes() for name in before} == before


def test_a_published_run_removes_its_workspace_and_a_rerun_of_verify_is_refused(repo: Path, run_pack) -> None:
    _, _, run_dir = run_pack("tidy", executor={"kind": "shell", "commands": [FIX]}, acceptance=[CHECK])
    assert list((repo / ".orchestrator" / "worktrees").iterdir()) == []
    proc = orchestrator(repo, "verify", "tidy")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert list((repo / ".orchestrator" / "worktrees").iterdir()) == []
    assert manifest(run_dir)["acceptance"][0]["status"] == "passed"


def test_orch_keep_workspace_keeps_it(repo: Path, run_pack) -> None:
    _, data, _ = run_pack("kept", env={"ORCH_KEEP_WORKSPACE": "1"})
    assert (repo / ".orchestrator" / "worktrees" / f"kept-{data['run_id']}" / "hello.txt").exists()


def test_a_damaged_manifest_is_bad_input_not_a_traceback(repo: Path, run_pack) -> None:
    _, _, run_dir = run_pack("damaged")
    (run_dir / "manifest.json").write_text("{ not json", encoding="utf-8")
    proc = orchestrator(repo, "summarize", "damaged")
    assert proc.returncode == 2
    assert "manifest.json: not valid JSON" in proc.stderr and "Traceback" not in proc.stderr


def all_refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


@pytest.mark.parametrize("switch", ["env", "stop-file"])
def test_the_kill_switch_starts_no_run_and_writes_no_commit(repo: Path, switch: str) -> None:
    write_pack(repo, "halt")
    refs = all_refs(repo)
    env = {"ORCH_KILL_SWITCH": "1"} if switch == "env" else {}
    if switch == "stop-file":
        (repo / ".orchestrator").mkdir(exist_ok=True)
        (repo / ".orchestrator" / "STOP").touch()
    proc = orchestrator(repo, "run", "halt", env=env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "kill switch" in proc.stderr and "Traceback" not in proc.stderr
    assert not (repo / "runs").exists()
    assert all_refs(repo) == refs


def test_the_stop_file_stops_a_running_run_which_is_finalized_as_tripped(repo: Path) -> None:
    write_pack(repo, "long", executor={"kind": "shell", "commands": ["touch started; sleep 60"]})
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", "long"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list((repo / ".orchestrator").glob("worktrees/*/started")):
        time.sleep(0.05)
    (repo / ".orchestrator" / "STOP").touch()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, out + err
    data = manifest(runs_of(repo, "long")[-1])
    assert data["status"] == "tripped" and data["breakers"][0]["name"] == "kill_switch"
    assert data["phases"]["publish"]["status"] == "passed"
    assert data["git"]["evidence_commit"] == git(repo, "rev-parse", "codex/long").strip()


def test_push_without_a_remote_is_refused_before_the_run_naming_the_remote(repo: Path) -> None:
    write_pack(repo, "nowhere")
    refs = all_refs(repo)
    proc = orchestrator(repo, "run", "nowhere", "--push")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "no remote 'origin'" in proc.stderr and "git remote add origin" in proc.stderr
    assert "crashed" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert not (repo / "runs").exists()
    assert all_refs(repo) == refs


def test_the_run_ends_when_its_last_phase_ends(repo: Path, run_pack) -> None:
    _, data, _ = run_pack("timed")
    ends = [entry["ended_at"] for entry in data["phases"].values() if entry["ended_at"]]
    assert data["ended_at"] == max(ends)
    assert data["ended_at"] >= data["phases"]["publish"]["ended_at"] >= data["phases"]["evidence"]["ended_at"]


def test_no_push_happens_unless_asked(repo: Path, run_pack, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    run_pack("quiet")
    assert "codex/quiet" not in git(remote, "branch", "--list")
    proc, data, _ = run_pack("loud", env={"ORCH_PUSH": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert data["git"]["pushed"] is True
    assert "codex/loud" in git(remote, "branch", "--list")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_is_finalized_as_aborted(repo: Path, signum: int) -> None:
    write_pack(repo, "slow", executor={"kind": "shell", "commands": ["touch started; sleep 30"]})
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", "slow"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list((repo / ".orchestrator").glob("worktrees/*/started")):
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    run_dir = runs_of(repo, "slow")[-1]
    data = manifest(run_dir)
    assert data["status"] == "aborted"
    assert data["phases"]["execute"]["status"] == "aborted"
    assert signal.Signals(signum).name in data["reason"]
    assert (run_dir / "SUMMARY.md").read_text().startswith("# ⚠️ ABORTED")


def test_a_crash_inside_a_phase_is_recorded_with_its_type(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator import pipeline
    from orchestrator.config import load_settings

    write_pack(repo, "crash")
    real = pipeline.phase_function

    def exploding(name: str):
        if name == "verify":

            def boom(run, log):
                raise ZeroDivisionError("verify blew up")

            return boom
        return real(name)

    monkeypatch.setattr(pipeline, "phase_function", exploding)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    code, run = pipeline.run_all(load_settings(repo), "crash")
    assert code == 1
    data = manifest(run.dir)
    assert data["phases"]["verify"]["error"] == {"type": "ZeroDivisionError", "message": "verify blew up"}
    assert data["status"] == "failed" and "crashed" in data["reason"]
    assert "ZeroDivisionError" in (run.dir / "logs" / "verify.log").read_text()
    assert (run.dir / "SUMMARY.md").exists()


@pytest.mark.skipif(
    shutil.which("nox") is None and not (Path(sys.executable).parent / "nox").exists(),
    reason="nox is not installed next to this interpreter",
)
def test_nox_run_chains_every_phase_and_keeps_contract_exit_codes(repo: Path) -> None:
    nox = str(Path(sys.executable).parent / "nox")
    write_pack(repo, "vianox")
    write_pack(repo, "vianox-fails", acceptance=[{"id": "never", "run": "false"}])
    env = {**os.environ, **GIT_ENV}
    ok = subprocess.run(
        [nox, "-s", "run", "--", "vianox"], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert manifest(runs_of(repo, "vianox")[-1])["status"] == "succeeded"
    bad = subprocess.run(
        [nox, "-s", "run", "--", "vianox-fails"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    data = manifest(runs_of(repo, "vianox-fails")[-1])
    assert data["status"] == "failed" and "never" in data["reason"]


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "nox").exists(), reason="nox is not installed next to this interpreter"
)
@pytest.mark.parametrize("args", [[], ["--push"]], ids=["no-task", "only-a-flag"])
def test_nox_run_with_bad_arguments_exits_2(repo: Path, args: list[str]) -> None:
    nox = str(Path(sys.executable).parent / "nox")
    proc = subprocess.run(
        [nox, "-s", "run", "--", *args], cwd=repo, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "usage: nox -s run -- <task-id>" in proc.stdout + proc.stderr
    assert not (repo / "runs").exists()


NOX = Path(sys.executable).parent / "nox"


@pytest.mark.skipif(not NOX.exists(), reason="nox is not installed next to this interpreter")
def test_nox_run_with_the_kill_switch_exits_3_and_writes_nothing(repo: Path) -> None:
    write_pack(repo, "halted")
    refs = all_refs(repo)
    env = {**os.environ, **GIT_ENV, "ORCH_KILL_SWITCH": "1"}
    proc = subprocess.run(
        [str(NOX), "-s", "run", "--", "halted"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "the kill switch is on (ORCH_KILL_SWITCH=1)" in proc.stderr
    assert not (repo / "runs").exists() and all_refs(repo) == refs

"""The plugin phase: real plugins in a repository copy, run against a real worktree.

Each test writes its plugin into the copy's solutions/<name>/, builds a Run the way
the pipeline does, changes the workspace and calls the phase. The shipped security
plugin is exercised only where this repository was generated with it.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, git, manifest, orchestrator, runs_of, write_pack
from orchestrator import layout, plugin_protocol
from orchestrator.config import load_settings
from orchestrator.errors import Tripped
from orchestrator.fsio import read_json, sha256_file
from orchestrator.model import Status
from orchestrator.phaselog import PhaseLog
from orchestrator.phases import plugin
from orchestrator.redact import Redactor
from orchestrator.runs import PhaseResult, Run, apply_result, derive_status, new_manifest, new_run_id
from orchestrator.schemas import validator
from orchestrator.taskpack import load_taskpack
from orchestrator.workspace import checkout_dir, create

NAME = "probe"
SECURITY = ROOT / "solutions" / "security"
NO_SECURITY = "this repository was generated without the security solution (solutions/security/ is absent)"

HEADER = f"""
import json, os, sys
request = json.load(sys.stdin)
with open("seen-request.json", "w") as handle:  # the working directory: the workspace
    json.dump(request, handle)
def result(status="passed", findings=(), **extra):
    return {{"schema": "plugin_result/v1", "name": request["plugin"]["name"], "version": "1.2.3",
            "status": status, "summary": "probe says " + status, "findings": list(findings),
            "metrics": {{"changed": len(request["changed_files"])}}, **extra}}
def emit(value):
    print("some log line before the result")
    print({plugin_protocol.RESULT_BEGIN!r})
    print(json.dumps(value, indent=1))
    print({plugin_protocol.RESULT_END!r})
"""

BODIES = {
    "passing": "emit(result())",
    "failing": 'emit(result("failed", [{"file": request["changed_files"][0], "line": 1, "rule": "demo", '
    '"severity": "error", "message": "demo finding"}]))',
    "crashing": 'raise RuntimeError("the probe blew up")',
    "invalid-json": (
        f'print({plugin_protocol.RESULT_BEGIN!r}); print("{{not json"); print({plugin_protocol.RESULT_END!r})'
    ),
}
EXPECTED = {  # kind -> manifest plugin status
    "passing": "passed",
    "failing": "failed",
    "crashing": "crashed",
    "invalid-json": "crashed",
    "missing": "missing",
}


def write_plugin(repo: Path, body: str, directory_name: str = NAME, **descriptor: Any) -> Path:
    directory = repo / "solutions" / directory_name
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "name": directory_name,
        "version": "1.2.3",
        "entry": ["python", "plugin.py"],
        "description": "a test probe",
    }
    (directory / "plugin.json").write_text(json.dumps({**data, **descriptor}), encoding="utf-8")
    (directory / "plugin.py").write_text(HEADER + body + "\n", encoding="utf-8")
    return directory


def make_run(
    repo: Path, *, enabled: bool = True, strict: bool = False, plugin_field: Any = NAME, **fields: Any
) -> Run:
    """A run as the pipeline builds it, with a workspace that modifies, adds and deletes files."""
    if plugin_field is not None:
        fields["plugin"] = plugin_field
    write_pack(repo, "plug", **fields)
    (repo / ".gitignore").write_text("*.log\n", encoding="utf-8")
    (repo / "old.py").write_text("print('old')\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fixtures")
    env = {"ORCH_ENABLE_PLUGINS": "1" if enabled else "0", "ORCH_PLUGINS_STRICT": "1" if strict else "0"}
    settings = load_settings(repo, env)
    task = load_taskpack(repo, "plug")
    run_id = new_run_id()
    run_dir = settings.runs_dir / task.id / run_id
    run_dir.mkdir(parents=True)
    run = Run(
        settings,
        task,
        run_dir,
        new_manifest(settings, task, run_id, git(repo, "rev-parse", "HEAD").strip(), "t"),
    )
    ws = create(run)
    (ws / "README.md").write_text("changed\n", encoding="utf-8")
    (ws / "new.py").write_text("x = 1\n", encoding="utf-8")
    (ws / "noise.log").write_text("ignored\n", encoding="utf-8")
    (ws / "old.py").unlink()
    return run


def run_phase(run: Run, secrets: tuple[str, ...] = ()) -> PhaseResult:
    result = plugin.run(run, PhaseLog(run.logs / "plugin.log", Redactor(list(secrets))))
    apply_result(run.manifest, result)  # as the pipeline does
    errors = [e.message for e in validator("manifest.v1.json").iter_errors(run.manifest.to_json())]
    assert not errors, errors
    return result


def result_file(run: Run) -> Path:
    return run.dir / layout.PLUGIN_RESULT


# --- the matrix: kind x strict x enabled ------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_enabled_plugin_outcome_follows_kind_and_strictness(repo: Path, kind: str, strict: bool) -> None:
    if kind != "missing":
        write_plugin(repo, BODIES[kind])
    run = make_run(repo, strict=strict)
    result = run_phase(run)
    entry = run.manifest.to_json()["plugin"]
    assert entry["status"] == EXPECTED[kind], entry["reason"]
    assert (entry["name"], entry["strict"]) == (NAME, strict)
    if kind == "passing":
        assert (result.status, result.exit_code) == ("passed", 0)
    elif strict:
        assert (result.status, result.exit_code) == ("failed", 1)
        assert "ORCH_PLUGINS_STRICT=1" in result.reason
    else:
        assert (result.status, result.exit_code) == ("warning", 0)
        assert "set ORCH_PLUGINS_STRICT=1" in result.reason
    wrote = kind in ("passing", "failing")
    assert result_file(run).is_file() is wrote
    assert result.outputs == ([result_file(run)] if wrote else [])


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_disabled_plugins_are_skipped_without_running(repo: Path, kind: str, strict: bool) -> None:
    if kind != "missing":
        write_plugin(repo, BODIES[kind])
    run = make_run(repo, enabled=False, strict=strict)
    result = run_phase(run)
    assert (result.status, result.exit_code) == ("skipped", 0)
    assert "ORCH_ENABLE_PLUGINS=1" in result.reason
    assert run.manifest.to_json()["plugin"] == {
        "name": NAME,
        "version": "",
        "status": "skipped",
        "sha256": None,
        "strict": strict,
        "reason": result.reason,
    }
    assert not (run.workspace / "seen-request.json").exists()
    assert not result_file(run).exists()


# --- what gets written --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["passing", "failing"])
def test_result_file_validates_and_its_digest_is_in_the_manifest(repo: Path, kind: str) -> None:
    write_plugin(repo, BODIES[kind])
    run = make_run(repo)
    run_phase(run)
    data = read_json(result_file(run))
    assert not [e.message for e in validator("plugin_result.v1.json").iter_errors(data)]
    assert run.manifest.to_json()["plugin"]["sha256"] == sha256_file(result_file(run))
    assert run.manifest.to_json()["plugin"]["version"] == "1.2.3"
    assert result_file(run).read_text(encoding="utf-8") == json.dumps(data, sort_keys=True, indent=2) + "\n"


def test_a_crash_leaves_its_traceback_in_the_log_and_no_digest(repo: Path) -> None:
    write_plugin(repo, BODIES["crashing"])
    run = make_run(repo, strict=True)
    run_phase(run)
    assert run.manifest.to_json()["plugin"]["sha256"] is None
    assert "exit 1: RuntimeError: the probe blew up" in run.manifest.to_json()["plugin"]["reason"]
    log = (run.logs / "plugin.log").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "[exit 1 after" in log


def test_no_plugin_named_records_null(repo: Path) -> None:
    run = make_run(repo, plugin_field=None)
    result = run_phase(run)
    assert (result.status, run.manifest.to_json()["plugin"]) == ("skipped", None)


def test_the_plugin_receives_the_request_in_a_fresh_checkout_of_the_change(repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("ORCH_KEEP_WORKSPACE", "1")
    write_plugin(repo, BODIES["passing"])
    run = make_run(repo, plugin_field={"name": NAME, "options": {"level": 3, "paths": ["src"]}})
    run_phase(run)
    checkout = checkout_dir(run)
    request = json.loads((checkout / "seen-request.json").read_text(encoding="utf-8"))
    assert not [e.message for e in validator("plugin_request.v1.json").iter_errors(request)]
    assert request["changed_files"] == ["README.md", "new.py"]
    assert request["deleted_files"] == ["old.py"]
    assert request["options"] == {"level": 3, "paths": ["src"]}
    assert request["task"]["id"] == "plug" and request["task"]["data"]["title"] == "Test pack plug"
    assert request["base"] == run.manifest.to_json()["git"]["base"]
    assert Path(request["workspace"]) == checkout.resolve() != run.workspace.resolve()
    assert not (checkout / "noise.log").exists() and (checkout / "new.py").read_text() == "x = 1\n"
    assert Path(request["plugin"]["dir"]) == (repo / "solutions" / NAME).resolve()


def test_the_plugin_runs_from_the_repository_not_the_workspace(repo: Path) -> None:
    write_plugin(repo, BODIES["passing"])
    run = make_run(repo)
    ws_copy = run.workspace / "solutions" / NAME  # the executor rewrites its reviewer
    (ws_copy / "plugin.json").write_text(json.dumps({"name": NAME, "version": "6.6.6", "entry": ["false"]}))
    (ws_copy / "plugin.py").write_text("raise SystemExit(9)\n")
    run_phase(run)
    assert (run.manifest.to_json()["plugin"]["status"], run.manifest.to_json()["plugin"]["version"]) == (
        "passed",
        "1.2.3",
    )


def test_known_secrets_are_redacted_from_the_result(repo: Path) -> None:
    body = (
        'emit(result("failed", [{"file": "a", "line": 1, "rule": "r", "severity": "note", '
        '"message": "found hunter2-secret here"}]))'
    )
    write_plugin(repo, body)
    run = make_run(repo)
    run_phase(run, secrets=("hunter2-secret",))
    text = result_file(run).read_text(encoding="utf-8")
    assert "hunter2-secret" not in text and "found [REDACTED] here" in text


def test_plugin_output_quoted_in_the_manifest_is_redacted(repo: Path) -> None:
    write_plugin(repo, 'raise RuntimeError("leaked hunter2-secret")')
    run = make_run(repo)
    run_phase(run, secrets=("hunter2-secret",))
    assert run.manifest.to_json()["plugin"]["reason"].endswith("RuntimeError: leaked [REDACTED]")


def test_a_run_breaker_hit_by_the_plugin_trips_the_run(repo: Path) -> None:
    write_plugin(repo, 'print("x" * 10000); emit(result())')
    run = make_run(repo, limits={"max_output_bytes": 2000})
    with pytest.raises(Tripped) as tripped:
        run_phase(run)
    assert (tripped.value.breaker, tripped.value.limit) == ("max_output_bytes", 2000)
    assert run.manifest.to_json()["plugin"]["status"] == "crashed" and not result_file(run).exists()


def test_a_rerun_that_crashes_removes_the_earlier_result(repo: Path) -> None:
    directory = write_plugin(repo, BODIES["passing"])
    run = make_run(repo)
    run_phase(run)
    assert result_file(run).is_file()
    (directory / "plugin.py").write_text(HEADER + BODIES["crashing"] + "\n", encoding="utf-8")
    run_phase(run)
    assert not result_file(run).exists() and run.manifest.to_json()["plugin"]["sha256"] is None


# --- how a plugin can go wrong ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('emit(result(status="great"))', "status: 'great' is not one of"),
        ('emit(result(name="other"))', "result name 'other' is not the plugin's name"),
        ('emit(result(status="error"))', "probe 1.2.3 error: probe says error"),
        ("print(json.dumps(result()))", "printed no result"),
        ("emit(result()); sys.exit(3)", "exit 3"),
        (
            'emit(result(findings=[{"file": "a", "line": -1, "rule": "r", '
            '"severity": "high", "message": "m"}]))',
            "findings/0/line",
        ),
    ],
    ids=["bad-status", "wrong-name", "status-error", "no-markers", "non-zero-exit", "bad-finding"],
)
def test_a_result_the_orchestrator_cannot_trust_is_a_crash(repo: Path, body: str, reason: str) -> None:
    write_plugin(repo, body)
    run = make_run(repo)
    result = run_phase(run)
    assert run.manifest.to_json()["plugin"]["status"] == "crashed"
    assert reason in run.manifest.to_json()["plugin"]["reason"]
    assert result.status == "warning"


def test_a_plugin_past_its_timeout_is_stopped_and_crashed(repo: Path) -> None:
    write_plugin(repo, "import time; time.sleep(60)", timeout_seconds=0.5)
    run = make_run(repo, strict=True)
    result = run_phase(run)
    assert run.manifest.to_json()["plugin"]["status"] == "crashed"
    assert "timeout_seconds=0.5" in run.manifest.to_json()["plugin"]["reason"]
    assert result.status == "failed"


@pytest.mark.parametrize(
    ("descriptor", "reason"),
    [
        ({"entry": []}, "entry: must be a non-empty list"),
        ({"name": "else"}, "name: is 'else', must be 'probe'"),
        ({"timeout_seconds": 0}, "timeout_seconds: must be a positive number"),
    ],
    ids=["empty-entry", "wrong-name", "zero-timeout"],
)
def test_a_broken_plugin_json_is_a_crash_that_says_what_to_fix(
    repo: Path, descriptor: dict, reason: str
) -> None:
    write_plugin(repo, BODIES["passing"], **descriptor)
    run = make_run(repo)
    run_phase(run)
    assert run.manifest.to_json()["plugin"]["status"] == "crashed"
    assert f"solutions/probe/plugin.json: {reason}" in run.manifest.to_json()["plugin"]["reason"]
    assert not (run.workspace / "seen-request.json").exists()


def test_a_name_that_is_a_path_is_missing_and_never_run(repo: Path, tmp_path: Path) -> None:
    run = make_run(repo)
    shutil.copytree(write_plugin(tmp_path / "elsewhere", BODIES["passing"], "evil"), tmp_path / "evil")
    run.task = replace(run.task, data={**run.task.data, "plugin": "../../evil"})
    run_phase(run)
    assert run.manifest.to_json()["plugin"]["status"] == "missing"
    assert not (run.workspace / "seen-request.json").exists()


@pytest.mark.parametrize(("strict", "status"), [(True, "failed"), (False, "succeeded")])
def test_strictness_decides_the_run_status(repo: Path, strict: bool, status: str) -> None:
    write_plugin(repo, BODIES["failing"])
    run = make_run(repo, strict=strict)
    result = run_phase(run)
    for name, entry in run.manifest.phases.items():
        entry.status = result.status if name == "plugin" else Status.PASSED
    derived, reason = derive_status(run.manifest)
    assert derived == status
    assert "plugin" in reason


# --- pure parts -----------------------------------------------------------------------------------------


def test_entry_paths_resolve_against_the_plugin_directory(tmp_path: Path) -> None:
    (tmp_path / "plugin.py").write_text("")
    argv = plugin_protocol.resolve_argv(["python", "plugin.py", "--flag", "../outside.py"], tmp_path)
    assert argv == [sys.executable, str((tmp_path / "plugin.py").resolve()), "--flag", "../outside.py"]


def test_the_last_result_block_wins() -> None:
    begin, end = plugin_protocol.RESULT_BEGIN, plugin_protocol.RESULT_END
    lines = [begin, "{broken", end, "log", begin, '{"a": 1}', end, "trailing log"]
    text = "\n".join(lines)
    assert plugin_protocol.extract_result(text) == {"a": 1}


# --- the shipped security plugin ---------------------------------------------------------------------
# Its own behaviour is specified in solutions/security/tests/; here: it runs as a phase, in the sandbox.


@pytest.mark.skipif(not SECURITY.is_dir(), reason=NO_SECURITY)
def test_security_plugin_flags_eval_in_the_diff(repo: Path) -> None:
    if not (repo / "solutions" / "security").is_dir():
        shutil.copytree(SECURITY, repo / "solutions" / "security")
    run = make_run(repo, strict=True, plugin_field="security")
    (run.workspace / "calc.py").write_text(
        "import os\n\ndef calc(text):\n    return eval(text)\n", encoding="utf-8"
    )
    result = run_phase(run)
    assert (result.status, run.manifest.to_json()["plugin"]["status"]) == ("failed", "failed")
    data = read_json(result_file(run))
    assert not [e.message for e in validator("plugin_result.v1.json").iter_errors(data)]
    located = {(f["file"], f["line"], f["rule"]) for f in data["findings"]}
    assert {("calc.py", 4, "semgrep/python-eval-exec"), ("calc.py", 4, "bandit/B307")} <= located
    assert run.dir / "security.sarif" in result.outputs


# --- end to end ------------------------------------------------------------------------------------------


def test_a_strict_failing_plugin_fails_the_whole_run(repo: Path) -> None:
    write_plugin(repo, BODIES["failing"])
    write_pack(repo, "strict", plugin=NAME)
    proc = orchestrator(repo, "run", "strict", env={"ORCH_ENABLE_PLUGINS": "1", "ORCH_PLUGINS_STRICT": "1"})
    data = manifest(runs_of(repo, "strict")[-1])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (data["status"], data["phases"]["plugin"]["status"], data["plugin"]["status"]) == (
        "failed",
        "failed",
        "failed",
    )
    outputs = {o["path"]: o["sha256"] for o in data["phases"]["plugin"]["outputs"]}
    assert outputs[layout.PLUGIN_RESULT] == data["plugin"]["sha256"]

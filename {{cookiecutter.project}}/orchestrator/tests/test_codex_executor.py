"""The codex and command executors, against the real Codex CLI and a scripted model on 127.0.0.1.

Nothing inside the orchestrator is mocked: the real `codex exec` runs in our jail on a
real worktree, reaching the model only through the host-side model proxy; only the
model is fake (scripted_model.py).
Without node/npm these tests skip, saying so; with npm and no codex they install
the pinned release into .tools/ first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scripted_model import (
    ScriptedModel,
    Step,
    apply_patch,
    exec_command,
    hang,
    http_error,
    message,
    truncated,
)

from conftest import ROOT, manifest, write_pack
from orchestrator import pipeline
from orchestrator.config import load_settings
from orchestrator.errors import BadInput
from orchestrator.executors import AttemptResult, codex, codex_config, command, render_prompt
from orchestrator.phaselog import PhaseLog
from orchestrator.phases import execute
from orchestrator.redact import Redactor
from orchestrator.runs import Run
from orchestrator.sandbox import Execution
from orchestrator.workspace import create

KEY_VAR = "ORCH_TEST_MODEL_KEY"
KEY = "sk-test-0123456789abcdefSECRET"
CANARY = "canary-token-value-42"
PATCH = """*** Begin Patch
*** Add File: {path}
+{text}
*** End Patch
"""


@pytest.fixture(scope="session")
def codex_bin() -> str:
    """The real codex: ORCH_CODEX_BIN, `codex` on PATH, .tools/, or installed there now (pinned)."""
    explicit = os.environ.get("ORCH_CODEX_BIN")
    if explicit:
        return explicit
    for candidate in (shutil.which("codex"), ROOT / ".tools/node_modules/.bin/codex"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    if not (shutil.which("node") and shutil.which("npm")):
        reason = "node/npm are absent, so the Codex CLI cannot run here (`.ci/run` installs them)"
        print(f"SKIP codex executor tests: {reason}")
        pytest.skip(reason)
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(ROOT / ".tools"),
            f"@openai/codex@{codex.PINNED}",
        ],
        check=True,
        timeout=1800,
    )
    return str(ROOT / ".tools/node_modules/.bin/codex")


@pytest.fixture
def codex_env(codex_bin: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[ScriptedModel], None]:
    """Points codex at a scripted model through the environment, with a key and a canary secret."""

    def point(model: ScriptedModel) -> None:
        monkeypatch.setenv("ORCH_CODEX_BIN", codex_bin)
        monkeypatch.setenv("ORCH_CODEX_BASE_URL", model.base_url)
        monkeypatch.setenv("ORCH_CODEX_ENV_KEY", KEY_VAR)
        monkeypatch.setenv(KEY_VAR, KEY)
        monkeypatch.setenv("ORCH_TEST_CANARY_TOKEN", CANARY)
        monkeypatch.delenv("ORCH_CODEX_MODEL", raising=False)

    return point


def codex_pack(repo: Path, task_id: str, **fields: Any) -> None:
    pack: dict[str, Any] = {
        "executor": {"kind": "codex"},
        "objective": "Create greeting.txt saying hello.",
        "scope": {"allowed_paths": ["greeting.txt"]},
        "acceptance": [{"id": "greeting", "run": "grep -q hello greeting.txt"}],
    }
    pack.update(fields)
    write_pack(repo, task_id, **pack)


def start(repo: Path, task_id: str) -> tuple[Run, PhaseLog]:
    """A real run (run dir, manifest, worktree) as the execute phase would see it."""
    run = pipeline.start_run(load_settings(repo, {}), task_id)
    create(run)
    return run, PhaseLog(run.logs / "execute.log", Redactor.from_environ())


def attempt(
    repo: Path,
    task_id: str,
    steps: list[Step],
    point: Callable[[ScriptedModel], None],
    number: int = 1,
    feedback: str | None = None,
) -> tuple[AttemptResult, Run, ScriptedModel]:
    with ScriptedModel(steps, hang_seconds=60) as model:
        point(model)
        run, log = start(repo, task_id)
        result = codex.execute(run, log, number, feedback)
    run.save()
    return result, run, model


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def test_a_successful_turn_edits_the_workspace_and_keeps_its_evidence(repo: Path, codex_env) -> None:
    codex_pack(repo, "greet")
    steps = [apply_patch(PATCH.format(path="greeting.txt", text="hello")), message("Created greeting.txt.")]
    result, run, _ = attempt(repo, "greet", steps, codex_env)
    assert result.ok, result.reason
    assert (run.workspace / "greeting.txt").read_text() == "hello\n"
    events = [
        json.loads(line) for line in (run.dir / "codex/attempt-1.events.jsonl").read_text().splitlines()
    ]
    assert [e["type"] for e in events][-1] == "turn.completed"
    assert (run.dir / "codex/attempt-1.last_message.md").read_text().strip() == "Created greeting.txt."
    data = manifest(run.dir)
    assert data["executor"]["usage"]["turns"] == 1
    assert data["executor"]["usage"]["total_tokens"] == 240
    assert data["executor"]["health"] == {"turn_completed": True, "last_message": True}
    assert data["executor"]["version"].endswith(codex.PINNED)
    assert {p.name for p in result.outputs} >= {"attempt-1.events.jsonl", "attempt-1.last_message.md"}


def test_the_prompt_carries_objective_scope_acceptance_and_constraints(repo: Path, codex_env) -> None:
    codex_pack(repo, "prompted", scope={"allowed_paths": ["greeting.txt"], "forbidden_paths": ["secret/**"]})
    _, _, model = attempt(repo, "prompted", [message("nothing to do")], codex_env)
    sent = model.requests[0].input_text()
    for expected in (
        "Create greeting.txt saying hello.",
        "`greeting.txt`",
        "`secret/**`",
        "grep -q hello greeting.txt",
        "Network: none",
        "`taskpacks/**`",
    ):
        assert expected in sent


def test_a_packs_own_prompt_is_rendered_with_the_pack(repo: Path, codex_env) -> None:
    codex_pack(repo, "ownprompt", executor={"kind": "codex", "prompt": "Do exactly this: {{ task.title }}!"})
    _, _, model = attempt(repo, "ownprompt", [message("ok")], codex_env)
    assert "Do exactly this: Test pack ownprompt!" in model.requests[0].input_text()


def test_the_key_reaches_the_endpoint_but_never_the_commands_codex_runs(repo: Path, codex_env) -> None:
    codex_pack(repo, "leak")
    result, run, model = attempt(repo, "leak", [exec_command("env"), message("looked around")], codex_env)
    assert result.ok, result.reason
    assert model.requests[0].authorization == f"Bearer {KEY}"
    tool_output = model.requests[1].input_text()
    assert "PATH=" in tool_output  # the command did run and print its environment
    assert KEY not in tool_output and CANARY not in tool_output
    for path in files_under(run.dir):
        text = path.read_text(errors="replace")
        assert KEY not in text and CANARY not in text, path


def test_model_and_provider_can_come_from_the_pack(
    repo: Path, codex_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ScriptedModel([message("configured by the pack")]) as model:
        codex_env(model)
        monkeypatch.delenv("ORCH_CODEX_BASE_URL")
        monkeypatch.delenv("ORCH_CODEX_ENV_KEY")
        provider = {"name": "packdeclared", "base_url": model.base_url, "env_key": KEY_VAR}
        codex_pack(repo, "packcfg", executor={"kind": "codex", "model": "gpt-5.4", "provider": provider})
        run, log = start(repo, "packcfg")
        result = codex.execute(run, log, 1, None)
    assert result.ok, result.reason
    assert model.requests[0].body["model"] == "gpt-5.4"
    assert model.requests[0].authorization == f"Bearer {KEY}"


def test_a_pack_cannot_send_the_key_to_an_endpoint_of_its_choosing() -> None:
    executor = {"kind": "codex", "provider": {"name": "p", "base_url": "https://collector.example/v1"}}
    with pytest.raises(BadInput, match="ORCH_CODEX_BASE_URL"):
        codex_config.provider_for(executor, {})
    from_env = codex_config.provider_for(executor, {"ORCH_CODEX_BASE_URL": "https://api.example/v1"})
    assert from_env.base_url == ("https://api.example/v1")
    local = {"kind": "codex", "provider": {"base_url": "http://127.0.0.1:8080/v1"}}
    assert codex_config.provider_for(local, {}).base_url == "http://127.0.0.1:8080/v1"


def test_the_environment_overrides_the_packs_model_and_endpoint() -> None:
    executor = {
        "kind": "codex",
        "model": "from-pack",
        "provider": {"name": "p", "base_url": "http://pack/v1"},
    }
    environ = {
        "ORCH_CODEX_MODEL": "from-env",
        "ORCH_CODEX_BASE_URL": "http://env/v1",
        "ORCH_CODEX_ENV_KEY": "K",
    }
    assert codex_config.model_for(executor, environ) == "from-env"
    assert codex_config.provider_for(executor, environ) == codex_config.Provider("p", "http://env/v1", "K")
    assert codex_config.model_for(executor, {}) == "from-pack"


def test_an_endpoint_error_fails_the_attempt_with_its_reason(repo: Path, codex_env) -> None:
    codex_pack(repo, "http-error")
    result, run, _ = attempt(repo, "http-error", [http_error(400, "model says no")], codex_env)
    assert not result.ok and result.breaker is None
    assert result.exit_code == 1
    assert "model says no" in result.reason
    assert manifest(run.dir)["executor"]["health"]["turn_completed"] is False


def test_a_stream_that_ends_without_completing_fails_the_attempt(repo: Path, codex_env) -> None:
    codex_pack(repo, "cut")
    result, run, _ = attempt(repo, "cut", [truncated()], codex_env)
    assert not result.ok and result.breaker is None
    assert "turn.completed" in result.reason or result.exit_code != 0
    assert manifest(run.dir)["executor"]["health"] == {"turn_completed": False, "last_message": False}


def test_a_hung_endpoint_is_stopped_by_the_time_limit_and_leaves_no_process(repo: Path, codex_env) -> None:
    codex_pack(repo, "hung", limits={"phase_wall_seconds": 2})
    result, run, model = attempt(repo, "hung", [hang()], codex_env)
    assert not result.ok
    assert (result.breaker, result.limit) == ("phase_wall_seconds", pytest.approx(2, abs=0.5))
    assert result.measured >= result.limit
    assert model.requests, "codex reached the endpoint before it hung"
    assert not processes_mentioning(str(run.workspace))


def test_the_command_breaker_stops_codex_as_the_events_arrive(repo: Path, codex_env) -> None:
    codex_pack(repo, "busy", limits={"max_commands": 1})
    steps = [exec_command("echo one"), exec_command("echo two"), exec_command("echo three"), message("done")]
    result, _, model = attempt(repo, "busy", steps, codex_env)
    assert (result.breaker, result.limit, result.measured) == ("max_commands", 1, 2)
    assert len(model.requests) < len(steps)


def test_a_retry_carries_the_failure_output_as_a_new_turn(repo: Path, codex_env) -> None:
    codex_pack(repo, "retry", limits={"max_attempts": 2})
    steps = [
        apply_patch(PATCH.format(path="greeting.txt", text="goodbye")),
        message("attempt one"),
        apply_patch("*** Begin Patch\n*** Update File: greeting.txt\n@@\n-goodbye\n+hello\n*** End Patch\n"),
        message("attempt two"),
    ]
    with ScriptedModel(steps) as model:
        codex_env(model)
        run, log = start(repo, "retry")
        phase = execute.run(run, log)  # the execute phase's own attempt loop
    run.save()
    assert phase.status == "passed", phase.reason
    data = manifest(run.dir)
    assert data["executor"]["attempts"] == 2
    second = model.requests[2].input_text()
    assert "Attempt 2 of 2" in second and "Acceptance check `greeting`" in second
    assert "Attempt 2" not in model.requests[0].input_text()
    assert data["executor"]["usage"]["turns"] == 2
    assert (run.dir / "codex/attempt-2.events.jsonl").is_file()


def test_exit_zero_without_turn_completed_or_last_message_is_a_failure() -> None:
    usage = codex.Usage()
    quiet = Execution(argv=["codex"], exit_code=0, duration=0.1, output="", output_bytes=0)
    assert "turn.completed" in codex._judge(quiet, usage, True, []).reason
    usage.feed({"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 1}})
    assert not codex._judge(quiet, usage, False, []).ok
    assert codex._judge(quiet, usage, True, []).ok


def test_a_missing_codex_binary_is_bad_input_that_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="npm install"):
        codex.find_binary({"PATH": str(tmp_path)}, tmp_path)


def test_the_jailed_command_line_turns_codexs_own_sandbox_off_and_names_no_key(tmp_path: Path) -> None:
    argv = codex_config.build_argv(
        "codex",
        tmp_path,
        "gpt-5.5",
        port=3129,
        wire_api="responses",
        last_message=tmp_path / "m.md",
        prompt="p",
    )
    joined = " ".join(argv)
    for flag in (
        "--strict-config",
        "--ephemeral",
        "--sandbox danger-full-access",
        "--disable plugins",
        "--disable unbounded_connection_retries",
        'base_url="http://127.0.0.1:3129/v1"',
    ):
        assert flag in joined
    assert "env_key" not in joined and KEY_VAR not in joined


def test_a_missing_key_is_refused_naming_the_variable_to_set() -> None:
    with pytest.raises(BadInput, match="CODEX_API_KEY"):
        codex_config.model_key(codex_config.provider_for({"kind": "codex"}, {}), {})
    with pytest.raises(BadInput, match=KEY_VAR):
        local = codex_config.Provider("local", "http://127.0.0.1:1/v1", KEY_VAR)
        codex_config.model_key(local, {"OPENAI_API_KEY": "x"})
    default = codex_config.provider_for({}, {})
    assert codex_config.model_key(default, {"OPENAI_API_KEY": "k"}) == ("OPENAI_API_KEY", "k")


def test_a_codex_pack_without_a_key_exits_2_before_codex_starts(repo: Path, codex_bin: str) -> None:
    codex_pack(repo, "nokey")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CODEX_API_KEY", "OPENAI_API_KEY", "ORCH_CODEX_ENV_KEY")
    }
    env.update(ORCH_CODEX_BIN=codex_bin, ORCH_CODEX_BASE_URL="http://127.0.0.1:9/v1")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", "nokey"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "CODEX_API_KEY" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert time.monotonic() - started < 60
    run_dir = next((repo / "runs" / "nokey").iterdir())
    assert not (run_dir / "codex" / "attempt-1.events.jsonl").exists()


# --- the command executor ---------------------------------------------------------------------

AGENT = """
import sys, pathlib
prompt = sys.stdin.read() if len(sys.argv) < 2 else sys.argv[1]
pathlib.Path("agent_saw.txt").write_text(prompt)
pathlib.Path("greeting.txt").write_text("hello\\n")
print("agent done")
"""


@pytest.mark.parametrize("via", ["stdin", "arg"])
def test_the_command_executor_hands_the_prompt_to_any_agent(repo: Path, tmp_path: Path, via: str) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    argv = [sys.executable, str(agent), *(["{prompt}"] if via == "arg" else [])]
    write_pack(
        repo,
        f"agent-{via}",
        executor={"kind": "command", "argv": argv, "prompt_via": via},
        scope={"allowed_paths": ["greeting.txt"]},
        objective="Say hello in greeting.txt.",
    )
    run, log = start(repo, f"agent-{via}")
    result = command.execute(run, log, 1, None)
    assert result.ok, result.reason
    saw = (run.workspace / "agent_saw.txt").read_text()
    assert saw == render_prompt(run, 1, None)
    assert "Say hello in greeting.txt." in saw
    assert "agent done" in (run.dir / "command/attempt-1.output.log").read_text()


def test_a_failing_agent_fails_the_attempt_with_its_exit_code(repo: Path, tmp_path: Path) -> None:
    write_pack(
        repo,
        "agent-fails",
        executor={"kind": "command", "argv": [sys.executable, "-c", "raise SystemExit(7)"]},
    )
    run, log = start(repo, "agent-fails")
    result = command.execute(run, log, 1, None)
    assert (result.ok, result.exit_code) == (False, 7)


def processes_mentioning(needle: str, settle: float = 10.0) -> list[str]:
    """Live processes whose command line names `needle` (waits for killed ones to be reaped)."""
    deadline = time.monotonic() + settle
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if needle in cmdline:
                found.append(f"{proc.name}: {cmdline}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)

"""The control plane's door: the MCP server, driven by the official SDK's own client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import yaml
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from conftest import GIT_ENV, git, manifest, write_pack
from orchestrator.mcpserver.server import build

TOOLS = {
    "get_taskpack_schema",
    "list_taskpacks",
    "validate_taskpack",
    "propose_taskpack",
    "start_run",
    "get_run",
    "list_runs",
    "query_evidence",
    "cancel_run",
}
GOOD_PACK = {
    "schema": "taskpack/v1",
    "id": "greet",
    "title": "Write a greeting",
    "objective": "Create greeting.txt holding hello.",
    "executor": {"kind": "shell", "commands": ["echo hello > greeting.txt"]},
    "scope": {"allowed_paths": ["greeting.txt"]},
    "acceptance": [{"id": "greeting", "run": "grep -q hello greeting.txt"}],
}
TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def pack_text(**changes: Any) -> str:
    return yaml.safe_dump({**GOOD_PACK, **changes}, sort_keys=False)


def set_policy(repo: Path, lines: str) -> None:
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(
        text.replace("[tool.orchestrator.policy]\n", f"[tool.orchestrator.policy]\n{lines}\n", 1),
        encoding="utf-8",
    )
    git(repo, "commit", "-qam", "policy")


def call(repo: Path, steps: Any, rate: int = 60) -> Any:
    """Runs `steps(client)` against an in-process server over the SDK's client; returns its result."""
    server, plane = build(repo, "stdio", rate_per_minute=rate)

    async def go() -> Any:
        async with Client(server) as client:
            return await steps(client)

    try:
        return anyio.run(go)
    finally:
        plane.jobs.stop_all()


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return result.structured_content


async def wait_done(client: Client, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = data(await client.call_tool("get_run", {"run_id": run_id}))
        if got["status"] not in ("starting", "running") and got.get("process") != "running":
            return got
        await anyio.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


# --- transports -----------------------------------------------------------------------------


def test_over_stdio_a_client_lists_every_tool(repo: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "orchestrator", "mcp"],
        cwd=str(repo),
        env={**GIT_ENV, "PYTHONPATH": str(repo)},
    )

    async def go() -> set[str]:
        async with Client(params) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    assert anyio.run(go) == TOOLS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server(repo: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "mcp", "--http", f"127.0.0.1:{port}"],
        cwd=repo,
        env={**os.environ, **GIT_ENV, "ORCH_MCP_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def list_over_http(url: str, headers: dict[str, str]) -> set[str]:
    async def go() -> set[str]:
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(url, http_client=http)) as c,
        ):
            return {tool.name for tool in (await c.list_tools()).tools}

    return anyio.run(go)


def test_over_http_the_bearer_token_lets_a_client_in(http_server: str) -> None:
    assert list_over_http(f"{http_server}/mcp", {"Authorization": f"Bearer {TOKEN}"}) == TOOLS


def test_over_http_the_secret_path_lets_a_client_in_without_headers(http_server: str) -> None:
    assert list_over_http(f"{http_server}/mcp/{TOKEN}", {}) == TOOLS


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-wrong-token"}])
def test_over_http_a_request_without_the_token_is_rejected(http_server: str, headers: dict[str, str]) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    request = urllib.request.Request(
        f"{http_server}/mcp",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 401


def test_http_does_not_start_without_a_token(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ORCH_MCP_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "mcp", "--http", "127.0.0.1:9"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ORCH_MCP_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


# --- the whole loop --------------------------------------------------------------------------


def test_the_whole_loop_from_schema_to_evidence(repo: Path) -> None:
    async def steps(client: Client) -> dict[str, Any]:
        schema = data(await client.call_tool("get_taskpack_schema", {}))
        assert schema["schema"]["$id"].endswith("taskpack.v1.json") or "properties" in schema["schema"]
        bad = data(
            await client.call_tool(
                "validate_taskpack", {"yaml_text": pack_text(limits={"wall_seconds": "x"})}
            )
        )
        assert not bad["ok"]
        assert bad["errors"][0]["field"] == "limits.wall_seconds" and bad["errors"][0]["line"] > 1
        proposed = data(await client.call_tool("propose_taskpack", {"yaml_text": pack_text()}))
        assert proposed["status"] == "committed", proposed
        started = data(await client.call_tool("start_run", {"task_id": "greet"}))
        done = await wait_done(client, started["run_id"])
        evidence = data(await client.call_tool("query_evidence", {"task": "greet"}))
        listed = data(await client.call_tool("list_taskpacks", {}))
        return {"started": started, "done": done, "evidence": evidence, "listed": listed}

    got = call(repo, steps)
    assert got["done"]["status"] == "succeeded", got["done"]
    assert "succeeded" in got["done"]["execution_plane_output"]["summary"]
    assert got["done"]["execution_plane_output"]["notice"].startswith("untrusted")
    assert {row["run_id"] for row in got["evidence"]["artifacts"]} == {got["started"]["run_id"]}
    assert {p["id"]: p["last_run"]["status"] for p in got["listed"]["taskpacks"] if p["last_run"]}[
        "greet"
    ] == "succeeded"
    message = git(repo, "log", "-1", "--format=%B", "--", "taskpacks/greet")
    assert "Proposed-by: stdio:" in message and "Control-plane: mcp" in message
    run_dir = repo / "runs" / "greet" / got["started"]["run_id"]
    assert manifest(run_dir)["started_by"]["client"].startswith("stdio:")
    audit = (repo / ".orchestrator" / "control-plane.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["tool"] for line in audit} >= {"propose_taskpack", "start_run", "get_run"}
    assert all(json.loads(line)["arguments"].startswith("sha256:") for line in audit)


def test_a_cancelled_run_stops_and_still_finalizes(repo: Path) -> None:
    write_pack(repo, "slow", executor={"kind": "shell", "commands": ["sleep 60"]})

    async def steps(client: Client) -> dict[str, Any]:
        started = data(await client.call_tool("start_run", {"task_id": "slow"}))
        await anyio.sleep(3)
        cancelled = data(await client.call_tool("cancel_run", {"run_id": started["run_id"]}))
        assert cancelled["cancelled"]
        return await wait_done(client, started["run_id"], timeout=60)

    done = call(repo, steps)
    assert done["status"] == "aborted"
    run_dir = repo / "runs" / "slow" / done["run_id"]
    assert (run_dir / "SUMMARY.md").is_file() and (run_dir / "evidence_index.json").is_file()


# --- refusals --------------------------------------------------------------------------------


def test_a_proposed_id_that_climbs_out_of_taskpacks_is_refused(repo: Path) -> None:
    async def steps(client: Client) -> dict[str, Any]:
        return data(await client.call_tool("propose_taskpack", {"yaml_text": pack_text(id="../x")}))

    got = call(repo, steps)
    assert not got["ok"] and any(e["field"] == "id" for e in got["errors"])
    assert not (repo / "x").exists() and not (repo / "taskpacks" / "x").exists()


def test_a_context_file_name_that_climbs_out_is_refused(repo: Path) -> None:
    async def steps(client: Client) -> Any:
        return await client.call_tool(
            "propose_taskpack", {"yaml_text": pack_text(), "context_files": {"../../evil.sh": "x"}}
        )

    assert call(repo, steps).is_error
    assert not (repo / "evil.sh").exists()


def test_an_existing_id_is_refused_unless_replace_is_asked(repo: Path) -> None:
    async def steps(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        data(await client.call_tool("propose_taskpack", {"yaml_text": pack_text()}))
        again = data(await client.call_tool("propose_taskpack", {"yaml_text": pack_text(title="Another")}))
        replaced = data(
            await client.call_tool(
                "propose_taskpack", {"yaml_text": pack_text(title="Another"), "replace": True}
            )
        )
        return again, replaced

    again, replaced = call(repo, steps)
    assert not again["ok"] and "already exists" in again["errors"][0]["message"]
    assert replaced["status"] == "committed"


def test_a_host_beyond_the_policy_ceiling_is_refused_naming_the_ceiling(repo: Path) -> None:
    set_policy(repo, 'allowed_hosts = ["pypi.org"]')

    async def steps(client: Client) -> dict[str, Any]:
        text = pack_text(safety={"network": {"hosts": ["evil.example.com"]}})
        return data(await client.call_tool("propose_taskpack", {"yaml_text": text}))

    got = call(repo, steps)
    assert not got["ok"]
    error = got["errors"][0]
    assert error["field"] == "safety.network.hosts[0]" and "allowed_hosts" in error["message"]
    assert not (repo / "taskpacks" / "greet").exists()


def test_the_safety_phase_applies_the_ceilings_to_a_pack_written_by_hand(repo: Path) -> None:
    set_policy(repo, 'allowed_executors = ["codex"]')
    write_pack(repo, "by-hand")
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", "by-hand"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **GIT_ENV},
    )
    assert result.returncode == 3, result.stdout + result.stderr
    run_dir = max((repo / "runs" / "by-hand").iterdir())
    assert manifest(run_dir)["status"] == "refused"
    assert "allowed_executors" in manifest(run_dir)["reason"]


def test_start_run_is_refused_when_the_concurrency_limit_is_reached(repo: Path) -> None:
    set_policy(repo, "max_concurrent_runs = 1")
    write_pack(repo, "slow", executor={"kind": "shell", "commands": ["sleep 30"]})

    async def steps(client: Client) -> Any:
        first = data(await client.call_tool("start_run", {"task_id": "slow"}))
        second = await client.call_tool("start_run", {"task_id": "slow"})
        await client.call_tool("cancel_run", {"run_id": first["run_id"]})
        return second

    second = call(repo, steps)
    assert second.is_error
    assert "max_concurrent_runs" in second.content[0].text


def test_a_flooding_client_is_refused_with_a_clear_error(repo: Path) -> None:
    async def steps(client: Client) -> list[Any]:
        return [await client.call_tool("list_runs", {}) for _ in range(4)]

    results = call(repo, steps, rate=3)
    assert [r.is_error for r in results] == [False, False, False, True]
    assert "rate limit" in results[-1].content[0].text


def test_with_require_approval_a_proposal_waits_for_a_person(repo: Path) -> None:
    set_policy(repo, "require_approval = true")

    async def steps(client: Client) -> dict[str, Any]:
        return data(await client.call_tool("propose_taskpack", {"yaml_text": pack_text()}))

    got = call(repo, steps)
    assert got["status"] == "awaiting approval"
    assert not (repo / "taskpacks" / "greet").exists()
    approved = subprocess.run(
        [sys.executable, "-m", "orchestrator", "approve", "greet"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **GIT_ENV},
    )
    assert approved.returncode == 0, approved.stderr
    assert (repo / "taskpacks" / "greet" / "task.yml").is_file()
    assert "Approved-by:" in git(repo, "log", "-1", "--format=%B")


# --- what a hostile client tries ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", [".git/config", "docs/.git/HEAD", ".gitattributes", "a\nb.md", "x\x1b[2J.md"]
)
def test_a_context_file_that_names_git_metadata_or_control_characters_is_refused(
    repo: Path, name: str
) -> None:
    async def steps(client: Client) -> Any:
        return await client.call_tool(
            "propose_taskpack",
            {"yaml_text": pack_text(), "context_files": {name: "[core]\n\tfsmonitor = touch x\n"}},
        )

    assert call(repo, steps).is_error
    assert not (repo / "taskpacks" / "greet").exists()
    assert "160000" not in git(repo, "ls-tree", "-r", "HEAD")


def test_an_id_with_a_trailing_line_break_is_refused(repo: Path) -> None:
    async def steps(client: Client) -> dict[str, Any]:
        return data(await client.call_tool("propose_taskpack", {"yaml_text": pack_text(id="greet\n")}))

    got = call(repo, steps)
    assert not got["ok"]
    assert [p.name for p in (repo / "taskpacks").iterdir() if "\n" in p.name] == []


def test_oversized_context_files_are_refused_before_anything_is_written(repo: Path) -> None:
    async def steps(client: Client) -> Any:
        return await client.call_tool(
            "propose_taskpack", {"yaml_text": pack_text(), "context_files": {"big.md": "x" * (300 * 1024)}}
        )

    result = call(repo, steps)
    assert result.is_error and "over" in result.content[0].text
    assert not (repo / "taskpacks" / "greet").exists()


def test_an_unexpected_error_is_audited_and_answered_without_a_traceback(repo: Path) -> None:
    async def steps(client: Client) -> Any:
        return await client.call_tool("query_evidence", {"path_glob": "../etc/*"})

    result = call(repo, steps)
    assert result.is_error and "Traceback" not in result.content[0].text
    audit = (repo / ".orchestrator" / "control-plane.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(audit[-1])["tool"] == "query_evidence" and json.loads(audit[-1])["outcome"] == "error"


def test_a_second_run_of_a_task_that_is_running_is_refused(repo: Path) -> None:
    write_pack(repo, "slow", executor={"kind": "shell", "commands": ["sleep 30"]})

    async def steps(client: Client) -> Any:
        first = data(await client.call_tool("start_run", {"task_id": "slow"}))
        deadline = time.monotonic() + 30
        while not (repo / ".orchestrator" / "locks" / "slow.lock").exists() and time.monotonic() < deadline:
            await anyio.sleep(0.1)
        await anyio.sleep(1)
        second = await client.call_tool("start_run", {"task_id": "slow"})
        await client.call_tool("cancel_run", {"run_id": first["run_id"]})
        return second

    second = call(repo, steps)
    assert second.is_error and "already going" in second.content[0].text

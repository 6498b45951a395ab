"""Past one run at a time: parallel runs on one machine, the CI matrix, and draft pull requests."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import GIT_ENV, git, manifest, orchestrator, runs_of, write_pack

FAIL = {"acceptance": [{"id": "never", "run": "false"}]}


# --- parallel runs ------------------------------------------------------------------------------


def test_several_packs_run_at_once_and_the_exit_code_is_the_worst(repo: Path) -> None:
    for name in ("a", "b", "c"):
        write_pack(
            repo,
            name,
            executor={"kind": "shell", "commands": [f"echo {name} > {name}.txt"]},
            acceptance=[{"id": "made", "run": f"test -f {name}.txt"}],
        )
    write_pack(repo, "d", **FAIL)
    result = orchestrator(repo, "run", "a", "b", "c", "d", "-j", "2", timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    statuses = {name: manifest(runs_of(repo, name)[-1])["status"] for name in "abcd"}
    assert statuses == {"a": "succeeded", "b": "succeeded", "c": "succeeded", "d": "failed"}
    for name in "abcd":
        assert git(repo, "rev-parse", "--verify", f"codex/{name}").strip()
    table = result.stdout[result.stdout.index("pack  ") :]
    assert all(f"\n{name} " in table for name in "abcd")
    rows = json.loads(orchestrator(repo, "evidence", "query", "--kind", "manifest", "--json").stdout)
    assert {row["task"] for row in rows} == set("abcd")
    assert orchestrator(repo, "evidence", "verify", "--all").returncode == 0


def test_all_runs_every_pack(repo: Path) -> None:
    for pack in (repo / "taskpacks").iterdir():
        git(repo, "rm", "-rq", f"taskpacks/{pack.name}")
    write_pack(repo, "only-one")
    result = orchestrator(repo, "run", "--all", "-j", "2", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert manifest(runs_of(repo, "only-one")[-1])["status"] == "succeeded"


def test_an_interrupt_reaches_every_run_and_each_still_finalizes(repo: Path) -> None:
    for name in ("s1", "s2"):
        write_pack(repo, name, executor={"kind": "shell", "commands": ["sleep 60"]})
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", "s1", "s2", "-j", "2"],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not all(runs_of(repo, n) and (repo / ".orchestrator" / "worktrees").exists() for n in ("s1", "s2")):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    for name in ("s1", "s2"):
        run_dir = runs_of(repo, name)[-1]
        assert manifest(run_dir)["status"] == "aborted"
        assert (run_dir / "SUMMARY.md").is_file()


@pytest.mark.parametrize("argv", [["run"], ["run", "a", "-j", "0"]])
def test_bad_run_arguments_exit_2(repo: Path, argv: list[str]) -> None:
    result = orchestrator(repo, *argv)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# --- the CI matrix -----------------------------------------------------------------------------


def test_the_matrix_names_each_pack_with_its_executor(repo: Path) -> None:
    write_pack(repo, "agent", executor={"kind": "codex", "prompt": "{{ task.objective }}"})
    result = orchestrator(repo, "matrix", "agent,add-slugify")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "include": [
            {"task_id": "agent", "executor": "codex"},
            {"task_id": "add-slugify", "executor": "shell"},
        ]
    }


def test_the_matrix_of_changed_packs_names_only_those_changed_since(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD").strip()
    write_pack(repo, "fresh")
    result = orchestrator(repo, "matrix", "changed", "--since", before)
    assert json.loads(result.stdout) == {"include": [{"task_id": "fresh", "executor": "shell"}]}


def test_an_invalid_pack_in_the_matrix_is_bad_input(repo: Path) -> None:
    result = orchestrator(repo, "matrix", "no-such-pack")
    assert result.returncode == 2
    assert "no-such-pack" in result.stderr


# --- pull requests ------------------------------------------------------------------------------


@pytest.fixture
def fake_github() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A GitHub REST API on 127.0.0.1 that keeps pull requests in memory and records every request."""
    requests: list[dict[str, Any]] = []
    pulls: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            entry = {
                "method": self.command,
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "body": body,
            }
            requests.append(entry)
            return entry

        def do_GET(self) -> None:
            self._record()
            self._answer(200, [p for p in pulls if p["state"] == "open"])

        def do_POST(self) -> None:
            body = self._record()["body"]
            pull = {
                "number": len(pulls) + 1,
                "state": "open",
                "html_url": "http://example.invalid/pull/1",
                **body,
            }
            pulls.append(pull)
            self._answer(201, pull)

        def do_PATCH(self) -> None:
            body = self._record()["body"]
            pulls[0].update(body)
            self._answer(200, pulls[0])

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def test_pr_creates_one_draft_pull_request_then_updates_it(repo: Path, fake_github: tuple[str, list]) -> None:
    api, requests = fake_github
    write_pack(repo, "greet")
    assert orchestrator(repo, "run", "greet").returncode == 0
    env = {"GITHUB_API_URL": api, "GITHUB_REPOSITORY": "acme/shop", "GITHUB_TOKEN": "ghs_test"}
    first = orchestrator(repo, "pr", "greet", env=env)
    assert first.returncode == 0, first.stderr
    second = orchestrator(repo, "pr", "greet", env=env)
    assert second.returncode == 0, second.stderr
    methods = [(r["method"], r["path"].split("?")[0]) for r in requests]
    assert methods == [
        ("GET", "/repos/acme/shop/pulls"),
        ("POST", "/repos/acme/shop/pulls"),
        ("GET", "/repos/acme/shop/pulls"),
        ("PATCH", "/repos/acme/shop/pulls/1"),
    ]
    assert "head=acme%3Acodex%2Fgreet" in requests[0]["path"]
    create = requests[1]["body"]
    summary = (runs_of(repo, "greet")[-1] / "SUMMARY.md").read_text(encoding="utf-8")
    assert create["head"] == "codex/greet" and create["draft"] is True
    assert create["body"].startswith(summary.rstrip())
    assert f"runs/greet/{runs_of(repo, 'greet')[-1].name}" in create["body"]
    assert all(r["auth"] == "Bearer ghs_test" for r in requests)


@pytest.mark.parametrize("missing", ["GITHUB_TOKEN", "GITHUB_REPOSITORY"])
def test_pr_without_a_token_or_repository_is_a_clear_error(repo: Path, missing: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({"GITHUB_REPOSITORY": "acme/shop", "GITHUB_TOKEN": "t"})
    del env[missing]
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "pr", "add-slugify"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert missing in result.stderr and "Traceback" not in result.stderr


def test_outcomes_tabulate_each_packs_latest_run_for_a_job_summary(repo: Path) -> None:
    write_pack(repo, "greet")
    orchestrator(repo, "run", "greet")
    result = orchestrator(repo, "outcomes", "greet", "never-ran")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "| pack | status | reason | summary |"
    assert lines[2].startswith("| greet | succeeded |") and lines[2].endswith("/SUMMARY.md |")
    assert lines[3].startswith("| never-ran | no run |")


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "nox").exists(), reason="nox is not installed next to this interpreter"
)
def test_nox_run_takes_several_packs_and_a_job_count(repo: Path) -> None:
    for name in ("na", "nb"):
        write_pack(repo, name)
    nox = str(Path(sys.executable).parent / "nox")
    proc = subprocess.run(
        [nox, "-s", "run", "--", "na", "nb", "-j", "2"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **GIT_ENV},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {name: manifest(runs_of(repo, name)[-1])["status"] for name in ("na", "nb")} == {
        "na": "succeeded",
        "nb": "succeeded",
    }
    assert len(runs_of(repo, "na")) == 1, "the phase sessions must not run a pack of their own"

"""Shared fixtures: a throwaway copy of this repository, with git, to run the engine in.

Every end-to-end test works on its own copy, so runs, branches and worktrees
never touch the repository under test.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SKIP = {
    ".git",
    ".nox",
    ".venv",
    ".tools",
    "runs",
    ".orchestrator",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "build",
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@localhost",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@localhost",
}

sys.path.insert(0, str(ROOT))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    ).stdout


def base_branch() -> str:
    from orchestrator.config import load_settings

    return load_settings(ROOT, {}).base_branch


def copy_repo(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=lambda d, names: [n for n in names if n in SKIP])
    git(dest, "init", "-q", "-b", base_branch())
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "initial")
    return dest


@pytest.fixture(scope="session")
def _pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("pristine") / "repo")


@pytest.fixture
def repo(_pristine: Path, tmp_path: Path) -> Path:
    """A fresh clone of a committed copy of this repository (fast: git clone --local)."""
    dest = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", "--local", str(_pristine), str(dest)], check=True)
    git(dest, "remote", "remove", "origin")
    return dest


def orchestrator(
    repo: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m orchestrator ...` in repo, as a user would run it."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=repo,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_pack(repo: Path, task_id: str, commit: bool = True, **fields: Any) -> Path:
    """A valid shell task pack, with fields overridden, committed to the base branch."""
    pack: dict[str, Any] = {
        "schema": "taskpack/v1",
        "id": task_id,
        "title": f"Test pack {task_id}",
        "objective": "A pack written by a test.",
        "executor": {"kind": "shell", "commands": ["echo hello > hello.txt"]},
        "scope": {"allowed_paths": ["**"]},
        "acceptance": [{"id": "hello", "run": "test -f hello.txt"}],
    }
    pack.update(fields)
    path = repo / "taskpacks" / task_id / "task.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(pack, sort_keys=False), encoding="utf-8")
    if commit:
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"add pack {task_id}")
    return path


def runs_of(repo: Path, task_id: str) -> list[Path]:
    root = repo / "runs" / task_id
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, validated against manifest/v1 (every test checks what it reads)."""
    from orchestrator.schemas import validator

    data = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    errors = list(validator("manifest.v1.json").iter_errors(data))
    assert not errors, [e.message for e in errors]
    return data


@pytest.fixture
def run_pack(repo: Path) -> Callable[..., tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]]:
    """Writes a pack, runs it end to end, returns (process, manifest, run dir)."""

    def go(task_id: str, env: dict[str, str] | None = None, **fields: Any):
        write_pack(repo, task_id, **fields)
        proc = orchestrator(repo, "run", task_id, env=env)
        found = runs_of(repo, task_id)
        assert found, proc.stdout + proc.stderr
        return proc, manifest(found[-1]), found[-1]

    return go


# --- shared by the sandbox and red-team tests ------------------------------------------


def survivors(marker: str) -> list[str]:
    """Host processes whose command line holds `marker` (the caller's unique tag)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.fixture
def listener() -> Iterator[tuple[int, list[int]]]:
    """A TCP listener on the host's 127.0.0.1 that counts the connections it accepts."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def web_server() -> Iterator[int]:
    """A local HTTP server standing in for a declared host."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello from the declared host"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()

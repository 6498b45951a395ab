"""`nox -s draft`: a model drafts a pack through the Responses API with structured output; nothing is
committed until a person approves it. The endpoint here is a scripted one on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import GIT_ENV, git
from orchestrator.mcpserver.draft import draft_schema

DRAFT = {
    "schema": "taskpack/v1",
    "id": "add-farewell",
    "title": "Add a farewell helper",
    "objective": "Add textkit.farewell(name) returning 'Goodbye, <name>!'.",
    "executor": {"kind": "codex", "commands": None, "prompt": "{{ task.objective }}"},
    "scope": {"allowed_paths": ["src/textkit/**"], "forbidden_paths": None},
    "acceptance": [
        {"id": "farewell", "run": "python -c 'import textkit'", "expect_exit": 0, "description": None}
    ],
    "safety": None,
    "limits": None,
}


@pytest.fixture
def model() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            answer = {
                "id": "resp_1",
                "output": [
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": json.dumps(DRAFT)}],
                    }
                ],
            }
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()


def draft(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "draft", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**full, **GIT_ENV, **env},
    )


def test_the_draft_schema_is_in_strict_form_everywhere() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                assert node["additionalProperties"] is False, where
                assert sorted(node["required"]) == sorted(node["properties"]), where
            assert not {"default", "allOf", "if", "then", "pattern", "minLength"} & set(node), where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(draft_schema(), "#")


def test_a_draft_is_asked_with_structured_output_held_and_committed_only_on_approval(
    repo: Path, model: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = model
    head = git(repo, "rev-parse", "HEAD")
    result = draft(
        repo, "Add a farewell helper to textkit", OPENAI_API_KEY="sk-test-draft-key", ORCH_DRAFT_BASE_URL=url
    )
    assert result.returncode == 0, result.stdout + result.stderr
    request = seen[0]
    assert request["path"] == "/v1/responses"
    assert request["auth"] == "Bearer sk-test-draft-key"
    fmt = request["body"]["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["strict"] is True
    assert "id: add-farewell" in result.stdout and "valid" in result.stdout
    assert git(repo, "rev-parse", "HEAD") == head, "drafting must commit nothing"
    assert (repo / ".orchestrator" / "proposals" / "add-farewell" / "task.yml").is_file()
    approved = subprocess.run(
        [sys.executable, "-m", "orchestrator", "approve", "add-farewell"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **GIT_ENV},
    )
    assert approved.returncode == 0, approved.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "Task pack add-farewell: approved"


def test_drafting_without_a_key_names_the_variable_to_set(repo: Path) -> None:
    result = draft(repo, "anything")
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "Traceback" not in result.stderr


def test_a_model_answer_that_is_not_a_pack_is_bad_input_without_a_traceback(repo: Path) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(
                {"output": [{"type": "message", "content": [{"type": "output_text", "text": "[1, 2]"}]}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = draft(
            repo,
            "anything",
            OPENAI_API_KEY="k",
            ORCH_DRAFT_BASE_URL=f"http://127.0.0.1:{server.server_address[1]}/v1",
        )
    finally:
        server.shutdown()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "no JSON task pack" in result.stderr

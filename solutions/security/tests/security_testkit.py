"""Shared by the security plugin's tests: a scratch git repository, the plugin as a process,
and a local OSV-compatible service on 127.0.0.1 (the documented /v1/querybatch and /v1/vulns API)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PLUGIN_DIR = Path(__file__).resolve().parent.parent
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
SARIF_SCHEMA = Path(__file__).resolve().parent / "sarif-schema-2.1.0.json"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@dataclass
class Repo:
    """A git repository with a base commit; the working tree is the change under review."""

    root: Path
    base: str = ""

    @classmethod
    def create(cls, root: Path, files: dict[str, str | bytes]) -> Repo:
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "-q")
        repo = cls(root)
        repo.write(files)
        git(root, "add", "-A")
        git(
            root,
            "-c",
            "user.email=t@example.test",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "base",
        )
        repo.base = git(root, "rev-parse", "HEAD").strip()
        return repo

    def write(self, files: dict[str, str | bytes]) -> None:
        for rel, content in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")

    def changed(self) -> tuple[list[str], list[str]]:
        git(self.root, "add", "-A", "--intent-to-add")
        out = git(self.root, "diff", "--name-status", "-z", "--no-renames", self.base)
        fields = out.split("\0")
        changed, deleted = [], []
        for status, path in zip(fields[0::2], fields[1::2], strict=False):
            if status and path:
                (deleted if status.startswith("D") else changed).append(path)
        return sorted(changed), sorted(deleted)

    def request(
        self,
        options: dict[str, Any] | None = None,
        hosts: list[str] | None = None,
        task_id: str = "demo-task",
    ) -> dict[str, Any]:
        changed, deleted = self.changed()
        return {
            "schema": "plugin_request/v1",
            "plugin": {"name": "security", "version": "test", "dir": str(PLUGIN_DIR)},
            "run": {"id": "test-run", "dir": str(self.root / "runs" / "x")},
            "task": {"id": task_id, "data": {"id": task_id, "safety": {"network": {"hosts": hosts or []}}}},
            "workspace": str(self.root),
            "base": self.base,
            "changed_files": changed,
            "deleted_files": deleted,
            "options": options or {},
        }


@dataclass
class PluginRun:
    result: dict[str, Any]
    sarif: dict[str, Any] | None
    output: str

    def rules_at(self, file: str) -> set[tuple[str, int]]:
        return {(f["rule"], f["line"]) for f in self.result["findings"] if f["file"] == file}


def run_plugin(request: dict[str, Any], out: Path) -> PluginRun:
    """The plugin as the orchestrator starts it: a script, the request on stdin, cwd the workspace."""
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(PLUGIN_DIR / "plugin.py")],
        input=json.dumps(request),
        text=True,
        capture_output=True,
        check=False,
        cwd=request["workspace"],
        timeout=600,
        env={**_env(), "ORCH_PLUGIN_OUT": str(out)},
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    begin = text.rindex("----- BEGIN plugin_result/v1 -----")
    end = text.rindex("----- END plugin_result/v1 -----")
    result = json.loads(text[begin:end].split("\n", 1)[1])
    sarif_file = out / "security.sarif"
    sarif = json.loads(sarif_file.read_text(encoding="utf-8")) if sarif_file.exists() else None
    return PluginRun(result, sarif, text)


def _env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "ORCH_TOOLS_DIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def sarif_errors(document: dict[str, Any]) -> list[str]:
    """Problems of a SARIF log against the official OASIS SARIF 2.1.0 schema (draft-04)."""
    from jsonschema import Draft4Validator

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return [f"{list(e.absolute_path)}: {e.message}" for e in Draft4Validator(schema).iter_errors(document)]


@dataclass
class OsvService:
    """Advisories by (ecosystem, name, version); records every request it was sent."""

    advisories: dict[tuple[str, str, str], list[dict[str, Any]]]
    url: str = ""
    requests: list[str] = field(default_factory=list)


@contextmanager
def osv_server(advisories: dict[tuple[str, str, str], list[dict[str, Any]]]) -> Iterator[OsvService]:
    service = OsvService(advisories)
    by_id = {v["id"]: v for vulns in advisories.values() for v in vulns}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def answer(self, code: int, value: Any) -> None:
            body = json.dumps(value).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            service.requests.append(f"POST {self.path}")
            if self.path != "/v1/querybatch":
                self.answer(404, {"message": "not found"})
                return
            queries = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["queries"]
            results = []
            for q in queries:
                key = (q["package"]["ecosystem"], q["package"]["name"], q["version"])
                vulns = [
                    {"id": v["id"], "modified": v.get("modified", "2024-01-01T00:00:00Z")}
                    for v in advisories.get(key, [])
                ]
                results.append({"vulns": vulns} if vulns else {})
            self.answer(200, {"results": results})

        def do_GET(self) -> None:
            service.requests.append(f"GET {self.path}")
            vuln_id = self.path.removeprefix("/v1/vulns/")
            if vuln_id in by_id:
                self.answer(200, by_id[vuln_id])
            else:
                self.answer(404, {"message": "not found"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


REQUESTS_ADVISORY = {
    "id": "GHSA-j8r2-6x86-q33q",
    "summary": "Unintended leak of Proxy-Authorization header in requests",
    "modified": "2024-01-01T00:00:00Z",
    "database_specific": {"severity": "MODERATE"},
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}],
        }
    ],
}

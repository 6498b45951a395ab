"""The security solution, baked and used as a new user would: the example fixes a real vulnerability
and passes under strict plugins; a pack that adds vulnerable code and a vulnerable pin is stopped.

Runs the baked engine with this interpreter, which must have the plugin's tools
(solutions/security/requirements.txt) installed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, bake, describe, git, run

sys.path.insert(0, str(ROOT / "solutions" / "security" / "tests"))
from security_testkit import REQUESTS_ADVISORY, osv_server, sarif_errors

pytestmark = pytest.mark.slow
STRICT = {"ORCH_ENABLE_PLUGINS": "1", "ORCH_PLUGINS_STRICT": "1"}
ADMIN = '''"""Admin helpers."""

import subprocess

import requests
import yaml


def find_user(cursor, user):
    cursor.execute(f"SELECT * FROM users WHERE name = '{user}'")
    return cursor.fetchall()


def run_command(cmd):
    return subprocess.run(cmd, shell=True)


def load_config(data):
    return yaml.load(data)


def fetch(url):
    return requests.get(url, verify=False, timeout=10)
'''
EXPECTED_LINES = {
    "python-sql-string-formatting": 10,
    "python-subprocess-shell-true": 15,
    "python-yaml-unsafe-load": 19,
    "python-requests-verify-false": 23,
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("security") / "out", solution="security", ci="github")


def orchestrator(repo: Path, *args: str) -> object:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "NOX_", "ORCH_")) or k == "ORCH_TOOLS_DIR"
    }
    return run([sys.executable, "-m", "orchestrator", *args], cwd=repo, env={**environ, **STRICT})


def latest_run(repo: Path, task_id: str) -> Path:
    return max(p for p in (repo / "runs" / task_id).iterdir() if p.is_dir())


def new_file_patch(path: str, text: str) -> str:
    lines = text.splitlines()
    head = f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
    return head + f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)


def test_the_example_fixes_the_injection_under_strict_plugins(repo: Path) -> None:
    result = orchestrator(repo, "run", "fix-sql-injection")
    assert result.returncode == 0, describe(result)
    run_dir = latest_run(repo, "fix-sql-injection")
    sarif = json.loads((run_dir / "security.sarif").read_text(encoding="utf-8"))
    assert sarif_errors(sarif) == []
    summary = (run_dir / "SUMMARY.md").read_text(encoding="utf-8")
    assert "resolved by the change: 4" in summary
    assert "src/vulnapp/app.py:30 python-sql-string-formatting" in summary


def test_a_pack_adding_vulnerable_code_and_a_vulnerable_pin_is_stopped(repo: Path) -> None:
    pack_dir = repo / "taskpacks" / "add-admin-tools"
    pack_dir.mkdir(parents=True)
    patch = new_file_patch("src/vulnapp/admin.py", ADMIN) + new_file_patch(
        "src/vulnapp/requirements-admin.txt", "requests==2.19.0\n"
    )
    (pack_dir / "change.patch").write_text(patch, encoding="utf-8")
    with osv_server({("PyPI", "requests", "2.19.0"): [REQUESTS_ADVISORY]}) as osv:
        pack = {
            "schema": "taskpack/v1",
            "id": "add-admin-tools",
            "title": "Add admin helpers",
            "objective": "Adds admin helpers and their requirements.",
            "executor": {"kind": "shell", "commands": ["git apply taskpacks/add-admin-tools/change.patch"]},
            "scope": {"allowed_paths": ["src/**"]},
            "acceptance": [
                {
                    "id": "imports",
                    "run": "python -c 'import ast,sys; ast.parse(open(sys.argv[1]).read())' "
                    "src/vulnapp/admin.py",
                }
            ],
            "safety": {"network": {"hosts": [osv.url.removeprefix("http://")]}},
            "plugin": {"name": "security", "options": {"osv_url": osv.url}},
        }
        (pack_dir / "task.yml").write_text(yaml.safe_dump(pack, sort_keys=False), encoding="utf-8")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "add the admin-tools pack")
        result = orchestrator(repo, "run", "add-admin-tools")
    assert result.returncode == 1, describe(result)
    assert "POST /v1/querybatch" in osv.requests
    run_dir = latest_run(repo, "add-admin-tools")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["status"], manifest["plugin"]["status"]) == ("failed", "failed")
    review = (run_dir / "REVIEW.md").read_text(encoding="utf-8")
    for rule, line in EXPECTED_LINES.items():
        assert f"`src/vulnapp/admin.py:{line}` | `plugin/security/semgrep/{rule}`" in review
    assert "`src/vulnapp/requirements-admin.txt:1` | `plugin/security/osv/GHSA-j8r2-6x86-q33q`" in review
    sarif = json.loads((run_dir / "security.sarif").read_text(encoding="utf-8"))
    assert sarif_errors(sarif) == []
    located = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for tool_run in sarif["runs"]
        for r in tool_run["results"]
        if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/vulnapp/admin.py"
    }
    assert set(EXPECTED_LINES.items()) <= located


def test_the_workflow_uploads_the_sarif_from_a_job_of_its_own(repo: Path) -> None:
    workflow = yaml.safe_load(
        (repo / ".github" / "workflows" / "orchestrator.yml").read_text(encoding="utf-8")
    )
    writers = [
        name
        for name, job in workflow["jobs"].items()
        if (job.get("permissions") or {}).get("security-events") == "write"
    ]
    assert writers == ["code-scanning"]
    steps = workflow["jobs"]["code-scanning"]["steps"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert "matrix.task_id" in upload["with"]["category"]

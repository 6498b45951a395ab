"""solution=web end to end, as a new user runs it: bake, install the plugin's Node tools the way
`make bootstrap` does, then carry task packs through every phase with strict plugins.

- the example pack fix-site succeeds, and its run directory holds PNG screenshots and a
  web.sarif that validates against the OASIS SARIF 2.1.0 schema;
- a pack written outside the repository that adds a page with defects of its own does not
  succeed, and the findings name that page and each defect's rule.

The browser runs inside the orchestrator's sandbox; without Chromium the test is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, bake, describe, run
from jsonschema import Draft4Validator

PLUGIN = ROOT / "solutions" / "web"
SARIF_SCHEMA = PLUGIN / "tests" / "sarif-schema-2.1.0.json"
STRICT = {"ORCH_ENABLE_PLUGINS": "1", "ORCH_PLUGINS_STRICT": "1"}
BAD_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>News</title>
    <link rel="stylesheet" href="css/style.css">
  </head>
  <body>
    <main>
      <h1>News</h1>
      <img src="img/logo.png" width="64" height="64">
      <p>Read <a href="archive.html">the archive</a>.</p>
      <input type="text" name="subscribe">
    </main>
  </body>
</html>
"""
BAD_PACK = """schema: taskpack/v1
id: add-news-page
title: Add a news page
objective: Add site/news.html.
solution: web
executor:
  kind: shell
  commands:
    - cp taskpacks/add-news-page/news.html site/news.html
scope:
  allowed_paths: ["site/**"]
acceptance:
  - id: page-exists
    run: test -f site/news.html
plugin: web
"""


def chromium_present() -> bool:
    return any(os.access(p, os.X_OK) for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium")) or bool(
        shutil.which("chromium")
    )


@pytest.fixture(scope="module")
def web_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not chromium_present():
        pytest.skip("no browser (install chromium): the web solution's browser checks cannot run here")
    assert importlib.util.find_spec("playwright"), (
        "pip install -r solutions/web/requirements.txt (make bootstrap)"
    )
    repo = bake(tmp_path_factory.mktemp("web") / "out", solution="web")
    plugin = repo / "solutions" / "web"
    shutil.rmtree(plugin / "node_modules", ignore_errors=True)  # a developer's copy, never a user's
    npm = run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=plugin, timeout=600)
    assert npm.returncode == 0, describe(npm)
    return repo


def orchestrate(repo: Path, task: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ORCH_"))} | STRICT
    done = run([sys.executable, "-m", "orchestrator", "run", task], cwd=repo, env=env, timeout=900)
    runs = sorted((repo / "runs" / task).iterdir())
    return done, runs[-1]


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_example_pack_fixes_the_site_with_screenshots_and_sarif(web_repo: Path) -> None:
    done, run_dir = orchestrate(web_repo, "fix-site")
    assert done.returncode == 0, describe(done) + (run_dir / "SUMMARY.md").read_text(encoding="utf-8")
    manifest = read(run_dir / "manifest.json")
    assert (manifest["status"], manifest["plugin"]["status"]) == ("succeeded", "passed")
    shots = sorted((run_dir / "web").glob("*.png"))
    assert [p.name for p in shots] == ["about.png", "contact.png", "index.png", "team.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in shots)
    validator = Draft4Validator(read(SARIF_SCHEMA))
    assert [e.message for e in validator.iter_errors(read(run_dir / "web.sarif"))] == []
    resolved = {(f["file"], f["rule"]) for f in read(run_dir / "plugin_result.json")["details"]["resolved"]}
    assert {
        ("site/index.html", "a11y/image-alt"),
        ("site/contact.html", "a11y/label"),
        ("site/about.html", "link/broken"),
        ("site/index.html", "a11y/color-contrast"),
    } <= resolved
    indexed = {e["path"] for e in read(run_dir / "evidence_index.json")["entries"]}
    assert {"web.sarif", "web/index.png"} <= indexed


def test_a_pack_from_outside_adding_a_defective_page_does_not_succeed(web_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "add-news-page"
    outside.mkdir()
    (outside / "task.yml").write_text(BAD_PACK, encoding="utf-8")
    (outside / "news.html").write_text(BAD_PAGE, encoding="utf-8")
    shutil.copytree(outside, web_repo / "taskpacks" / "add-news-page")
    for argv in (["git", "add", "taskpacks/add-news-page"], ["git", "commit", "-qm", "add-news-page"]):
        assert run(argv, cwd=web_repo).returncode == 0
    done, run_dir = orchestrate(web_repo, "add-news-page")
    assert done.returncode == 1, describe(done)
    assert read(run_dir / "manifest.json")["plugin"]["status"] == "failed"
    found = {(f["file"], f["rule"], f["line"]) for f in read(run_dir / "plugin_result.json")["findings"]}
    for rule, line in (("a11y/image-alt", 11), ("link/broken", 12), ("a11y/label", 13)):
        assert ("site/news.html", rule, line) in found, sorted(found)
    sarif = read(run_dir / "web.sarif")["runs"][0]["results"]
    assert {r["ruleId"] for r in sarif} >= {"a11y/image-alt", "link/broken", "a11y/label"}

"""The plugin as the orchestrator runs it: plugin_request/v1 on stdin, plugin_result/v1 out, SARIF beside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from webcheck import options

PLUGIN_DIR = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = Path(__file__).resolve().parent / "sarif-schema-2.1.0.json"

BEGIN, END = "----- BEGIN plugin_result/v1 -----", "----- END plugin_result/v1 -----"
FIXES = {
    "index.html": [
        (
            '<img src="logo.png" width="64" height="64">',
            '<img src="logo.png" width="64" height="64" alt="Logo">',
        ),
        (
            '<input type="text" name="q">',
            '<label for="q">Find</label><input id="q" type="text" name="q"><button type="submit">Go</button>',
        ),
        (
            '<a href="missing.html">a page that is not there</a>',
            '<a href="page.html">a page that is there</a>',
        ),
        ("page.html#nowhere", "page.html#here"),
    ],
    "style.css": [("#c4c4c4", "#555555")],
    "runtime.html": [('src="gone.png"', 'src="logo.png"')],
    "app.js": [("console.error", "console.log")],
}


def request(opts: dict[str, Any], changed: list[str], base: str = "") -> str:
    return json.dumps(
        {
            "schema": "plugin_request/v1",
            "plugin": {"name": "web", "version": "0.1.0", "dir": str(PLUGIN_DIR)},
            "run": {"id": "r1", "dir": "/nonexistent"},
            "task": {"id": "fix-site", "data": {}},
            "workspace": "",
            "base": base,
            "changed_files": changed,
            "deleted_files": [],
            "options": opts,
        }
    )


def run_plugin(
    workspace: Path, out: Path, opts: dict[str, Any], changed: list[str], base: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORCH_PLUGIN_OUT": str(out)}
    return subprocess.run(
        [sys.executable, str(PLUGIN_DIR / "plugin.py")],
        input=request(opts, changed, base),
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def result_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout.split(BEGIN)[-1].split(END)[0]
    return json.loads(text)


def sarif_errors(path: Path) -> list[str]:
    validator = Draft4Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))
    return [e.message for e in validator.iter_errors(json.loads(path.read_text(encoding="utf-8")))]


def fix(site: Path) -> None:
    for name, edits in FIXES.items():
        text = (site / name).read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, (name, old)
            text = text.replace(old, new)
        (site / name).write_text(text, encoding="utf-8")


def test_the_defective_site_fails_and_its_sarif_locates_every_defect(
    workspace: Path, tmp_path: Path, chromium: str
) -> None:
    result = result_of(run_plugin(workspace, tmp_path / "out", {}, ["site/style.css"]))
    assert result["status"] == "failed"
    rules = {(f["file"], f["rule"]) for f in result["findings"]}
    for expected in ("a11y/image-alt", "a11y/label", "a11y/color-contrast", "link/broken", "html/wcag/h37"):
        assert ("site/index.html", expected) in rules
    sarif = tmp_path / "out" / "web.sarif"
    assert sarif_errors(sarif) == []
    results = json.loads(sarif.read_text(encoding="utf-8"))["runs"][0]["results"]
    broken = next(r for r in results if r["ruleId"] == "link/broken")
    assert broken["locations"][0]["physicalLocation"]["region"] == {"startLine": 16, "startColumn": 10}
    listed = {a["path"] for a in result["details"]["artifacts"]}
    assert listed == {"web.sarif", "web/index.png", "web/page.png", "web/runtime.png"}
    assert all((tmp_path / "out" / p).is_file() for p in listed)


def test_the_fixed_site_passes(workspace: Path, tmp_path: Path, chromium: str) -> None:
    fix(workspace / "site")
    result = result_of(run_plugin(workspace, tmp_path / "out", {"require_all": True}, ["site/style.css"]))
    assert result["status"] == "passed", result["findings"]
    assert [f for f in result["findings"] if f["severity"] != "note"] == []
    assert sarif_errors(tmp_path / "out" / "web.sarif") == []


def test_only_the_changed_page_is_checked(workspace: Path, tmp_path: Path, chromium: str) -> None:
    result = result_of(run_plugin(workspace, tmp_path / "out", {"checks": ["links"]}, ["site/page.html"]))
    assert (result["status"], result["details"]["pages"]) == ("passed", ["site/page.html"])


@pytest.mark.parametrize(
    ("opts", "where"),
    [
        ({"fail_on_impact": "huge"}, "options.fail_on_impact"),
        ({"checks": ["html", "spelling"]}, "options.checks[1]"),
        ({"root": "../outside"}, "options.root"),
        ({"serve": "npm run preview"}, "options"),
        ({"url": "http://example.com/", "serve": "x"}, "options.url"),
        ({"colour": "blue"}, "options"),
        ({"root": "public"}, "options.root: 'public' is not a directory"),
    ],
)
def test_a_bad_option_is_a_located_error_exit_2(
    workspace: Path, tmp_path: Path, opts: dict, where: str
) -> None:
    done = run_plugin(workspace, tmp_path / "out", opts, [])
    assert done.returncode == 2
    assert where in done.stderr and "Traceback" not in done.stderr
    assert BEGIN not in done.stdout
    assert not (tmp_path / "out").exists()


def test_the_options_schema_default_matches_the_parser() -> None:
    props = options.schema()["properties"]
    parsed = options.parse({})
    assert (props["root"]["default"], props["fail_on_impact"]["default"]) == (
        parsed.root,
        parsed.fail_on_impact,
    )


def test_findings_the_change_resolved_are_listed_against_the_base_commit(
    workspace: Path, tmp_path: Path
) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "base"]):
        subprocess.run(argv, cwd=workspace, check=True, capture_output=True)
    fix(workspace / "site")
    opts = {"checks": ["links"], "pages": ["index.html"]}
    result = result_of(run_plugin(workspace, tmp_path / "out", opts, ["site/index.html"], base="HEAD"))
    assert result["status"] == "passed"
    assert {(f["file"], f["rule"]) for f in result["details"]["resolved"]} == {
        ("site/index.html", "link/broken"),
        ("site/index.html", "link/anchor"),
    }
    assert (result["metrics"]["resolved"], result["metrics"]["introduced"]) == (2, 0)
    assert "since base: 2 resolved, 0 introduced" in result["summary"]

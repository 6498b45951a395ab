"""The security plugin judges a change: run as the orchestrator runs it, against real git and real tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from security_testkit import REQUESTS_ADVISORY, PluginRun, Repo, osv_server, run_plugin, sarif_errors

SAFE_MODULE = "import yaml\n\n\ndef load(text):\n    return yaml.safe_load(text)\n"
VULNERABLE = """import subprocess

import requests
import yaml


def find(cursor, user):
    cursor.execute(f"SELECT * FROM users WHERE name = '{user}'")
    return cursor.fetchall()


def shell(cmd):
    subprocess.run(cmd, shell=True)


def parse(data):
    return yaml.load(data)


def fetch(url):
    return requests.get(url, verify=False, timeout=5)
"""


@pytest.fixture(scope="module")
def introduced(tmp_path_factory: pytest.TempPathFactory) -> PluginRun:
    """One run over a change that adds four kinds of vulnerable code (shared by the tests that read it)."""
    tmp_path = tmp_path_factory.mktemp("introduced")
    repo = Repo.create(tmp_path / "repo", {"app/safe.py": SAFE_MODULE})
    repo.write({"app/bad.py": VULNERABLE})
    return run_plugin(repo.request(task_id="add-bad"), tmp_path / "out")


def test_introduced_vulnerabilities_fail_with_each_finding_located(introduced: PluginRun) -> None:
    run = introduced
    assert run.result["status"] == "failed"
    rules = run.rules_at("app/bad.py")
    assert ("semgrep/python-sql-string-formatting", 8) in rules
    assert ("semgrep/python-subprocess-shell-true", 13) in rules
    assert ("semgrep/python-yaml-unsafe-load", 17) in rules
    assert ("semgrep/python-requests-verify-false", 21) in rules
    assert {("bandit/B608", 8), ("bandit/B602", 13), ("bandit/B506", 17), ("bandit/B501", 21)} <= rules
    assert "app/bad.py:8" in run.result["summary"]


def test_sarif_validates_against_the_oasis_schema_and_locates_results(introduced: PluginRun) -> None:
    run = introduced
    assert run.sarif is not None
    assert sarif_errors(run.sarif) == []
    assert [r["tool"]["driver"]["name"] for r in run.sarif["runs"]] == ["bandit", "semgrep", "detect-secrets"]
    assert {r["automationDetails"]["id"] for r in run.sarif["runs"]} == {"security/add-bad/"}
    semgrep = run.sarif["runs"][1]["results"]
    located = {
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["level"],
        )
        for r in semgrep
    }
    assert ("python-sql-string-formatting", "app/bad.py", 8, "error") in located
    assert all(r["baselineState"] == "new" for r in semgrep)


def test_fingerprints_are_stable_across_runs_and_when_code_moves(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"app/safe.py": SAFE_MODULE})
    repo.write({"app/bad.py": VULNERABLE})
    first = run_plugin(repo.request({"tools": ["sast"]}), tmp_path / "out1").sarif
    repo.write({"app/bad.py": "# a comment moves every line down\n\n" + VULNERABLE})
    moved = run_plugin(repo.request({"tools": ["sast"]}), tmp_path / "out2").sarif
    assert first is not None and moved is not None

    def prints(doc: dict) -> list[str]:
        return sorted(
            r["partialFingerprints"]["orchestratorSecurity/v1"] for run in doc["runs"] for r in run["results"]
        )

    assert prints(first) == prints(moved)
    assert len(set(prints(first))) == len(prints(first))


def test_findings_already_at_the_base_do_not_count_but_are_listed(tmp_path: Path) -> None:
    repo = Repo.create(
        tmp_path / "repo", {"app/old.py": "import yaml\n\n\ndef load(t):\n    return yaml.load(t)\n"}
    )
    repo.write({"app/old.py": "import yaml\n\n\ndef load(t):\n    return yaml.load(t)\n\n\nVERSION = 2\n"})
    run = run_plugin(repo.request(), tmp_path / "out")
    assert run.result["status"] == "passed"
    assert run.result["metrics"]["unchanged"] >= 1
    assert {f["rule"] for f in run.result["details"]["unchanged"]} >= {"semgrep/python-yaml-unsafe-load"}
    assert all(f["rule"].endswith("/skipped") for f in run.result["findings"]) or run.result["findings"] == []


def test_baseline_none_judges_every_finding_in_the_changed_files(tmp_path: Path) -> None:
    repo = Repo.create(
        tmp_path / "repo", {"app/old.py": "import yaml\n\n\ndef load(t):\n    return yaml.load(t)\n"}
    )
    repo.write({"app/old.py": "import yaml\n\n\ndef load(t):\n    return yaml.load(t)\n\n\nVERSION = 2\n"})
    run = run_plugin(repo.request({"baseline": "none"}), tmp_path / "out")
    assert run.result["status"] == "failed"
    assert ("semgrep/python-yaml-unsafe-load", 5) in run.rules_at("app/old.py")


def test_a_fix_lists_the_findings_it_resolves(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"app/bad.py": VULNERABLE})
    repo.write({"app/bad.py": VULNERABLE.replace("yaml.load(data)", "yaml.safe_load(data)")})
    run = run_plugin(repo.request({"tools": ["sast"]}), tmp_path / "out")
    resolved = {(f["rule"], f["line"]) for f in run.result["details"]["resolved"]}
    assert ("semgrep/python-yaml-unsafe-load", 17) in resolved
    assert "resolved by the change: " in run.result["summary"] and "app/bad.py:17" in run.result["summary"]
    assert run.result["status"] == "passed"


def test_inline_suppressions_and_tool_configs_in_the_change_are_ignored(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"README.md": "x\n"})
    repo.write(
        {
            "app/sneaky.py": (
                "import subprocess\n\n\ndef go(c):\n    subprocess.run(c, shell=True)  # nosec # nosemgrep\n"
            ),
            ".semgrepignore": "app/\n",
            ".bandit": "[bandit]\nexclude = app\nskips = B602\n",
        }
    )
    run = run_plugin(repo.request({"tools": ["sast"]}), tmp_path / "out")
    rules = run.rules_at("app/sneaky.py")
    assert ("semgrep/python-subprocess-shell-true", 5) in rules
    assert ("bandit/B602", 5) in rules


def test_javascript_and_html_templates_are_scanned(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"README.md": "x\n"})
    repo.write(
        {
            "web/app.js": "const el = document.getElementById('o');\nel.innerHTML = location.hash;\n",
            "web/page.html": "<p>{{ comment | safe }}</p>\n",
        }
    )
    run = run_plugin(repo.request({"tools": ["sast"]}), tmp_path / "out")
    assert ("semgrep/js-inner-html", 2) in run.rules_at("web/app.js")
    assert ("semgrep/template-autoescape-off", 1) in run.rules_at("web/page.html")


def test_secrets_on_added_lines_in_new_paths_and_in_binaries_are_found(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"conf/settings.py": "DEBUG = False\n"})
    key = "AKIA" + "IOSFODNN7EXAMPL1"
    repo.write(
        {
            "conf/settings.py": f"DEBUG = False\nAWS_ACCESS_KEY_ID = '{key}'\n",
            f"keys/{key}.txt": "placeholder\n",
            "assets/blob.bin": b"\x00\x01\x02" + f"aws_key={key}".encode() + b"\x00\xff",
        }
    )
    run = run_plugin(repo.request({"tools": ["secrets"]}), tmp_path / "out")
    found = {
        (f["file"], f["line"]) for f in run.result["findings"] if f["rule"].startswith("detect-secrets/")
    }
    assert ("conf/settings.py", 2) in found
    assert (f"keys/{key}.txt", 0) in found
    assert ("assets/blob.bin", 0) in found
    assert run.result["status"] == "failed"
    assert all(key not in f["message"] for f in run.result["findings"])


def test_dependency_audit_without_a_declared_service_is_skipped_never_passed(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"requirements.txt": "requests==2.31.0\n"})
    repo.write({"requirements.txt": "requests==2.19.0\n"})
    with osv_server({("PyPI", "requests", "2.19.0"): [REQUESTS_ADVISORY]}) as osv:
        run = run_plugin(repo.request({"tools": ["deps"], "osv_url": osv.url}), tmp_path / "out")
        strict = run_plugin(
            repo.request({"tools": ["deps"], "osv_url": osv.url, "require_all": True}), tmp_path / "out2"
        )
    assert osv.requests == []
    assert "skipped osv: no vulnerability service declared" in run.result["summary"]
    assert run.result["details"]["tools"]["osv"]["skipped"].startswith("no vulnerability service declared")
    assert any(f["rule"] == "osv/skipped" for f in run.result["findings"])
    assert strict.result["status"] == "failed"


def test_a_pin_with_a_known_advisory_fails_and_names_the_advisory(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"requirements.txt": "flask==3.0.0\nrequests==2.31.0\n"})
    repo.write({"requirements.txt": "flask==3.0.0\nrequests==2.19.0\n"})
    with osv_server({("PyPI", "requests", "2.19.0"): [REQUESTS_ADVISORY]}) as osv:
        host = osv.url.removeprefix("http://")
        run = run_plugin(
            repo.request({"tools": ["deps"], "osv_url": osv.url}, hosts=[host]), tmp_path / "out"
        )
    assert "POST /v1/querybatch" in osv.requests
    assert run.result["status"] == "failed"
    finding = next(f for f in run.result["findings"] if f["rule"] == "osv/GHSA-j8r2-6x86-q33q")
    assert (finding["file"], finding["line"], finding["severity"]) == ("requirements.txt", 2, "warning")
    assert "fixed in 2.31.0" in finding["message"]
    assert run.sarif is not None and sarif_errors(run.sarif) == []


def test_an_unreachable_service_is_skipped_with_the_error(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"README.md": "x\n"})
    repo.write(
        {
            "package-lock.json": '{"lockfileVersion": 3, "packages": {"": {}, '
            '"node_modules/lodash": {"version": "4.17.20"}}}\n'
        }
    )
    run = run_plugin(
        repo.request({"tools": ["deps"], "osv_url": "http://127.0.0.1:9"}, hosts=["127.0.0.1:9"]),
        tmp_path / "out",
    )
    assert run.result["details"]["tools"]["osv"]["skipped"].startswith("vulnerability service unavailable")
    assert run.result["status"] == "passed"
    assert run.result["metrics"]["skipped_tools"] == 1


def test_fail_on_never_reports_without_failing(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"README.md": "x\n"})
    repo.write({"app/bad.py": VULNERABLE})
    run = run_plugin(repo.request({"fail_on": "never", "tools": ["sast"]}), tmp_path / "out")
    assert run.result["status"] == "passed"
    assert run.result["metrics"]["new_error"] > 0


def test_excluded_paths_are_not_scanned(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"README.md": "x\n"})
    repo.write({"vendor/bad.py": VULNERABLE})
    run = run_plugin(repo.request({"exclude": ["vendor/**"], "tools": ["sast"]}), tmp_path / "out")
    assert run.result["status"] == "passed"
    assert run.result["metrics"]["files_excluded"] == 1


def test_extra_rules_come_from_the_base_commit_not_the_change(tmp_path: Path) -> None:
    rule = (
        "rules:\n  - id: no-print\n    languages: [python]\n    severity: WARNING\n"
        "    message: no print\n    pattern: print(...)\n"
    )
    repo = Repo.create(tmp_path / "repo", {"policy/rules.yml": rule})
    repo.write({"app/x.py": "print('hi')\n", "policy/rules.yml": "rules: []\n"})
    run = run_plugin(repo.request({"rules": ["policy/rules.yml"], "tools": ["sast"]}), tmp_path / "out")
    assert ("semgrep/no-print", 1) in run.rules_at("app/x.py")


def test_a_bad_option_is_a_located_error(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"README.md": "x\n"})
    run = run_plugin(repo.request({"fail_on": "sometimes"}), tmp_path / "out")
    assert run.result["status"] == "error"
    assert run.result["summary"].startswith("bad plugin options: plugin.options.fail_on:")
    run = run_plugin(repo.request({"tools": ["sast", "fuzz"]}), tmp_path / "out")
    assert "plugin.options.tools[1]" in run.result["summary"]


def test_a_symlink_in_the_change_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("import os\nos.system('id')\n", encoding="utf-8")
    repo = Repo.create(tmp_path / "repo", {"README.md": "x\n"})
    (repo.root / "app").mkdir()
    (repo.root / "app" / "link.py").symlink_to(outside)
    run = run_plugin(repo.request({"tools": ["sast", "secrets"]}), tmp_path / "out")
    assert run.rules_at("app/link.py") == set()
    assert "not regular files, not scanned: app/link.py" in run.result["summary"]


def test_the_sarif_is_identical_when_the_same_change_is_judged_again(tmp_path: Path) -> None:
    repo = Repo.create(tmp_path / "repo", {"README.md": "x\n"})
    repo.write({"app/bad.py": VULNERABLE})
    first = run_plugin(repo.request({"tools": ["sast"]}), tmp_path / "a")
    second = run_plugin(repo.request({"tools": ["sast"]}), tmp_path / "b")
    assert (tmp_path / "a" / "security.sarif").read_bytes() == (
        tmp_path / "b" / "security.sarif"
    ).read_bytes()
    assert first.result["findings"] == second.result["findings"]

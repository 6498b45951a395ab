"""Pure parts of the security plugin: levels, base/head comparison, manifest parsers, the service check."""

from __future__ import annotations

from pathlib import Path

import pytest
import security_testkit  # noqa: F401  (puts the plugin directory on sys.path)
from secscan import deps, osv, report, sast
from secscan.model import Finding, Level, Tool, ToolRun, compare, level_of, with_fingerprints


def finding(line: int, key: str = "cursor.execute(q)", rule: str = "B608") -> Finding:
    return Finding(Tool.BANDIT, rule, Level.WARNING, "app.py", line, "m", 0, key)


def test_tool_severities_map_to_sarif_levels() -> None:
    assert [level_of(s) for s in ("HIGH", "MEDIUM", "LOW")] == [Level.ERROR, Level.WARNING, Level.NOTE]
    assert [level_of(s) for s in ("ERROR", "WARNING", "INFO")] == [Level.ERROR, Level.WARNING, Level.NOTE]
    assert level_of("CRITICAL") is Level.ERROR and level_of("MODERATE") is Level.WARNING


def test_a_finding_that_only_moved_is_not_new() -> None:
    result = compare([finding(10)], [finding(42)])
    assert (result.new, [f.line for f in result.unchanged], result.resolved) == ([], [42], [])


def test_a_second_copy_of_an_existing_problem_is_new() -> None:
    result = compare([finding(10)], [finding(10), finding(20)])
    assert [f.line for f in result.new] == [20]


def test_a_finding_gone_at_the_head_is_resolved() -> None:
    result = compare([finding(10), finding(11, key="other")], [finding(10)])
    assert [f.key for f in result.resolved] == ["other"]


def test_fingerprints_ignore_lines_and_number_repeats() -> None:
    first = [fp for _, fp in with_fingerprints([finding(1), finding(2)])]
    moved = [fp for _, fp in with_fingerprints([finding(5), finding(9)])]
    assert first == moved and len(set(first)) == 2


def test_requirements_pins_with_continuations_hashes_and_markers() -> None:
    text = (
        "# tools\nrequests==2.19.0 \\\n    --hash=sha256:abc\nFlask>=2\nPyYAML==5.3 ; python_version < '4'\n"
        "-r other.txt\n"
    )
    parsed = deps.parse("requirements-dev.txt", text.encode())
    assert [(p.name, p.version, p.line) for p in parsed.pins] == [
        ("requests", "2.19.0", 2),
        ("pyyaml", "5.3", 5),
    ]
    assert parsed.unpinned == 1


def test_pyproject_project_and_poetry_pins() -> None:
    text = (
        '[project]\nname = "x"\ndependencies = ["jinja2==2.10", "click>=8"]\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nurllib3 = "1.24.1"\n'
    )
    parsed = deps.parse("pyproject.toml", text.encode())
    assert [(p.name, p.version) for p in parsed.pins] == [("jinja2", "2.10"), ("urllib3", "1.24.1")]
    assert parsed.unpinned == 1


def test_uv_and_poetry_locks_skip_the_project_itself() -> None:
    text = (
        'version = 1\n[[package]]\nname = "me"\nversion = "0.1.0"\nsource = { editable = "." }\n\n'
        '[[package]]\nname = "Django"\nversion = "3.2.0"\n'
    )
    parsed = deps.parse("uv.lock", text.encode())
    assert [(p.name, p.version, p.line) for p in parsed.pins] == [("django", "3.2.0", 8)]


def test_package_lock_v1_and_v3() -> None:
    v3 = (
        '{"lockfileVersion": 3, "packages": {"": {"name": "app"}, '
        '"node_modules/lodash": {"version": "4.17.20"}}}'
    )
    v1 = '{"lockfileVersion": 1, "dependencies": {"minimist": {"version": "0.0.8", "dependencies": {}}}}'
    assert [(p.ecosystem, p.name, p.version) for p in deps.parse("package-lock.json", v3.encode()).pins] == [
        ("npm", "lodash", "4.17.20")
    ]
    assert [(p.name, p.version) for p in deps.parse("a/package-lock.json", v1.encode()).pins] == [
        ("minimist", "0.0.8")
    ]


def test_a_manifest_that_does_not_parse_is_reported() -> None:
    assert "not parsed" in deps.parse("poetry.lock", b"[[package]\n").error


def test_the_service_is_declared_by_its_host_or_the_osv_preset() -> None:
    assert osv.declared("https://api.osv.dev", ["@osv"])
    assert osv.declared("https://api.osv.dev", ["api.osv.dev"])
    assert osv.declared("http://127.0.0.1:8765", ["127.0.0.1:8765"])
    assert not osv.declared("http://127.0.0.1:8765", ["127.0.0.1:9999", "@osv"])
    assert not osv.declared("https://osv.internal.example", ["@osv"])
    assert not osv.declared("https://api.osv.dev", [])


def test_a_missing_semgrep_is_reported_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sast, "interpreter_bin", lambda name: None)
    run = sast.run_semgrep(tmp_path, [])
    assert run.skipped.startswith("semgrep unavailable") and run.head == []


def test_a_skipped_tool_is_listed_and_fails_only_when_all_are_required() -> None:
    skipped = ToolRun(Tool.SEMGREP, skipped="semgrep unavailable")
    runs = [(skipped, compare([], []))]
    lenient = report.build("security", "t", runs, Level.WARNING, False, True, {}, [])
    strict = report.build("security", "t", runs, Level.WARNING, True, True, {}, [])
    assert lenient["status"] == "passed" and "skipped semgrep: semgrep unavailable" in lenient["summary"]
    assert [f["rule"] for f in lenient["findings"]] == ["semgrep/skipped"]
    assert strict["status"] == "failed"

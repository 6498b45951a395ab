"""The review runner: deterministic reports, and each check's failing case with the verdict it leads to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from synthetic_run import DIFF, Synthetic, make_run, read

from orchestrator import reviewing
from orchestrator.fsio import sha256_file, write_json
from orchestrator.phaselog import PhaseLog
from orchestrator.phases import review
from orchestrator.redact import MASK, Redactor
from orchestrator.schemas import validator

ROOT = Path(__file__).resolve().parents[2]
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def new_file(path: str, *lines: str) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{body}"
    )


def do_review(s: Synthetic) -> dict[str, Any]:
    s.save()
    report = review.review_run_dir(
        s.run_dir, s.task.data, s.manifest["task"]["path"], s.task.file.read_bytes()
    )
    errors = list(validator("review_report.v1.json").iter_errors(read(s.run_dir / review.REPORT)))
    assert not errors, [e.message for e in errors]
    return report


def check_of(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check_id)


def rules(report: dict[str, Any], check_id: str) -> list[str]:
    return [f["rule"] for f in check_of(report, check_id)["findings"]]


# --- determinism ---------------------------------------------------------------------------


def test_clean_run_is_approved_with_every_check_listed(tmp_path: Path) -> None:
    report = do_review(make_run(tmp_path))
    assert report["verdict"] == "approve"
    assert [c["id"] for c in report["checks"]] == list(reviewing.CHECK_ORDER)
    assert report["inputs"]["diff.patch"] == sha256_file(
        tmp_path / "repo/runs/add-slug" / report["run_id"] / "diff.patch"
    )
    assert report["rules"] == list(reviewing.RULES)


def test_rerun_is_byte_identical(tmp_path: Path) -> None:
    s = make_run(tmp_path, diff=DIFF + new_file("src/key.py", f'KEY = "{AWS_KEY}"'))
    do_review(s)
    first = ((s.run_dir / review.REPORT).read_bytes(), (s.run_dir / review.REVIEW_MD).read_bytes())
    s.manifest["phases"]["review"].update(status="passed", started_at="2030-01-01T00:00:00Z")
    s.manifest["acceptance"][0]["duration_seconds"] = 99.5
    do_review(s)
    assert ((s.run_dir / review.REPORT).read_bytes(), (s.run_dir / review.REVIEW_MD).read_bytes()) == first


SCRIPT = """
import sys
from pathlib import Path
from orchestrator.taskpack import load_taskpack
from orchestrator.phases.review import review_run_dir
repo, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
task = load_taskpack(repo, "add-slug")
review_run_dir(run_dir, task.data, "taskpacks/add-slug/task.yml", task.file.read_bytes())
"""


@pytest.mark.parametrize(
    "env",
    [
        {"TZ": "Pacific/Kiritimati", "LANG": "tr_TR.UTF-8", "LC_ALL": "tr_TR.UTF-8", "PYTHONHASHSEED": "1"},
        {"TZ": "America/St_Johns", "LANG": "C", "LC_ALL": "C", "PYTHONHASHSEED": "12345", "PYTHONUTF8": "0"},
    ],
)
def test_subprocess_from_another_cwd_timezone_and_locale_writes_the_same_bytes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    s = make_run(tmp_path, diff=DIFF + new_file("docs/ü ñ.md", "héllo", f"token = {AWS_KEY}"))
    do_review(s)
    expected = ((s.run_dir / review.REPORT).read_bytes(), (s.run_dir / review.REVIEW_MD).read_bytes())
    (s.run_dir / review.REPORT).unlink()
    (s.run_dir / review.REVIEW_MD).unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(s.repo), str(s.run_dir)],
        check=False,
        cwd=elsewhere,
        env=full_env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert ((s.run_dir / review.REPORT).read_bytes(), (s.run_dir / review.REVIEW_MD).read_bytes()) == expected


def test_inputs_digest_is_of_the_diff_bytes_even_when_they_are_not_utf8(tmp_path: Path) -> None:
    s = make_run(tmp_path, diff=DIFF)
    (s.run_dir / "diff.patch").write_bytes(DIFF.encode() + b"\xff\xfe")
    assert do_review(s)["inputs"]["diff.patch"] == sha256_file(s.run_dir / "diff.patch")


def test_report_holds_no_absolute_path_or_time(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    do_review(s)
    text = (s.run_dir / review.REPORT).read_text(encoding="utf-8") + (s.run_dir / review.REVIEW_MD).read_text(
        "utf-8"
    )
    assert str(tmp_path) not in text
    assert "2025-01-01T" not in text


# --- each check's failing case -------------------------------------------------------------


def test_failed_acceptance_requests_changes_and_points_at_the_check_in_the_pack(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["acceptance"][1].update(status="failed", exit_code=3)
    report = do_review(s)
    assert report["verdict"] == "request_changes"
    [found] = check_of(report, "acceptance")["findings"]
    lines = s.task.file.read_text(encoding="utf-8").splitlines()
    assert found["rule"] == "acceptance/failed" and "lint" in lines[found["line"] - 1]
    assert "acceptance" in report["reason"]


def test_acceptance_without_results_fails(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["acceptance"] = []
    assert rules(do_review(s), "acceptance") == ["acceptance/not-run", "acceptance/not-run"]


def test_path_outside_allowed_scope_requests_changes(tmp_path: Path) -> None:
    report = do_review(make_run(tmp_path, diff=DIFF + new_file("docs/notes.md", "hi")))
    assert report["verdict"] == "request_changes"
    assert check_of(report, "scope")["findings"][0]["file"] == "docs/notes.md"
    assert rules(report, "scope") == ["scope/outside-allowed"]


def test_forbidden_path_fails_scope_even_when_allowed(tmp_path: Path) -> None:
    s = make_run(
        tmp_path,
        diff=new_file("src/secret/x.py", "x = 1"),
        scope={"allowed_paths": ["src/**"], "forbidden_paths": ["src/secret/**"]},
    )
    assert rules(do_review(s), "scope") == ["scope/forbidden"]


def test_missing_diff_fails_scope(tmp_path: Path) -> None:
    report = do_review(make_run(tmp_path, diff=None))
    assert rules(report, "scope") == ["scope/no-diff"]
    assert report["inputs"]["diff.patch"] is None


@pytest.mark.parametrize(
    "path",
    [
        "noxfile.py",
        "taskpacks/add-slug/task.yml",
        ".github/workflows/ci.yml",
        "orchestrator/review.py",
        "AGENTS.md",
        "solutions/web/plugin.py",
    ],
)
def test_touching_a_control_plane_file_rejects_even_with_an_open_scope(tmp_path: Path, path: str) -> None:
    report = do_review(make_run(tmp_path, diff=new_file(path, "x"), scope={"allowed_paths": ["**"]}))
    assert report["verdict"] == "reject"
    assert rules(report, "control-plane") == ["control-plane/touched"]


def test_symlink_out_of_the_workspace_rejects(tmp_path: Path) -> None:
    diff = (
        "diff --git a/src/link b/src/link\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n"
        "+++ b/src/link\n@@ -0,0 +1 @@\n+../../etc/passwd\n\\ No newline at end of file\n"
    )
    report = do_review(make_run(tmp_path, diff=diff))
    assert report["verdict"] == "reject"
    assert rules(report, "control-plane") == ["control-plane/symlink-escape"]


def test_secret_in_an_added_line_rejects_with_its_line_and_without_its_value(tmp_path: Path) -> None:
    s = make_run(tmp_path, diff=DIFF + new_file("src/conf.py", "import os", f'AWS = "{AWS_KEY}"'))
    report = do_review(s)
    assert report["verdict"] == "reject"
    found = check_of(report, "secrets")["findings"]
    assert [(f["file"], f["line"], f["rule"]) for f in found] == [("src/conf.py", 2, "secrets/detected")]
    assert AWS_KEY not in (s.run_dir / review.REPORT).read_text("utf-8") + (
        s.run_dir / review.REVIEW_MD
    ).read_text("utf-8")


def test_secret_line_number_survives_form_feeds_in_earlier_lines(tmp_path: Path) -> None:
    report = do_review(
        make_run(tmp_path, diff=new_file("src/conf.py", "a\x0cb\x0bc", "", f'K = "{AWS_KEY}"'))
    )
    assert [f["line"] for f in check_of(report, "secrets")["findings"]] == [3]


def test_secret_in_a_removed_line_is_not_a_finding(tmp_path: Path) -> None:
    diff = (
        "diff --git a/src/conf.py b/src/conf.py\nindex 1111111..2222222 100644\n--- a/src/conf.py\n"
        f'+++ b/src/conf.py\n@@ -1,1 +1,1 @@\n-AWS = "{AWS_KEY}"\n+AWS = None\n'
    )
    assert check_of(do_review(make_run(tmp_path, diff=diff)), "secrets")["status"] == "pass"


def test_redacted_value_in_the_diff_rejects(tmp_path: Path) -> None:
    report = do_review(make_run(tmp_path, diff=new_file("src/x.py", "a = 1", f"b = '{MASK}'")))
    assert [(f["line"], f["rule"]) for f in check_of(report, "secrets")["findings"]] == [
        (2, "secrets/redacted-value")
    ]


def test_too_many_files_and_lines_request_changes(tmp_path: Path) -> None:
    s = make_run(tmp_path, limits={"max_changed_files": 1, "max_diff_lines": 2})
    report = do_review(s)
    assert report["verdict"] == "request_changes"
    assert rules(report, "size") == ["size/max-changed-files", "size/max-diff-lines"]


def test_tripped_breaker_requests_changes(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["breakers"] = [{"name": "max_output_bytes", "limit": 10, "measured": 11, "phase": "execute"}]
    report = do_review(s)
    assert report["verdict"] == "request_changes" and rules(report, "breakers") == [
        "breakers/max_output_bytes"
    ]


def _plugin(s: Synthetic, status: str, strict: bool, findings: list[dict[str, Any]] | None = None) -> None:
    result = {
        "schema": "plugin_result/v1",
        "name": "security",
        "version": "1",
        "status": status,
        "summary": "s",
        "findings": findings or [],
        "metrics": {},
    }
    write_json(s.run_dir / "plugin_result.json", result)
    s.manifest["plugin"] = {
        "name": "security",
        "version": "1",
        "status": status,
        "strict": strict,
        "sha256": sha256_file(s.run_dir / "plugin_result.json"),
    }


def test_strict_plugin_failure_fails_and_carries_the_plugin_findings(tmp_path: Path) -> None:
    s = make_run(tmp_path, plugin="security")
    _plugin(
        s,
        "failed",
        True,
        [{"file": "src/slug.py", "line": 2, "rule": "B101", "severity": "error", "message": "assert used"}],
    )
    report = do_review(s)
    assert report["verdict"] == "request_changes"
    assert check_of(report, "plugin")["status"] == "fail"
    assert "plugin/security/B101" in rules(report, "plugin")


def test_non_strict_plugin_failure_only_warns(tmp_path: Path) -> None:
    s = make_run(tmp_path, plugin="security")
    _plugin(s, "failed", False)
    report = do_review(s)
    assert check_of(report, "plugin")["status"] == "warn"
    assert report["verdict"] == "approve" and "plugin" in report["reason"]


def test_plugin_result_that_differs_from_the_manifest_digest_fails(tmp_path: Path) -> None:
    s = make_run(tmp_path, plugin="security")
    _plugin(s, "passed", False)
    (s.run_dir / "plugin_result.json").write_text("{}", encoding="utf-8")
    assert "plugin/result-mismatch" in rules(do_review(s), "plugin")


def test_codex_without_turn_completed_fails_executor_health(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["executor"].update(kind="codex", health={"turn_completed": False, "last_message": ""})
    report = do_review(s)
    assert rules(report, "executor") == ["executor/no-last-message", "executor/no-turn-completed"]
    assert report["verdict"] == "request_changes"


def test_codex_with_turn_completed_and_last_message_passes(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["executor"].update(
        kind="codex", health={"turn_completed": True, "last_message": "done"}, usage={"turns": 2}
    )
    assert check_of(do_review(s), "executor")["status"] == "pass"


def test_denied_network_attempt_rejects(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["safety"]["denied"] = [{"kind": "network", "target": "example.com:443", "phase": "execute"}]
    report = do_review(s)
    assert report["verdict"] == "reject" and rules(report, "permissions") == ["permissions/denied-network"]


def test_denied_cloud_attempt_rejects(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["safety"]["denied"] = [{"kind": "cloud", "target": "aws", "phase": "execute"}]
    assert do_review(s)["verdict"] == "reject"


def test_declared_but_unused_network_warns_over_declared(tmp_path: Path) -> None:
    s = make_run(tmp_path, safety={"network": {"hosts": ["pypi.org", "files.pythonhosted.org"]}})
    s.manifest["safety"]["used"] = [{"kind": "network", "target": "pypi.org"}]
    report = do_review(s)
    assert check_of(report, "permissions")["status"] == "warn"
    assert [f["message"].split(" is ")[0] for f in check_of(report, "permissions")["findings"]] == [
        "network files.pythonhosted.org"
    ]
    assert report["verdict"] == "approve"


def test_used_but_undeclared_host_rejects(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["safety"]["used"] = [{"kind": "network", "target": "evil.example"}]
    assert rules(do_review(s), "permissions") == ["permissions/undeclared-network"]


def test_unsafe_run_rejects(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    s.manifest["unsafe"] = True
    report = do_review(s)
    assert report["verdict"] == "reject" and rules(report, "permissions") == ["permissions/unsafe-run"]


def test_reject_reason_names_safety_and_other_failures(tmp_path: Path) -> None:
    s = make_run(tmp_path, diff=new_file("noxfile.py", "x"), scope={"allowed_paths": ["src/**"]})
    report = do_review(s)
    assert report["reason"] == "safety check(s) failed: control-plane; also failed: scope"


# --- the phase -----------------------------------------------------------------------------


def test_phase_fails_with_exit_1_naming_the_failing_checks(tmp_path: Path) -> None:
    s = make_run(tmp_path, diff=DIFF + new_file("docs/x.md", "x"))
    s.manifest["acceptance"][0]["status"] = "failed"
    result = review.run(s.run(), PhaseLog(s.run_dir / "logs/review.log", Redactor()))
    assert (result.status, result.exit_code) == ("failed", 1)
    assert result.reason == "review request_changes: check(s) failed: acceptance, scope"
    assert {p.name for p in result.outputs} == {"review_report.json", "REVIEW.md"}
    assert result.review is not None and result.review.verdict == "request_changes"


def test_phase_passes_on_approve(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    result = review.run(s.run(), PhaseLog(s.run_dir / "logs/review.log", Redactor()))
    assert (result.status, result.exit_code) == ("passed", 0)
    assert "verdict approve" in (s.run_dir / "logs/review.log").read_text("utf-8")


# --- control plane, dependency manifests, and what an exfiltration looks like -------------


def test_the_control_plane_finding_names_the_rule_it_matched(tmp_path: Path) -> None:
    report = do_review(
        make_run(tmp_path, diff=new_file("src/conftest.py", "x = 1"), scope={"allowed_paths": ["**"]})
    )
    [found] = check_of(report, "control-plane")["findings"]
    assert "**/conftest.py" in found["message"]


def test_the_repositorys_own_control_plane_entries_recorded_by_safety_are_enforced(tmp_path: Path) -> None:
    s = make_run(tmp_path, diff=new_file("deploy/prod.yml", "replicas: 3"), scope={"allowed_paths": ["**"]})
    s.manifest["safety"]["control_plane"] = ["deploy/**"]
    assert rules(do_review(s), "control-plane") == ["control-plane/touched"]


def test_a_changed_dependency_manifest_is_listed_without_blocking(tmp_path: Path) -> None:
    s = make_run(
        tmp_path,
        diff=new_file("src/requirements.txt", "requests==2.32.3"),
        scope={"allowed_paths": ["src/**"]},
    )
    report = do_review(s)
    assert report["verdict"] == "approve"
    assert [(f["file"], f["rule"], f["level"]) for f in check_of(report, "scope")["findings"]] == [
        ("src/requirements.txt", "scope/dependency-manifest", "note")
    ]


def test_a_file_name_masked_as_a_known_secret_rejects(tmp_path: Path) -> None:
    report = do_review(make_run(tmp_path, diff=new_file(f"src/{MASK}.txt", "hello")))
    assert report["verdict"] == "reject"
    assert "secrets/redacted-path" in rules(report, "secrets")


def test_a_file_name_shaped_like_a_token_rejects_without_repeating_it_in_review_md(tmp_path: Path) -> None:
    name = "src/ghp_" + "Zx9" * 12 + ".txt"
    s = make_run(tmp_path, diff=new_file(name, "hello"))
    report = do_review(s)
    assert report["verdict"] == "reject"
    assert "secrets/detected-path" in rules(report, "secrets")


def _binary_run(tmp_path: Path, content: bytes, redactor: Redactor) -> dict[str, Any]:
    s = make_run(tmp_path, diff=None)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=s.repo, env=env, check=True, capture_output=True, text=True
        ).stdout

    git("init", "-q")
    (s.repo / "src").mkdir(exist_ok=True)
    (s.repo / "src" / "blob.bin").write_bytes(content)
    git("add", "src/blob.bin")
    tree = git("write-tree").strip()
    empty = git("hash-object", "-t", "tree", "/dev/null").strip()
    (s.run_dir / "diff.patch").write_text(git("diff", "--full-index", empty, tree), encoding="utf-8")
    s.manifest["changes"] = {"tree": tree}
    s.save()
    inputs = review.load_inputs(
        s.run_dir,
        s.task.data,
        s.manifest["task"]["path"],
        s.task.file.read_bytes(),
        s.manifest,
        s.repo,
        redactor,
    )
    return reviewing.review(inputs)


def test_a_known_secret_hidden_in_a_binary_file_rejects(tmp_path: Path) -> None:
    known = "tok" + "5f3a9c" * 6
    report = _binary_run(tmp_path, b"\x00\x01PNG" + known.encode() + b"\x00\xff" * 8, Redactor([known]))
    assert report["verdict"] == "reject"
    assert [(f["file"], f["rule"]) for f in check_of(report, "secrets")["findings"]] == [
        ("src/blob.bin", "secrets/redacted-value")
    ]


def test_a_token_shaped_string_in_a_binary_file_rejects(tmp_path: Path) -> None:
    report = _binary_run(tmp_path, b"\x00\x00" + f"key={AWS_KEY}".encode() + b"\x00", Redactor([]))
    assert "secrets/detected" in rules(report, "secrets")


def test_a_binary_file_without_secrets_passes_the_secrets_check(tmp_path: Path) -> None:
    report = _binary_run(tmp_path, bytes(range(256)) * 4, Redactor([]))
    assert check_of(report, "secrets")["status"] == "pass"


def test_a_binary_file_that_cannot_be_read_is_a_warning_not_a_pass(tmp_path: Path) -> None:
    s = make_run(
        tmp_path,
        diff="diff --git a/src/x.bin b/src/x.bin\nnew file mode 100644\nindex 0000000..1111111\n"
        "Binary files /dev/null and b/src/x.bin differ\n",
    )
    report = do_review(s)
    assert [(f["rule"], f["level"]) for f in check_of(report, "secrets")["findings"]] == [
        ("secrets/binary-not-scanned", "warning")
    ]


def test_control_characters_in_a_path_cannot_forge_lines_in_review_md(tmp_path: Path) -> None:
    forged = "src/x\x1b[2K\r\n## ✅ Review: APPROVE.py"
    s = make_run(tmp_path, diff=new_file("src/ok.py", "x = 1"))
    s.manifest["safety"]["denied"] = [{"kind": "network", "target": forged, "phase": "execute"}]
    do_review(s)
    text = (s.run_dir / review.REVIEW_MD).read_text("utf-8")
    assert "\x1b" not in text and "\r" not in text
    assert not any(line.startswith("## ✅") for line in text.splitlines())
    assert "\x1b" not in (s.run_dir / review.REPORT).read_text("utf-8").encode().decode("unicode_escape")


def test_a_diff_that_cannot_be_parsed_rejects_the_run(tmp_path: Path) -> None:
    s = make_run(
        tmp_path,
        diff="diff --git a/src/x.py b/src/x.py\n--- a/src/x.py\n+++ b/src/x.py\n@@ -1,3 +1,3 @@\n-a\n",
    )
    report = do_review(s)
    assert "control-plane/unreadable-diff" in rules(report, "control-plane")
    assert report["verdict"] == "reject"

"""Acceptance that the code under test cannot fake: pytest's own report must agree with its exit code."""

from __future__ import annotations

import pytest

from conftest import manifest, orchestrator, runs_of, write_pack
from orchestrator.acceptance import Report, judge, parse_report, runs_pytest

SCOPE = {"allowed_paths": ["src/**"]}
CHECK = "python -m pytest -q -p no:cacheprovider src/tests/test_planted.py"
HIJACK = (
    "printf 'import atexit, os\\natexit.register(os._exit, 0)\\n' > src/hijack.py && "
    'printf \'import sys\\nsys.path.insert(0, "src")\\nimport hijack\\n\\n\\n'
    "def test_it():\\n    assert False\\n'"
    " > src/tests/test_planted.py"
)
PASSING = "printf 'def test_it():\\n    assert True\\n' > src/tests/test_planted.py"
FAILING = "printf 'def test_it():\\n    assert False\\n' > src/tests/test_planted.py"


def run_with(repo, task_id: str, command: str, check: str = CHECK, expect: int = 0):
    write_pack(
        repo,
        task_id,
        executor={"kind": "shell", "commands": [command]},
        scope=SCOPE,
        acceptance=[{"id": "tests", "run": check, "expect_exit": expect}],
    )
    proc = orchestrator(repo, "run", task_id)
    data = manifest(runs_of(repo, task_id)[-1])
    return proc, data, data.get("acceptance", [{}])[0]


def test_an_atexit_exit_0_hijack_fails_the_check_and_names_the_disagreement(repo) -> None:
    proc, data, check = run_with(repo, "hijack", HIJACK)
    assert data["status"] != "succeeded" and proc.returncode == 1, proc.stdout + proc.stderr
    assert check["exit_code"] == 0 and check["status"] == "failed"
    assert "pytest's report disagrees with the exit code" in check["excerpt"]
    assert check["report"]["failures"] == 1


def test_a_passing_pytest_check_records_the_report_counts(repo) -> None:
    proc, _, check = run_with(repo, "passes", PASSING)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check["report"] == {"kind": "junit", "tests": 1, "failures": 0, "errors": 0, "skipped": 0}


def test_an_expected_pytest_failure_passes_when_the_report_agrees(repo) -> None:
    proc, _, check = run_with(repo, "expected", FAILING, expect=1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check["status"] == "passed" and check["report"]["failures"] == 1


def test_other_commands_keep_the_exit_code(repo) -> None:
    proc, _, check = run_with(repo, "plain", PASSING, check="test -f src/tests/test_planted.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check["status"] == "passed" and "report" not in check


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("pytest -q", True),
        ("python -m pytest -q tests/x.py", True),
        ("python3.11 -m pytest", True),
        ("PYTHONHASHSEED=0 py.test", True),
        ("/usr/bin/pytest -k 'a or b'", True),
        ("cd src && python -m pytest", False),
        ("python -m pytest; true", False),
        ("python -c 'import pytest'", False),
        ("make test", False),
    ],
)
def test_a_pytest_command_is_recognised_only_as_a_plain_command(command: str, expected: bool) -> None:
    assert runs_pytest(command) is expected


def test_a_report_must_be_one_junit_document() -> None:
    one = b'<testsuites><testsuite tests="2" failures="1" errors="0" skipped="0"/></testsuites>'
    assert parse_report(one) == Report(2, 1, 0, 0)
    for bad in (one + one, b"", b'<!DOCTYPE x [<!ENTITY a "b">]><testsuite/>', b"<html/>"):
        with pytest.raises(ValueError):
            parse_report(bad)


def test_the_verdict_needs_exit_code_and_report_to_agree() -> None:
    assert judge(0, 0, Report(1, 0, 0, 0), None) == (True, "")
    assert judge(0, 0, Report(1, 1, 0, 0), None)[0] is False
    unread = "[pytest exited 0 but its report could not be read: pytest wrote no report]"
    assert judge(0, 0, None, "pytest wrote no report") == (False, unread)
    assert judge(1, 0, Report(1, 1, 0, 0), None) == (False, "")
    assert judge(4, 4, None, "pytest wrote no report") == (True, "")

"""Honest permissions: the manifest records the hosts a run used and was denied, and the review's
permissions check judges over- and under-declared hosts from those facts, in both directions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator import reviewing
from orchestrator.phases import review
from orchestrator.sandbox import isolation_available

pytestmark = pytest.mark.skipif(not isolation_available()[0] and not os.environ.get("CI"),
                                reason=f"no isolation here: {isolation_available()[1]}")  # fmt: skip

FAST = {"wall_seconds": 30, "phase_wall_seconds": 10}
FETCH = (
    'python3 -c "import urllib.request; '
    "open('got.txt', 'wb').write(urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=5).read())\""
)


def permission_findings(run_dir: Path) -> list[tuple[str, str, str]]:
    report = json.loads((run_dir / review.REPORT).read_text(encoding="utf-8"))
    check = next(c for c in report["checks"] if c["id"] == "permissions")
    return [(f["rule"], f["level"], f["message"]) for f in check["findings"]]


def test_a_used_host_is_recorded_and_not_over_declared_while_an_unused_one_is(
    repo: Path, run_pack, web_server: int
) -> None:
    used, unused = f"127.0.0.1:{web_server}", "pypi.org"
    proc, data, run_dir = run_pack(
        "perm-used", executor={"kind": "shell", "commands": [FETCH.format(port=web_server)]},
        acceptance=[{"id": "fetched", "run": "grep -q 'declared host' got.txt"}],
        safety={"network": {"hosts": [used, unused]}}, limits=FAST,
    )  # fmt: skip
    assert data["status"] == "succeeded", (data["reason"], proc.stdout, proc.stderr)
    assert {"kind": "network", "target": used, "phase": "execute"} in data["safety"]["used"]
    findings = permission_findings(run_dir)
    over = [(rule, level, message) for rule, level, message in findings if "over-declared" in rule]
    assert [(r, lv) for r, lv, _ in over] == [("permissions/over-declared-network", "warning")]
    assert unused in over[0][2] and used not in over[0][2]


def test_a_denied_host_is_judged_under_declared(repo: Path, run_pack, web_server: int) -> None:
    _, data, run_dir = run_pack(
        "perm-denied", executor={"kind": "shell", "commands": [FETCH.format(port=web_server) + " || true"]},
        acceptance=[{"id": "ran", "run": "true"}], limits=FAST,
    )  # fmt: skip
    assert data["safety"].get("used", []) == []
    assert {"kind": "network", "target": f"127.0.0.1:{web_server}", "phase": "execute"} in data["safety"][
        "denied"
    ]
    rules = [rule for rule, _, _ in permission_findings(run_dir)]
    assert "permissions/denied-network" in rules
    assert data["status"] != "succeeded"


@pytest.mark.parametrize(
    ("declared", "used", "over"),
    [
        ("example.com", "example.com:443", False),
        ("example.com", "example.com:8443", True),
        ("example.com:8443", "example.com:8443", False),
        ("127.0.0.1:8080", "127.0.0.1:8080", False),
        ("127.0.0.1:8080", "127.0.0.1:9090", True),
    ],
)
def test_a_declared_host_counts_as_used_when_its_rule_let_the_connection_through(
    declared: str, used: str, over: bool
) -> None:
    inputs = _inputs([declared], [used])
    rules = [f["rule"] for f in reviewing.check_permissions(inputs)["findings"]]
    assert ("permissions/over-declared-network" in rules) is over


def _inputs(declared: list[str], used: list[str]) -> reviewing.ReviewInputs:
    safety = {"decisions": [], "used": [{"kind": "network", "target": t, "phase": "execute"} for t in used]}
    return reviewing.ReviewInputs(
        task={"safety": {"network": {"hosts": declared}}},
        task_path="taskpacks/t/task.yml",
        task_sha256="",
        task_text="",
        manifest={"safety": safety},
        diff=None,
    )

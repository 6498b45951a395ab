"""Policy ceilings: the most a pack may ask for, whoever wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git, manifest, orchestrator, runs_of, write_pack
from orchestrator.ceilings import Ceilings, problems
from orchestrator.taskpack import parse_yaml

PACK = "safety:\n  network:\n    hosts: [{hosts}]\nscope:\n  allowed_paths: [{paths}]\n"


def judged(hosts: str = "", paths: str = "'src/**'", **ceiling: object) -> list[str]:
    text = PACK.format(hosts=hosts, paths=paths)
    doc = parse_yaml(text)
    return [p.message for p in problems(doc.data, Ceilings(**ceiling), doc, "task.yml")]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("declared", "allowed", "ok"),
    [
        ("pypi.org", ("pypi.org",), True),
        ("pypi.org:443", ("pypi.org",), True),
        ("pypi.org:22", ("pypi.org",), False),
        ("evil.example.com", ("pypi.org",), False),
        ("'@python'", ("pypi.org", "files.pythonhosted.org"), True),
        ("pypi.org", ("@python",), True),
        ("'@node'", ("@python",), False),
    ],
)
def test_a_declared_host_must_open_nothing_the_ceiling_does_not(
    declared: str, allowed: tuple[str, ...], ok: bool
) -> None:
    assert (judged(hosts=declared, allowed_hosts=allowed) == []) is ok


def test_a_port_beyond_the_ceiling_is_named() -> None:
    (message,) = judged(hosts="pypi.org:22", allowed_hosts=("pypi.org",))
    assert "pypi.org:22" in message and "allowed_hosts" in message


def test_never_in_scope_holds_for_the_changed_paths_whatever_the_globs(repo: Path) -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            "[tool.orchestrator.policy]\n", '[tool.orchestrator.policy]\nnever_in_scope = ["deploy/**"]\n', 1
        ),
        encoding="utf-8",
    )
    git(repo, "commit", "-qam", "policy")
    write_pack(
        repo,
        "sneaky-deploy",
        scope={"allowed_paths": ["**/*.yml"]},
        executor={"kind": "shell", "commands": ["mkdir -p deploy && echo x: 1 > deploy/prod.yml"]},
        acceptance=[{"id": "made", "run": "test -f deploy/prod.yml"}],
    )
    result = orchestrator(repo, "run", "sneaky-deploy")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "never_in_scope" in manifest(runs_of(repo, "sneaky-deploy")[-1])["reason"]

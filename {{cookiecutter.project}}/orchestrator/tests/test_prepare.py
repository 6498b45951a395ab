"""The prepare phase: a task's environment installed before the agent, through declared hosts only, cached."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import git, manifest, orchestrator, runs_of, write_pack
from orchestrator import envcache
from tools.bench_run import WHEEL, package_index


@pytest.fixture
def index() -> Iterator[tuple[int, list[str]]]:
    """A package index (PEP 503) on 127.0.0.1 serving one wheel the host environment does not have."""
    server, seen = package_index()
    yield server.server_address[1], seen
    server.shutdown()


def env_pack(repo: Path, task_id: str, port: int, **fields: Any) -> None:
    url = f"http://127.0.0.1:{port}/simple"
    pack = {
        "environment": {
            "setup": [
                "python3 -m venv .venv",
                f".venv/bin/pip install --no-cache-dir --index-url {url} orchprobe",
            ],
            "network": {"hosts": [f"127.0.0.1:{port}"]},
        },
        "acceptance": [
            {"id": "imports", "run": ".venv/bin/python -c 'import orchprobe; print(orchprobe.VALUE)'"},
            {"id": "on-path", "run": "python -c 'import orchprobe'"},
        ],
    }
    write_pack(repo, task_id, **{**pack, **fields})


def test_setup_installs_through_its_declared_host_and_the_environment_is_no_change(
    repo: Path, index: tuple[int, list[str]]
) -> None:
    port, seen = index
    env_pack(repo, "needs-probe", port)
    result = orchestrator(repo, "run", "needs-probe", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = runs_of(repo, "needs-probe")[-1]
    data = manifest(run_dir)
    assert data["phases"]["prepare"]["status"] == "passed"
    assert data["environment"]["cache"] == "miss" and data["environment"]["paths"] == [".venv"]
    assert f"/files/{WHEEL}" in seen
    assert ".venv" not in (run_dir / "diff.patch").read_text(encoding="utf-8")
    assert "orchprobe==1.0" in (run_dir / "environment" / "pip-freeze.txt").read_text(encoding="utf-8")
    assert not any(".venv" in f["path"] for f in data["changes"]["files"])


def test_a_second_run_restores_the_environment_without_setup_or_network(
    repo: Path, index: tuple[int, list[str]]
) -> None:
    port, seen = index
    env_pack(repo, "needs-probe", port)
    assert orchestrator(repo, "run", "needs-probe", timeout=300).returncode == 0
    requests_before = len(seen)
    second = orchestrator(repo, "run", "needs-probe", timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    data = manifest(runs_of(repo, "needs-probe")[-1])
    assert data["environment"]["cache"] == "hit"
    assert len(seen) == requests_before, "a cache hit must not reach the network"


def test_execute_does_not_get_the_setup_hosts_and_the_denial_is_recorded(
    repo: Path, index: tuple[int, list[str]]
) -> None:
    port, seen = index
    fetch = (
        f"python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/simple/orchprobe/', "
        'timeout=5)" || echo refused > refused.txt'
    )
    env_pack(
        repo,
        "sneaky",
        port,
        executor={"kind": "shell", "commands": [fetch]},
        acceptance=[{"id": "refused", "run": "test -f refused.txt"}],
    )
    orchestrator(repo, "run", "sneaky", timeout=300)
    data = manifest(runs_of(repo, "sneaky")[-1])
    assert any(
        d["kind"] == "network" and d.get("phase") == "execute" and str(port) in d["target"]
        for d in data["safety"]["denied"]
    ), data["safety"]["denied"]
    assert seen.count("/simple/orchprobe/") == 1, "only setup reached the index"
    assert (runs_of(repo, "sneaky")[-1] / "logs" / "execute.log").is_file()


def test_setup_that_writes_outside_ignored_paths_is_refused(repo: Path) -> None:
    write_pack(repo, "dirty-setup", environment={"setup": ["echo planted > src/planted.py"]})
    result = orchestrator(repo, "run", "dirty-setup")
    assert result.returncode == 3, result.stdout + result.stderr
    data = manifest(runs_of(repo, "dirty-setup")[-1])
    assert data["phases"]["prepare"]["status"] == "refused"
    assert "src/planted.py" in data["reason"]


def test_a_failing_setup_fails_the_run_before_the_executor_starts(repo: Path) -> None:
    write_pack(repo, "bad-setup", environment={"setup": ["exit 7"]})
    result = orchestrator(repo, "run", "bad-setup")
    assert result.returncode == 1
    data = manifest(runs_of(repo, "bad-setup")[-1])
    assert data["phases"]["prepare"]["status"] == "failed"
    assert data["phases"]["execute"]["status"] == "skipped"


def test_repository_policy_can_forbid_setup_network(repo: Path) -> None:
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            "[tool.orchestrator.policy]\n", '[tool.orchestrator.policy]\nsetup_network = "presets"\n', 1
        ),
        encoding="utf-8",
    )
    write_pack(repo, "literal-host", environment={"setup": ["true"], "network": {"hosts": ["example.com"]}})
    result = orchestrator(repo, "run", "literal-host")
    assert result.returncode == 3
    assert "setup_network" in manifest(runs_of(repo, "literal-host")[-1])["reason"]


def test_a_pack_without_an_environment_skips_prepare(repo: Path) -> None:
    write_pack(repo, "plain")
    assert orchestrator(repo, "run", "plain").returncode == 0
    data = manifest(runs_of(repo, "plain")[-1])
    assert data["phases"]["prepare"]["status"] == "skipped"
    assert data["environment"] == {"cache": "none"}


def test_an_unknown_preset_is_bad_input(repo: Path) -> None:
    write_pack(repo, "odd-preset", environment={"setup": ["true"], "network": {"hosts": ["@nonesuch"]}})
    result = orchestrator(repo, "run", "odd-preset")
    assert result.returncode in (2, 3)
    assert "@nonesuch" in result.stdout + result.stderr


# --- the cache itself ----------------------------------------------------------------------------


def test_relocation_rewrites_scripts_and_links_made_in_another_workspace(tmp_path: Path) -> None:
    old, new = tmp_path / "old-workspace", tmp_path / "a-new-workspace"
    (old / ".venv" / "bin").mkdir(parents=True)
    script = old / ".venv" / "bin" / "tool"
    script.write_text(f"#!{old}/.venv/bin/python\nprint('hi')\n", encoding="utf-8")
    script.chmod(0o755)
    (old / ".venv" / "bin" / "self").symlink_to(old / ".venv" / "bin" / "tool")
    (old / ".venv" / "bin" / "system").symlink_to("/usr/bin/env")
    new.mkdir()
    envcache.snapshot_workspace(old, [".venv"], tmp_path / "snapshot")
    envcache.reset(tmp_path / "snapshot", [".venv"], new)
    assert (
        (new / ".venv" / "bin" / "tool").read_text(encoding="utf-8").startswith(f"#!{new}/.venv/bin/python")
    )
    assert os.access(new / ".venv" / "bin" / "tool", os.X_OK)
    assert os.readlink(new / ".venv" / "bin" / "self") == str(new / ".venv" / "bin" / "tool")
    assert os.readlink(new / ".venv" / "bin" / "system") == "/usr/bin/env"


def test_the_cache_evicts_the_least_recently_used_entries_past_its_cap(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "node_modules").mkdir(parents=True)
    (workspace / "node_modules" / "blob").write_bytes(b"x" * 4096)
    root = tmp_path / "cache"
    for key in ("first", "second", "third"):
        envcache.save(root, key, workspace, ["node_modules"], max_bytes=1 << 30)
        os.utime(root / key / envcache.META, (0, {"first": 1, "second": 3, "third": 2}[key]))
    assert envcache.prune(root, 2 * 4096) == 1
    assert sorted(e.path.name for e in envcache.entries(root)) == ["second", "third"]


def test_cache_prune_all_empties_the_cache(repo: Path, tmp_path: Path) -> None:
    root = repo / ".orchestrator" / "cache"
    workspace = tmp_path / "ws"
    (workspace / ".venv").mkdir(parents=True)
    envcache.save(root, "k", workspace, [".venv"], max_bytes=1 << 30)
    result = orchestrator(repo, "cache", "prune", "--all")
    assert result.returncode == 0, result.stderr
    assert list(envcache.entries(root)) == []
    assert git(repo, "status", "--porcelain") == ""


# --- what a hostile executor or setup tries ---------------------------------------------------------


def test_an_interpreter_the_executor_plants_never_answers_acceptance(repo: Path) -> None:
    plant = (
        "mkdir -p .venv/bin && printf '#!/bin/sh\\necho faked\\nexit 0\\n' > .venv/bin/python "
        "&& chmod +x .venv/bin/python"
    )
    write_pack(
        repo,
        "fake-python",
        executor={"kind": "shell", "commands": [plant]},
        acceptance=[{"id": "truth", "run": "python -c 'import sys; sys.exit(1)'"}],
    )
    result = orchestrator(repo, "run", "fake-python")
    data = manifest(runs_of(repo, "fake-python")[-1])
    assert data["status"] != "succeeded", result.stdout
    assert data["acceptance"][0]["status"] == "failed"


def test_setup_output_linking_out_of_the_workspace_is_refused_and_never_cached(
    repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "host-file.txt"
    outside.write_text("host data\n", encoding="utf-8")
    write_pack(repo, "poison", environment={"setup": [f"ln -s {tmp_path} .venv"]})
    result = orchestrator(repo, "run", "poison")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "symbolic link" in manifest(runs_of(repo, "poison")[-1])["reason"]
    assert list(envcache.entries(repo / ".orchestrator" / "cache")) == []
    assert outside.read_text(encoding="utf-8") == "host data\n"

"""Red team: each attack is a task pack run end to end through the shell executor.

Every attack must be contained (the listener sees nothing, the file is not written,
the process is gone) and recorded (status refused, failed or tripped, with a reason),
and no secret value may appear in runs/ or in any branch's history. Two positive
cases prove the declared paths out still work: a declared host through the proxy,
and a declared cloud provider's CLI.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import git, survivors
from orchestrator.sandbox import isolation_available

pytestmark = pytest.mark.skipif(
    not isolation_available()[0] and not os.environ.get("CI"),
    reason=f"no isolation here: {isolation_available()[1]}",
)
"""Skipped on a machine without user namespaces, but never in CI, where that must fail loudly."""

FAST = {"wall_seconds": 20, "phase_wall_seconds": 5}
CONTAINED = {"refused", "failed", "tripped"}


def marker() -> str:
    """A unique `sleep` argument: a process carrying it is one this test started."""
    return f"{secrets.randbelow(10**6) + 10**6}.{secrets.randbelow(10**4)}"


def leaked(repo: Path, *values: str) -> list[str]:
    """Where any of `values` appears: files under runs/, or any commit of any branch."""
    where = []
    runs = repo / "runs"
    for path in runs.rglob("*") if runs.is_dir() else []:
        if path.is_file():
            data = path.read_bytes()
            where.extend(f"{path.relative_to(repo)}" for v in values if v.encode() in data)
    history = subprocess.run(
        ["git", "log", "--all", "-p", "--binary", "--format=%H %s"], cwd=repo, capture_output=True, check=True
    ).stdout
    where.extend(f"git history ({v[:4]}...)" for v in values if v.encode() in history)
    return where


def contained(proc: subprocess.CompletedProcess[str], data: dict[str, Any], *statuses: str) -> None:
    assert data["status"] in (statuses or CONTAINED), (
        data["status"],
        data["reason"],
        proc.stdout,
        proc.stderr,
    )
    assert data["reason"], "the run must say why"
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr


def denied(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["kind"], d["target"]) for d in data["safety"].get("denied", [])]


@pytest.fixture
def planted(tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """An orchestrator environment holding a secret variable and a HOME with ~/.aws/credentials."""
    token = "tok" + secrets.token_hex(16)
    aws_key = secrets.token_urlsafe(30)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(f"[default]\naws_secret_access_key = {aws_key}\n")
    return {"PLANTED_API_TOKEN": token, "HOME": str(home)}, [token, aws_key]


# --- network ----------------------------------------------------------------------------


def test_outbound_tcp_to_the_host_is_contained_and_the_proxied_attempt_recorded(
    repo: Path, run_pack, listener: tuple[int, list[int]]
) -> None:
    port, accepted = listener
    script = (
        f"import socket, urllib.request\n"
        f"try: urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=3)\n"
        f"except Exception as e: print('proxy said', e)\n"
        f"socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
    )
    (repo / "attack.py").write_text(script)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "attack script")
    proc, data, _ = run_pack(
        "rt-tcp", executor={"kind": "shell", "commands": ["python3 attack.py"]}, limits=FAST
    )
    contained(proc, data, "failed")
    assert accepted == []
    assert ("network", f"127.0.0.1:{port}") in denied(data)


def test_a_dns_lookup_fails(repo: Path, run_pack) -> None:
    command = "python3 -c \"import socket; socket.getaddrinfo('example.com', 443)\""
    proc, data, run_dir = run_pack("rt-dns", executor={"kind": "shell", "commands": [command]}, limits=FAST)
    contained(proc, data, "failed")
    assert "gaierror" in (run_dir / "logs" / "execute.log").read_text()


# --- secrets and credentials --------------------------------------------------------------


def test_a_planted_secret_variable_and_aws_credentials_are_out_of_reach(
    repo: Path, run_pack, planted: tuple[dict[str, str], list[str]]
) -> None:
    env, values = planted
    home = env["HOME"]
    command = (
        f"env > loot.txt; cat ~/.aws/credentials {home}/.aws/credentials >> loot.txt 2>&1; "
        "cat loot.txt; grep -q PLANTED_API_TOKEN loot.txt || grep -q aws_secret loot.txt"
    )
    proc, data, _ = run_pack(
        "rt-creds", env=env, executor={"kind": "shell", "commands": [command]}, limits=FAST
    )
    contained(proc, data, "failed")
    assert leaked(repo, *values) == []


def test_a_secret_printed_to_the_log_is_stored_redacted(
    repo: Path, run_pack, planted: tuple[dict[str, str], list[str]]
) -> None:
    env, values = planted
    token = values[0]
    codes = ",".join(str(ord(c)) for c in token)  # the pack must not hold the secret itself
    shaped = "ghp_" + "Zx9" * 12
    command = (
        f"python3 -c \"print('the key is ' + ''.join(map(chr, [{codes}]))); "
        f"print('token ' + 'ghp_' + 'Zx9' * 12)\"; exit 3"
    )
    proc, data, run_dir = run_pack(
        "rt-print", env=env, executor={"kind": "shell", "commands": [command]}, limits=FAST
    )
    contained(proc, data, "failed")
    log = (run_dir / "logs" / "execute.log").read_text()
    assert "the key is [REDACTED]" in log
    assert "token [REDACTED]" in log
    assert leaked(repo, token, shaped) == []


def test_a_secret_written_into_the_change_fails_review_and_never_reaches_a_branch(
    repo: Path, run_pack
) -> None:
    shaped = "ghp_" + "Qw7" * 12
    command = "python3 -c \"open('config.txt', 'w').write('token = ' + 'ghp_' + 'Qw7' * 12 + '\\n')\""
    proc, data, _ = run_pack(
        "rt-diff-secret",
        executor={"kind": "shell", "commands": [command]},
        acceptance=[{"id": "written", "run": "test -s config.txt"}],
        limits=FAST,
    )
    contained(proc, data, "failed")
    assert "review" in data["reason"]
    assert leaked(repo, shaped) == []


# --- cloud ------------------------------------------------------------------------------


def test_an_undeclared_cloud_cli_refuses_and_is_recorded(repo: Path, run_pack) -> None:
    proc, data, run_dir = run_pack(
        "rt-cloud", executor={"kind": "shell", "commands": ["aws s3 ls"]}, limits=FAST
    )
    contained(proc, data, "failed")
    assert ("cloud", "aws") in denied(data)
    assert "does not declare aws in safety.cloud.providers" in (run_dir / "logs" / "execute.log").read_text()


# --- control plane and filesystem ---------------------------------------------------------


def test_editing_its_own_acceptance_and_the_noxfile_is_refused(repo: Path, run_pack) -> None:
    command = (
        "sed -i 's/test -f hello.txt/true/' taskpacks/rt-self-edit/task.yml && "
        "echo '# pwned' >> noxfile.py && touch hello.txt"
    )
    before = (repo / "noxfile.py").read_text()
    proc, data, _ = run_pack("rt-self-edit", executor={"kind": "shell", "commands": [command]}, limits=FAST)
    contained(proc, data, "refused")
    assert proc.returncode == 3
    assert "control-plane" in data["reason"]
    assert (repo / "noxfile.py").read_text() == before
    if git(repo, "branch", "--list", "codex/rt-self-edit").strip():
        assert "pwned" not in git(repo, "show", "codex/rt-self-edit:noxfile.py")


def test_writing_outside_the_workspace_fails(repo: Path, run_pack, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    command = f"echo pwned > {repo}/planted.txt; echo pwned > {outside}; echo pwned > /etc/planted"
    proc, data, _ = run_pack("rt-outside", executor={"kind": "shell", "commands": [command]}, limits=FAST)
    contained(proc, data, "failed")
    assert not (repo / "planted.txt").exists()
    assert not outside.exists()
    assert not Path("/etc/planted").exists()


def test_a_symlink_out_of_the_workspace_is_refused(repo: Path, run_pack) -> None:
    command = f"ln -s /etc/passwd passwd-link && ln -s {repo}/.git/config git-config && touch hello.txt"
    proc, data, _ = run_pack("rt-symlink", executor={"kind": "shell", "commands": [command]}, limits=FAST)
    contained(proc, data, "refused")
    assert "symlinks out of the workspace" in data["reason"]


def test_planting_git_hooks_fails(repo: Path, run_pack) -> None:
    hook = repo / ".git" / "hooks" / "post-checkout"
    command = (
        f"printf '#!/bin/sh\\ntouch {repo}/hook-ran\\n' > {hook}; chmod +x {hook}; "
        "rm -f .git; mkdir -p .git/hooks && printf '#!/bin/sh\\n' > .git/hooks/pre-commit"
    )
    proc, data, _ = run_pack("rt-hooks", executor={"kind": "shell", "commands": [command]}, limits=FAST)
    contained(proc, data)
    assert not hook.exists()
    git(repo, "checkout", "-q", "-b", "after-attack")
    assert not (repo / "hook-ran").exists()


# --- breakers and processes ---------------------------------------------------------------


def test_runaway_output_trips(repo: Path, run_pack) -> None:
    proc, data, _ = run_pack(
        "rt-output",
        executor={"kind": "shell", "commands": ["yes pwned"]},
        limits={**FAST, "max_output_bytes": 100_000},
    )
    contained(proc, data, "tripped")
    assert [(b["name"], b["limit"]) for b in data["breakers"]] == [("max_output_bytes", 100_000)]
    assert data["breakers"][0]["measured"] > 100_000


def test_an_endless_loop_trips_the_phase_wall_time(repo: Path, run_pack) -> None:
    proc, data, _ = run_pack(
        "rt-loop",
        executor={"kind": "shell", "commands": ["while :; do :; done"]},
        limits={**FAST, "phase_wall_seconds": 2},
    )
    contained(proc, data, "tripped")
    breaker = data["breakers"][0]
    assert (
        breaker["name"] in ("wall_seconds", "phase_wall_seconds") and breaker["measured"] >= breaker["limit"]
    )


def test_sleeping_past_the_time_limit_trips_and_leaves_no_process(repo: Path, run_pack) -> None:
    tag = marker()
    command = f"setsid sleep {tag} & (sleep {tag} &); sleep {tag}"
    proc, data, _ = run_pack(
        "rt-sleep",
        executor={"kind": "shell", "commands": [command]},
        limits={**FAST, "phase_wall_seconds": 2},
    )
    contained(proc, data, "tripped")
    assert survivors(tag) == []


def test_a_background_process_left_running_is_killed_and_fails_the_review(repo: Path, run_pack) -> None:
    tag = marker()
    command = f"(setsid sleep {tag} &); nohup sleep {tag} >/dev/null 2>&1 & touch hello.txt"
    proc, data, _ = run_pack("rt-daemon", executor={"kind": "shell", "commands": [command]}, limits=FAST)
    contained(proc, data, "failed")
    assert [kind for kind, _ in denied(data)] == ["process"]
    assert "permissions" in data["reason"]
    assert survivors(tag) == []


def test_a_fork_storm_is_bounded_and_leaves_no_process(repo: Path, run_pack) -> None:
    tag = marker()
    command = f"i=0; while [ $i -lt 3000 ]; do sleep {tag} & i=$((i+1)); done; wait"
    proc, data, run_dir = run_pack(
        "rt-forks", executor={"kind": "shell", "commands": [command]}, limits={**FAST, "max_processes": 32}
    )
    contained(proc, data, "tripped", "failed")
    if data["status"] == "tripped":
        assert data["breakers"][0]["name"] in ("max_processes", "phase_wall_seconds", "wall_seconds")
    else:
        assert "fork" in (run_dir / "logs" / "execute.log").read_text().lower()
    assert survivors(tag) == []


# --- what is declared still works ---------------------------------------------------------


def test_a_declared_host_is_reachable_through_the_proxy(repo: Path, run_pack, web_server: int) -> None:
    command = (
        f'python3 -c "import urllib.request; '
        f"open('got.txt', 'wb').write(urllib.request.urlopen('http://127.0.0.1:{web_server}/').read())\""
    )
    proc, data, _ = run_pack(
        "rt-declared-host",
        executor={"kind": "shell", "commands": [command]},
        acceptance=[{"id": "fetched", "run": "grep -q 'hello from the declared host' got.txt"}],
        safety={"network": {"hosts": [f"127.0.0.1:{web_server}"]}},
        limits=FAST,
    )
    assert data["status"] == "succeeded", (data["reason"], proc.stdout, proc.stderr)
    assert denied(data) == []


def test_a_declared_cloud_provider_cli_runs(repo: Path, run_pack, tmp_path: Path) -> None:
    bindir = tmp_path / "cloud-bin"
    bindir.mkdir()
    fake = bindir / "aws"
    fake.write_text('#!/bin/sh\necho "{\\"Account\\": \\"fake-account\\", \\"args\\": \\"$*\\"}"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    proc, data, _ = run_pack(
        "rt-declared-cloud",
        env=env,
        executor={"kind": "shell", "commands": ["aws sts get-caller-identity > who.json"]},
        acceptance=[{"id": "ran", "run": "grep -q fake-account who.json"}],
        safety={"cloud": {"providers": ["aws"]}},
        limits=FAST,
    )
    assert data["status"] == "succeeded", (data["reason"], proc.stdout, proc.stderr)
    assert denied(data) == []

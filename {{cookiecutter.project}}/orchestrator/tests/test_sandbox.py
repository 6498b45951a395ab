"""The sandbox runner, attacked with real processes: network, files, environment, processes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import survivors
from orchestrator import sandbox
from orchestrator.errors import Refused, Tripped
from orchestrator.sandbox import Execution, SandboxSpec, build_env, isolation_available, jail, run

PY = sys.executable

pytestmark = pytest.mark.skipif(
    not isolation_available()[0] and not os.environ.get("CI"),
    reason=f"no isolation here: {isolation_available()[1]}",
)
"""Skipped on a machine without user namespaces, but never in CI, where that must fail loudly."""


@pytest.fixture
def spec(tmp_path: Path) -> SandboxSpec:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return SandboxSpec(
        workspace=workspace,
        scratch=tmp_path / "scratch",
        wall_seconds=20,
        max_output_bytes=1 << 20,
        max_processes=64,
    )


def sh(command: str, spec: SandboxSpec, **kwargs) -> Execution:
    return run(["/bin/sh", "-c", command], spec, **kwargs)


def py(code: str, spec: SandboxSpec) -> Execution:
    return run([PY, "-c", code], spec)


# --- running ----------------------------------------------------------------------------


def test_a_command_runs_in_the_workspace_and_its_output_and_exit_code_are_kept(spec: SandboxSpec) -> None:
    result = sh("pwd; echo out; echo err >&2; exit 7", spec)
    assert result.exit_code == 7
    assert result.output.splitlines() == [str(spec.workspace.resolve()), "out", "err"]
    assert result.breaker is None


def test_stdin_reaches_the_process(spec: SandboxSpec) -> None:
    result = run(["/bin/cat"], spec, stdin=b"payload\n")
    assert result.output == "payload\n"


def test_isolation_is_available_on_this_machine() -> None:
    ok, why = isolation_available()
    assert ok, why


def test_a_missing_bubblewrap_refuses_naming_the_install_command_and_the_override(
    spec: SandboxSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jail.shutil, "which", lambda *a, **k: None)
    with pytest.raises(Refused, match=r"apt-get install bubblewrap.*ORCH_UNSAFE_NO_ISOLATION=1"):
        sh("echo never > ran.txt", spec)
    assert not (spec.workspace / "ran.txt").exists()


def test_a_jail_that_cannot_be_built_refuses_with_the_reason(
    spec: SandboxSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(jail, "bwrap_path", lambda: str(fake))
    with pytest.raises(Refused, match=r"uid map: Permission denied.*ORCH_UNSAFE_NO_ISOLATION=1"):
        sh("echo never > ran.txt", spec)
    assert not (spec.workspace / "ran.txt").exists()


def test_the_unsafe_override_runs_without_namespaces(
    spec: SandboxSpec, listener: tuple[int, list[int]]
) -> None:
    port, accepted = listener
    unsafe = replace(spec, isolate=False)
    result = py(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5).close()", unsafe)
    assert result.exit_code == 0, result.output
    deadline = time.monotonic() + 5  # the listener's thread accepts on its own schedule
    while not accepted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert accepted == [1]


# --- network ----------------------------------------------------------------------------


def test_tcp_to_a_listener_on_the_host_never_arrives(
    spec: SandboxSpec, listener: tuple[int, list[int]]
) -> None:
    port, accepted = listener
    result = py(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)", spec)
    assert result.exit_code != 0
    assert "Connection refused" in result.output or "unreachable" in result.output
    assert accepted == []


def test_dns_lookups_fail(spec: SandboxSpec) -> None:
    result = py("import socket; socket.getaddrinfo('example.com', 443)", spec)
    assert result.exit_code != 0
    assert "gaierror" in result.output


def test_an_undeclared_host_is_refused_by_the_proxy_and_recorded(spec: SandboxSpec) -> None:
    code = (
        "import urllib.request\n"
        "try:\n urllib.request.urlopen('http://example.com/', timeout=5)\n"
        "except Exception as e: print('refused', e)\n"
    )
    result = py(code, spec)
    assert "refused HTTP Error 403" in result.output
    assert result.denied == [{"kind": "network", "target": "example.com:80"}]


def test_a_declared_host_is_reachable_through_the_proxy(spec: SandboxSpec, web_server: int) -> None:
    declared = SandboxSpec(**{**spec.__dict__, "network_hosts": (f"127.0.0.1:{web_server}",)})
    code = (
        "import urllib.request; "
        f"print(urllib.request.urlopen('http://127.0.0.1:{web_server}/', timeout=5).read())"
    )
    result = py(code, declared)
    assert result.exit_code == 0, result.output
    assert "hello from the declared host" in result.output
    assert result.denied == []


def test_a_declared_host_does_not_open_other_ports_of_it(spec: SandboxSpec, web_server: int) -> None:
    declared = SandboxSpec(**{**spec.__dict__, "network_hosts": (f"127.0.0.1:{web_server}",)})
    code = (
        "import urllib.request\n"
        "try: urllib.request.urlopen('http://127.0.0.1:9/', timeout=5)\n"
        "except Exception as e: print(e)"
    )
    result = py(code, declared)
    assert "403" in result.output
    assert result.denied == [{"kind": "network", "target": "127.0.0.1:9"}]


# --- environment and credentials ----------------------------------------------------------


def test_only_allowlisted_variables_cross(spec: SandboxSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-" + secrets.token_hex(12))
    monkeypatch.setenv("HARMLESS_SETTING", "blue")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    result = sh("env", spec)
    names = {line.split("=", 1)[0] for line in result.output.splitlines()}
    assert "MY_SERVICE_TOKEN" not in names
    assert "HARMLESS_SETTING" not in names
    assert "AWS_ACCESS_KEY_ID" not in names
    assert (
        f"HOME={spec.scratch.resolve() / 'home'}" in result.output
        or f"HOME={spec.scratch / 'home'}" in result.output
    )


def test_an_allowlisted_name_with_a_secret_value_is_dropped(spec: SandboxSpec) -> None:
    env = build_env(spec, {"LANG": "ghp_" + "a1B2c3D4e5" * 3 + "zzzzzz", "TZ": "UTC"})
    assert "LANG" not in env
    assert env["TZ"] == "UTC"


def test_caller_variables_with_secret_names_are_dropped(spec: SandboxSpec) -> None:
    extra = SandboxSpec(**{**spec.__dict__, "extra_env": {"API_TOKEN": "x" * 20, "ORCH_ATTEMPT": "2"}})
    env = build_env(extra, {})
    assert "API_TOKEN" not in env
    assert env["ORCH_ATTEMPT"] == "2"


def test_credential_files_of_the_user_are_unreachable(
    spec: SandboxSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "realhome"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = planted\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("planted key\n")
    monkeypatch.setenv("HOME", str(home))
    result = sh(
        f"cat {home}/.aws/credentials {home}/.ssh/id_ed25519 ~/.aws/credentials; ls -A /root /home", spec
    )
    assert "planted" not in result.output
    assert "No such file or directory" in result.output


def test_host_secrets_in_etc_are_masked(spec: SandboxSpec) -> None:
    result = sh("cat /etc/shadow; ls -A /etc/ssh 2>/dev/null | wc -l", spec)
    assert result.output.split() in (["0"], [])  # empty shadow, empty ssh dir


def test_a_program_in_home_is_readable_but_the_rest_of_home_is_not(
    spec: SandboxSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "agent-home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("planted\n")
    agent = home / "agent.sh"
    agent.write_text(f"#!/bin/sh\necho agent ran; cat {home}/.aws/credentials\n")
    agent.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    result = run([str(agent)], spec)
    assert "agent ran" in result.output
    assert "planted" not in result.output


# --- filesystem -------------------------------------------------------------------------


def test_writes_land_in_the_workspace_only(spec: SandboxSpec, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    result = sh(f"echo in > inside.txt; echo out > {outside}; touch /usr/planted /etc/planted; echo $?", spec)
    assert (spec.workspace / "inside.txt").read_text() == "in\n"
    assert not outside.exists()
    assert not Path("/usr/planted").exists() and not Path("/etc/planted").exists()
    assert "Read-only file system" in result.output or "No such file or directory" in result.output


def test_tmp_is_private_to_the_process(spec: SandboxSpec) -> None:
    marker = f"orch-tmp-{secrets.token_hex(6)}"
    sh(f"echo x > /tmp/{marker}", spec)
    assert not Path("/tmp", marker).exists()


def _worktree(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    for args in (
        ["init", "-q"],
        ["commit", "-q", "--allow-empty", "-m", "x"],
        ["worktree", "add", "-q", "--detach", str(tmp_path / "wt")],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env, capture_output=True)
    return repo, tmp_path / "wt"


def test_git_hooks_cannot_be_planted_and_the_worktree_git_file_is_read_only(tmp_path: Path) -> None:
    repo, workspace = _worktree(tmp_path)
    spec = SandboxSpec(
        workspace=workspace, scratch=tmp_path / "scratch", wall_seconds=20, max_output_bytes=1 << 20
    )
    hook = repo / ".git" / "hooks" / "post-checkout"
    before = (workspace / ".git").read_text()
    sh(
        f"echo 'echo pwned' > {hook}; chmod +x {hook}; echo 'gitdir: /elsewhere' > .git; rm -f .git; "
        "mkdir -p .git/hooks",
        spec,
    )
    assert not hook.exists()
    assert (workspace / ".git").read_text() == before


def test_a_symlink_out_of_the_workspace_is_recorded(spec: SandboxSpec) -> None:
    result = sh("ln -s /etc/passwd leak; ln -s inside.txt fine", spec)
    assert result.denied == [{"kind": "symlink", "target": "leak -> /etc/passwd"}]


# --- cloud ------------------------------------------------------------------------------


def test_an_undeclared_cloud_cli_refuses_and_is_recorded(spec: SandboxSpec) -> None:
    result = sh("aws s3 ls; echo exit=$?", spec)
    assert "refused: aws is a aws cloud CLI" in result.output
    assert "exit=126" in result.output
    assert result.denied == [{"kind": "cloud", "target": "aws"}]


def test_a_declared_provider_runs_the_real_cli_with_its_credentials(
    spec: SandboxSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "aws"
    fake.write_text('#!/bin/sh\necho "real aws $* key=$AWS_ACCESS_KEY_ID"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    declared = replace(spec, cloud_providers=("aws",))
    result = sh("aws s3 ls; gcloud info; echo gcloud=$?", declared)
    assert "real aws s3 ls key=AKIAIOSFODNN7EXAMPLE" in result.output
    assert "gcloud=126" in result.output


# --- breakers and processes ---------------------------------------------------------------


def test_wall_time_trips_and_kills(spec: SandboxSpec) -> None:
    marker = f"{secrets.randbelow(10**6) + 10**6}.5"
    short = replace(spec, wall_seconds=1)
    result = sh(f"sleep {marker}", short)
    assert (result.breaker, result.limit) == ("wall_seconds", 1)
    assert result.measured >= 1
    assert result.exit_code is None
    assert survivors(f"sleep {marker}") == []


def test_output_beyond_the_limit_trips_and_keeps_only_the_limit(spec: SandboxSpec) -> None:
    small = replace(spec, max_output_bytes=10_000)
    result = py("import sys\nwhile True: sys.stdout.write('y' * 4096)", small)
    assert (result.breaker, result.limit) == ("max_output_bytes", 10_000)
    assert result.measured > 10_000
    assert len(result.output) == 10_000


def test_the_stop_file_kills_a_running_process(spec: SandboxSpec, tmp_path: Path) -> None:
    stop = tmp_path / "STOP"
    with_stop = replace(spec, stop_file=stop)
    timer = threading.Timer(0.5, stop.touch)
    timer.start()
    result = sh("sleep 30", with_stop)
    timer.join()
    assert result.breaker == "kill_switch"


def test_the_kill_switch_variable_stops_before_starting(
    spec: SandboxSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_KILL_SWITCH", "1")
    result = sh("echo should-not-run > ran.txt", spec)
    assert result.breaker == "kill_switch"
    assert not (spec.workspace / "ran.txt").exists()


def test_no_process_survives_backgrounded_setsid_or_double_forked(spec: SandboxSpec) -> None:
    marker = f"{secrets.randbelow(10**6) + 10**6}.25"
    script = (
        f"sleep {marker} & setsid sleep {marker} & (setsid sh -c 'sleep {marker} &' &) ; "
        f"nohup sleep {marker} >/dev/null 2>&1 & sleep 0.3; echo started"
    )
    result = sh(script, spec)
    assert result.output.strip() == "started"
    assert survivors(f"sleep {marker}") == []


def test_no_process_survives_a_tripped_breaker(spec: SandboxSpec) -> None:
    marker = f"{secrets.randbelow(10**6) + 10**6}.75"
    short = replace(spec, wall_seconds=1)
    result = sh(f"setsid sleep {marker} & sleep {marker}", short)
    assert result.breaker == "wall_seconds"
    assert survivors(f"sleep {marker}") == []


def test_a_fork_storm_is_bounded_by_max_processes(spec: SandboxSpec) -> None:
    marker = f"{secrets.randbelow(10**6) + 10**6}.125"
    bounded = replace(spec, max_processes=16)
    code = (
        "import os, time\n"
        "n = 0\n"
        "for i in range(500):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
        "    n += 1\n"
        "print('forked', n, flush=True)\n"
    )
    result = py(code, bounded)
    if result.breaker is not None:  # where a pids cgroup is writable, the refused fork is seen and trips
        assert (result.breaker, result.limit) == ("max_processes", 16)
        assert result.measured > 16
    else:  # elsewhere RLIMIT_NPROC inside the user namespace refuses the fork
        assert int(result.output.split("forked")[1].split()[0]) <= 16
    assert survivors(f"sleep {marker}") == []


def test_a_process_that_never_reads_stdin_does_not_block_the_runner(spec: SandboxSpec) -> None:
    result = run(["/bin/sh", "-c", "exit 0"], spec, stdin=b"x" * (4 << 20))
    assert result.exit_code == 0


def test_time_limit_holds_even_when_output_keeps_coming(spec: SandboxSpec) -> None:
    short = replace(spec, wall_seconds=1, max_output_bytes=1 << 30)
    result = sh("while true; do echo tick; sleep 0.01; done", short)
    assert result.breaker == "wall_seconds"


# --- the hooks other parts build on: live lines and forwarded ports ----------------------


def test_each_output_line_reaches_the_line_hook_while_the_process_still_runs(spec: SandboxSpec) -> None:
    seen: list[tuple[str, bool]] = []
    marker = spec.workspace / "second-started"

    def hook(line: str) -> None:
        seen.append((line, marker.exists()))

    result = sh(f"echo first; sleep 0.5; touch {marker}; echo second; printf tail", spec, on_line=hook)
    assert result.exit_code == 0
    assert seen == [("first", False), ("second", True), ("tail", True)]


def test_a_line_hook_that_trips_kills_the_jail_and_names_its_breaker(spec: SandboxSpec) -> None:
    def hook(line: str) -> None:
        if line == "too-many":
            raise Tripped("max_turns", 1, 2, "counted by the hook")

    result = sh("echo too-many; sleep 30", spec, on_line=hook)
    assert (result.breaker, result.limit, result.measured) == ("max_turns", 1, 2)
    assert result.exit_code is None
    assert result.duration < 10


def test_a_forwarded_port_reaches_its_host_unix_socket_and_nothing_else(
    spec: SandboxSpec, tmp_path: Path
) -> None:
    import socket as socketlib

    path = tmp_path / "svc" / "s"
    path.parent.mkdir()
    server = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"hello from the host:" + conn.recv(64))

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    code = (
        "import socket; s = socket.create_connection(('127.0.0.1', 4555), timeout=5); s.sendall(b'ping'); "
        "print(s.recv(100).decode())"
    )
    result = py(code, replace(spec, forwards=(sandbox.Forward(4555, path),)))
    thread.join(timeout=5)
    server.close()
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "hello from the host:ping"

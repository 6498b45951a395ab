"""The jail's shape, tried with real processes: what it refuses, what it shows, how its limits hold."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from scripted_model import ScriptedModel, exec_command, message

from conftest import survivors
from orchestrator import sandbox
from orchestrator.sandbox import Forward, SandboxSpec, isolation_available, limits, run, seccomp
from orchestrator.sandbox.gitview import sanitised_config

pytestmark = pytest.mark.skipif(
    not isolation_available()[0] and not os.environ.get("CI"),
    reason=f"no isolation here: {isolation_available()[1]}",
)

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, env=ENV, capture_output=True, text=True).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, SandboxSpec, str]:
    """A main checkout with a gitignored .env and a token in .git/config, and a worktree of it to jail."""
    token = "ghs_" + secrets.token_hex(18)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text(".env\n")
    (repo / "a.txt").write_text("one\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first commit")
    (repo / ".env").write_text(f"PASSWORD={token}\n")
    git(repo, "config", "http.https://github.com/.extraheader", f"AUTHORIZATION: basic {token}")
    git(repo, "config", "core.fsmonitor", "touch /tmp/fsmonitor-ran")
    git(repo, "config", "credential.helper", "store")
    git(repo, "worktree", "add", "-q", "-b", "task", str(repo / ".orchestrator" / "worktrees" / "w"))
    workspace = repo / ".orchestrator" / "worktrees" / "w"
    spec = SandboxSpec(
        workspace=workspace,
        scratch=repo / ".orchestrator" / "scratch",
        wall_seconds=20,
        max_output_bytes=1 << 20,
        max_processes=64,
    )
    return repo, spec, token


def sh(command: str, spec: SandboxSpec) -> str:
    return run(["/bin/sh", "-c", command], spec).output


# --- seccomp ----------------------------------------------------------------------------


def test_the_filter_is_whole_instructions_that_start_by_checking_the_architecture() -> None:
    program = seccomp.program(seccomp.X86_64)
    assert len(program) % 8 == 0
    code, _, _, k = struct.unpack("=HBBI", program[:8])
    assert (code, k) == (seccomp.LD_W_ABS, seccomp.OFFSET_ARCH)
    assert struct.unpack("=HBBI", program[8:16])[3] == seccomp.X86_64.audit


def test_both_tables_name_every_refused_call() -> None:
    for arch in (seccomp.X86_64, seccomp.AARCH64):
        assert set(seccomp.REFUSED) <= set(arch.numbers)


@pytest.mark.skipif(seccomp.ARCHES.get(os.uname().machine) is not seccomp.X86_64, reason="x86_64 numbers")
def test_every_refused_call_fails_with_eperm_inside_the_jail(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    spec = SandboxSpec(
        workspace=tmp_path / "ws", scratch=tmp_path / "s", wall_seconds=20, max_output_bytes=1 << 20
    )
    numbers = {name: seccomp.X86_64.numbers[name] for name in seccomp.REFUSED}
    code = (
        "import ctypes, json, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nout = {}\n"
        f"for name, nr in {numbers!r}.items():\n"
        "    r = libc.syscall(nr, 0, 0, 0, 0, 0, 0)\n"
        "    out[name] = ctypes.get_errno() if r == -1 else 'returned %d' % r\n"
        "print(json.dumps(out))\n"
    )
    result = run([sys.executable, "-c", code], spec)
    errors = json.loads(result.output)
    assert errors == dict.fromkeys(seccomp.REFUSED, 1)  # EPERM for each


def test_clone_with_a_namespace_flag_is_refused_and_a_plain_fork_works(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    spec = SandboxSpec(
        workspace=tmp_path / "ws", scratch=tmp_path / "s", wall_seconds=20, max_output_bytes=1 << 20
    )
    out = sh(
        'unshare -n true; echo netns=$?; (echo forked); python3 -c \'import os; print("unshare", '
        "os.unshare(os.CLONE_NEWNS) if False else 0)'",
        spec,
    )
    assert "netns=1" in out
    assert "forked" in out


# --- visibility -------------------------------------------------------------------------


def test_the_main_checkouts_env_and_git_config_are_not_visible(
    checkout: tuple[Path, SandboxSpec, str],
) -> None:
    repo, spec, token = checkout
    out = sh(
        f"cat {repo}/.env {repo}/.git/config; ls -a {repo}; ls {repo}/.orchestrator; git config --list; "
        'cat "$(git rev-parse --git-common-dir)/config"',
        spec,
    )
    assert token not in out
    assert "extraheader" not in out
    assert "credential" not in out
    assert "fsmonitor" not in out


def test_git_reads_the_worktree_inside_the_jail(checkout: tuple[Path, SandboxSpec, str]) -> None:
    _, spec, _ = checkout
    (spec.workspace / "a.txt").write_text("two\n")
    out = sh("git status --short; git diff --stat; git log --oneline; git rev-parse --abbrev-ref HEAD", spec)
    assert " M a.txt" in out
    assert "1 file changed" in out
    assert "first commit" in out
    assert "task" in out.split()


def test_a_commit_made_inside_stays_in_the_scratch(checkout: tuple[Path, SandboxSpec, str]) -> None:
    repo, spec, _ = checkout
    before = git(repo, "for-each-ref")
    dot_git = (spec.workspace / ".git").read_text()
    sh(
        "git -c user.name=x -c user.email=x@x commit -qam inside; echo 'gitdir: /x' > .git; "
        "git config core.hooksPath /tmp",
        spec,
    )
    assert git(repo, "for-each-ref") == before
    assert (spec.workspace / ".git").read_text() == dot_git
    assert "hooksPath" not in (repo / ".git" / "config").read_text()


def test_the_sanitised_config_keeps_only_the_repository_format(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(
        "[core]\n\trepositoryformatversion = 1\n\thooksPath = /x\n"
        '[extensions]\n\tobjectformat = sha256\n[remote "o"]\n\turl = https://u:p@h/r\n'
    )
    assert sanitised_config(tmp_path) == (
        "[core]\n\trepositoryformatversion = 1\n\tbare = false\n[extensions]\n\tobjectformat = sha256\n"
    )


def test_a_read_path_that_would_open_the_checkout_is_not_bound(
    checkout: tuple[Path, SandboxSpec, str],
) -> None:
    repo, spec, token = checkout
    out = sh(f"cat {repo}/.env; echo done", replace(spec, read_paths=(repo, repo.parent)))
    assert token not in out
    assert "done" in out


def test_sys_and_the_cgroup_tree_are_not_visible(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    spec = SandboxSpec(
        workspace=tmp_path / "ws", scratch=tmp_path / "s", wall_seconds=20, max_output_bytes=1 << 20
    )
    assert "No such file or directory" in sh("ls /sys/fs/cgroup", spec)


CODEX = Path(
    os.environ.get("ORCH_CODEX_BIN", Path(__file__).resolve().parents[2] / ".tools/node_modules/.bin/codex")
)


@pytest.mark.skipif(
    not CODEX.exists(), reason="the Codex CLI is not installed (make codex, or set ORCH_CODEX_BIN)"
)
def test_a_node_cli_runs_inside_when_its_install_dir_is_a_read_path(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    install = CODEX.resolve().parents[1]  # node_modules/@openai/codex
    spec = SandboxSpec(
        workspace=tmp_path / "ws",
        scratch=tmp_path / "s",
        wall_seconds=30,
        max_output_bytes=1 << 20,
        read_paths=(CODEX.parent.parent.resolve(), install),
    )
    result = run([str(CODEX), "--version"], spec)
    assert result.exit_code == 0, result.output
    assert "codex" in result.output.lower()


# --- limits and what is left behind -------------------------------------------------------


def test_memory_beyond_the_limit_trips_by_rss_polling_when_no_cgroup_can_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setattr(sandbox, "make_cgroups", lambda *a: None)
    (tmp_path / "ws").mkdir()
    spec = SandboxSpec(
        workspace=tmp_path / "ws",
        scratch=tmp_path / "s",
        wall_seconds=30,
        max_output_bytes=1 << 20,
        max_memory_mb=100,
    )
    result = run([sys.executable, "-c", "x = []\nwhile True: x.append(b'y' * (4 << 20))"], spec)
    assert (result.breaker, result.limit) == ("memory", 100)
    assert result.measured > 100
    assert result.limits_enforced["memory"] == limits.Level.RSS_POLL


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroup v1 groups need root")
def test_as_root_the_memory_limit_is_a_cgroup_for_the_whole_jail(tmp_path: Path) -> None:
    if limits.make_cgroups(64, 64) is None:
        pytest.skip("no writable cgroup v1 memory hierarchy here")
    (tmp_path / "ws").mkdir()
    spec = SandboxSpec(
        workspace=tmp_path / "ws",
        scratch=tmp_path / "s",
        wall_seconds=30,
        max_output_bytes=1 << 20,
        max_memory_mb=100,
    )
    code = "x = []\nwhile True: x.append(b'y' * (4 << 20))"
    result = run(
        ["/bin/sh", "-c", f'{sys.executable} -c "{code}" & {sys.executable} -c "{code}"; wait'], spec
    )
    assert (result.breaker, result.limit) == ("memory", 100)
    assert result.limits_enforced == {"memory": "cgroup-v1", "processes": "cgroup-v1", "cpu": "cgroup-v1"}


def test_processes_left_behind_are_recorded_by_the_host_and_killed(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    spec = SandboxSpec(
        workspace=tmp_path / "ws", scratch=tmp_path / "s", wall_seconds=20, max_output_bytes=1 << 20
    )
    tag = f"{secrets.randbelow(10**6) + 10**6}.5"
    result = run(["/bin/sh", "-c", f"setsid sleep {tag} & sleep {tag} >/dev/null & echo started"], spec)
    assert result.denied == [
        {"kind": "process", "target": "2 background process(es) still running at exit, killed"}
    ]
    assert survivors(f"sleep {tag}") == []


def test_killing_the_jails_supervisor_is_recorded_as_a_violation(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    spec = SandboxSpec(
        workspace=tmp_path / "ws", scratch=tmp_path / "s", wall_seconds=20, max_output_bytes=1 << 20
    )
    result = run(["/bin/sh", "-c", "kill -9 $PPID; sleep 5"], spec)
    assert {
        "kind": "audit",
        "target": "the jail's supervisor ended without reporting the exit",
    } in result.denied


def test_the_jail_runs_as_an_unprivileged_user_too(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop to uid 65534")
    base = Path(tempfile.mkdtemp(prefix="orch-jail-nobody-", dir="/tmp"))
    try:
        base.chmod(0o755)
        (base / "ws").mkdir()
        for path in (base, base / "ws"):
            os.chown(path, 65534, 65534)
        engine = base / "engine"  # a copy uid 65534 can read, wherever this checkout lives
        shutil.copytree(
            Path(__file__).resolve().parents[1],
            engine / "orchestrator",
            ignore=shutil.ignore_patterns("__pycache__", "tests"),
        )
        code = (
            "from pathlib import Path; from orchestrator.sandbox import run, SandboxSpec\n"
            f"s = SandboxSpec(workspace=Path('{base}/ws'), scratch=Path('{base}/s'), wall_seconds=20, "
            "max_output_bytes=65536)\n"
            "r = run(['/bin/sh', '-c', "
            "'grep CapEff /proc/self/status; id -u; mount -o remount,rw / || echo no-mount'], s)\n"
            "print(r.output, r.limits_enforced)\n"
        )
        out = subprocess.run(
            [
                "setpriv",
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
                sys.executable,
                "-c",
                code,
            ],
            cwd=engine,
            capture_output=True,
            text=True,
            env={**os.environ, "HOME": str(base)},
            check=False,
        )
        assert "CapEff:\t0000000000000000" in out.stdout, out.stderr
        assert "no-mount" in out.stdout
        assert "'memory': <Level.RSS_POLL: 'rss-poll'>" in out.stdout or "rss-poll" in out.stdout
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(
    not CODEX.exists(), reason="the Codex CLI is not installed (make codex, or set ORCH_CODEX_BIN)"
)
def test_codex_exec_runs_inside_and_reaches_its_model_only_through_a_forward(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    git(workspace, "init", "-q")
    sock_path = tmp_path / "model" / "s"
    sock_path.parent.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(8)

    with ScriptedModel(
        [exec_command("echo from-the-jail; cat /proc/self/status | grep CapEff"), message("done")]
    ) as model:
        port = int(model.base_url.rsplit(":", 1)[1].split("/")[0])

        def relay() -> None:  # host side: the forward's unix socket -> the model's TCP port
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                upstream = socket.create_connection(("127.0.0.1", port))
                for a, b in ((conn, upstream), (upstream, conn)):
                    threading.Thread(target=lambda a=a, b=b: _pump(a, b), daemon=True).start()

        threading.Thread(target=relay, daemon=True).start()
        provider = (
            'model_providers.local={name="local", base_url="http://127.0.0.1:4600/v1", wire_api="responses", '
            "request_max_retries=0, stream_max_retries=0, supports_websockets=false}"
        )
        argv = [
            str(CODEX),
            "exec",
            "--json",
            "--ephemeral",
            "--skip-git-repo-check",
            "--sandbox",
            "danger-full-access",
            "-C",
            str(workspace),
            "-m",
            "gpt-5.5",
            "-c",
            "model_provider=local",
            "-c",
            provider,
            "-c",
            "check_for_update_on_startup=false",
            "-c",
            "analytics.enabled=false",
            "--disable",
            "plugins",
            "--disable",
            "unbounded_connection_retries",
            "say hello",
        ]
        spec = SandboxSpec(
            workspace=workspace,
            scratch=tmp_path / "s",
            wall_seconds=60,
            max_output_bytes=1 << 22,
            read_paths=(CODEX.parent.parent.resolve(),),
            forwards=(Forward(4600, sock_path),),
            extra_env={"CODEX_HOME": str(tmp_path / "s" / "codex-home"), "NO_PROXY": "127.0.0.1"},
        )
        (tmp_path / "s" / "codex-home").mkdir(parents=True)
        result = run(argv, spec)
    listener.close()
    assert result.exit_code == 0, result.output[-3000:]
    assert "turn.completed" in result.output
    assert len(model.requests) == 2
    assert "from-the-jail" in model.requests[1].input_text()
    assert "CapEff:\t0000000000000000" in model.requests[1].input_text()
    assert model.requests[0].authorization == ""


def _pump(source: socket.socket, dest: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            dest.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, dest):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.mark.skipif(not os.access("/opt", os.W_OK), reason="needs a writable /opt")
def test_a_checkout_inside_a_system_dir_is_still_hidden(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="orch-jail-test-", dir="/opt"))
    try:
        repo = base / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "commit", "-q", "--allow-empty", "-m", "x")
        (repo / ".env").write_text("PASSWORD=hidden-in-opt\n")
        git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "wt"))
        spec = SandboxSpec(
            workspace=tmp_path / "wt", scratch=tmp_path / "s", wall_seconds=20, max_output_bytes=1 << 20
        )
        out = sh(f"cat {repo}/.env {repo}/.git/config; ls -a {repo}; git log --oneline", spec)
        assert "hidden-in-opt" not in out
        assert "repositoryformatversion" not in out
        assert " x" in out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_links_planted_in_the_scratch_do_not_make_the_host_write_outside_it(
    checkout: tuple[Path, SandboxSpec, str], tmp_path: Path
) -> None:
    _, spec, _ = checkout
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    victim_dir = tmp_path / "victim-dir"
    victim_dir.mkdir()
    plant = (
        'S=$(dirname "$HOME"); '
        f'for n in gitfile git git-objects home tmp; do rm -rf "$S/$n"; done; '
        f'ln -s {victim} "$S/gitfile"; ln -s {victim_dir} "$S/git"; ln -s {victim_dir} "$S/git-objects"; '
        f'ln -s {victim_dir} "$S/home"; ls -la "$S"'
    )
    sh(plant, spec)
    assert (spec.scratch / "gitfile").is_symlink()  # the plant worked; now the host prepares the next jail
    out = sh("git log --oneline; echo next-ran", spec)
    assert "next-ran" in out and "first commit" in out
    assert victim.read_text() == "untouched\n"
    assert list(victim_dir.iterdir()) == []

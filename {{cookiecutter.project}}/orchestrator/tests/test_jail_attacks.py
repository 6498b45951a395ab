"""Red team for the jail: task packs that try to reshape it, see past it, erase its record or starve the host.

Each attack is a shell task pack run end to end with `python -m orchestrator run`, as
root and as an unprivileged user (uid 65534 through `setpriv`, on a copy of the
repository it owns). Each is judged from the host, never from what the jail says:

- nothing outside the worktree changed (the checkout's files, `.git/config`, hooks,
  the interpreter's site-packages, a file beside the repository);
- no planted secret is in any file under runs/ nor in any ref's history;
- no process the attack started is left;
- the run did not end `succeeded`.

Every pack is written so that a successful escape makes it succeed (it leaves `escaped.txt`
only when it sees the escape's fruit, e.g. the main checkout's files), so containment shows
as a failed, refused or tripped run. (Parents of the worktree's path exist inside the jail on
its private tmpfs, so "I wrote <repo>/x" proves nothing there: the host looks at the real one.)
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import GIT_ENV, git, survivors, write_pack
from orchestrator.sandbox import isolation_available

pytestmark = pytest.mark.skipif(
    not isolation_available()[0] and not os.environ.get("CI"),
    reason=f"no isolation here: {isolation_available()[1]}",
)

NOBODY = 65534
FAST = {"wall_seconds": 30, "phase_wall_seconds": 15}
SITE = (
    Path(next(p for p in sys.path if p.endswith("site-packages")))
    if any(p.endswith("site-packages") for p in sys.path)
    else Path(sys.prefix)
)


@dataclass
class Host:
    """The repository under attack, who runs the orchestrator on it, and the secrets planted around it."""

    repo: Path
    user: str
    secrets: dict[str, str]
    outside: Path

    def run(
        self, task_id: str, timeout: float = 120
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        env = {**os.environ, **GIT_ENV, "PLANTED_API_TOKEN": self.secrets["env"]}
        argv = [sys.executable, "-m", "orchestrator", "run", task_id]
        if self.user == "unprivileged" and os.geteuid() == 0:
            home = self.repo.parent / "home"
            env["HOME"] = str(home)
            argv = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups", "--", *argv]
        proc = subprocess.run(
            argv, cwd=self.repo, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        runs = sorted((self.repo / "runs" / task_id).glob("*/manifest.json"))
        assert runs, proc.stdout + proc.stderr
        return proc, json.loads(runs[-1].read_text(encoding="utf-8"))


def _tree_digest(root: Path, skip: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + f":{path.stat().st_mode:o}"
    return out


def outside_state(host: Host) -> dict[str, Any]:
    """What only an escape could change: every file of the checkout but runs/, .orchestrator/ and git's
    own bookkeeping of the run (objects, refs, logs, index), plus .git/config and hooks, site-packages,
    a host file."""
    git_skip = (
        ".git/objects",
        ".git/refs",
        ".git/logs",
        ".git/index",
        ".git/packed-refs",
        ".git/ORIG_HEAD",
        ".git/worktrees",
        ".git/COMMIT_EDITMSG",
        ".git/FETCH_HEAD",
        ".git/HEAD",
    )
    return {
        "checkout": _tree_digest(host.repo, ("runs", ".orchestrator", *git_skip)),
        "site": sorted(p.name for p in SITE.iterdir()),
        "outside": host.outside.read_text(),
    }


def leaked(host: Host) -> list[str]:
    """Where a planted secret appears: a file under runs/, or the history of any ref."""
    values = list(host.secrets.values())
    where = []
    for path in (host.repo / "runs").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            where.extend(f"{path.relative_to(host.repo)}" for v in values if v.encode() in data)
    history = subprocess.run(
        ["git", "-c", "safe.directory=*", "log", "--all", "-p", "--binary", "--format=%H %s"],
        cwd=host.repo,
        capture_output=True,
        check=True,
    ).stdout
    where.extend("a ref's history" for v in values if v.encode() in history)
    return where


@pytest.fixture(params=["root", "unprivileged"])
def host(request: pytest.FixtureRequest, repo: Path) -> Iterator[Host]:
    """The repository with a gitignored .env and a CI token in .git/config, run as root or as uid 65534."""
    user = request.param
    if user == "root" and os.geteuid() != 0:
        pytest.skip("the root case needs root; this run is unprivileged")
    if user == "unprivileged" and os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop to uid 65534")
    found = {
        "env": "tok" + secrets.token_hex(16),
        "dotenv": "dotenv" + secrets.token_hex(16),
        "extraheader": "ghs_" + secrets.token_hex(18),
    }
    (repo / ".env").write_text(f"SERVICE_PASSWORD={found['dotenv']}\n")
    with (repo / ".gitignore").open("a") as handle:
        handle.write("\n.env\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore .env")
    git(
        repo, "config", "http.https://github.com/.extraheader", f"AUTHORIZATION: basic {found['extraheader']}"
    )
    base = Path(tempfile.mkdtemp(prefix="orch-jail-attack-", dir="/tmp"))
    base.chmod(0o755)
    try:
        dest = base / "repo"
        shutil.copytree(repo, dest, symlinks=True)
        (base / "home").mkdir()
        outside = base / "outside.txt"
        outside.write_text("untouched\n")
        if user == "unprivileged" and os.geteuid() == 0:
            for path in [base, *base.rglob("*")]:
                os.lchown(path, NOBODY, NOBODY)
        yield Host(dest, user, found, outside)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def attack(
    host: Host,
    task_id: str,
    command: str,
    check: str = "test -f escaped.txt",
    limits: dict[str, int] | None = None,
    tag: str = "",
) -> tuple[dict[str, Any], str]:
    """Runs the attack as a pack; returns (manifest, execute log) after judging it from the host."""
    write_pack(
        host.repo,
        task_id,
        commit=False,
        executor={"kind": "shell", "commands": [command]},
        acceptance=[{"id": "escaped", "run": check}],
        limits={**FAST, **(limits or {})},
    )
    subprocess.run(
        ["git", "-c", "safe.directory=*", "add", "-A"],
        cwd=host.repo,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    subprocess.run(
        ["git", "-c", "safe.directory=*", "commit", "-qm", f"attack {task_id}"],
        cwd=host.repo,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    if host.user == "unprivileged" and os.geteuid() == 0:
        for path in [*host.repo.rglob("*")]:
            os.lchown(path, NOBODY, NOBODY)
    before = outside_state(host)
    proc, manifest = host.run(task_id)
    assert manifest["status"] != "succeeded", (manifest["status"], manifest.get("reason"), proc.stdout)
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr
    assert outside_state(host) == before
    assert leaked(host) == []
    if tag:
        assert survivors(tag) == []
    logs = sorted((host.repo / "runs" / task_id).glob("*/logs/execute.log"))
    return manifest, logs[-1].read_text() if logs else ""


def test_remounting_the_checkout_read_write_fails(host: Host) -> None:
    repo = host.repo
    command = (
        f"mount -o remount,bind,rw {repo}; mount -o remount,rw /; mount --bind / /tmp; "
        f"echo x > {repo}/PLANTED.txt; echo 'import os' >> {repo}/orchestrator/phases/review.py; "
        f"echo 'import os' > {SITE}/zz_planted.pth; "
        f"test -f {repo}/noxfile.py && touch escaped.txt; true"
    )
    _, log = attack(host, "jail-remount", command)
    assert "must be superuser" in log or "Operation not permitted" in log or "Permission denied" in log


def test_unmounting_the_shadow_mask_fails(host: Host) -> None:
    command = (
        "umount /etc/shadow; umount -l /etc/ssh; cat /etc/shadow > shadow.txt; "
        "test -s shadow.txt && touch escaped.txt; true"
    )
    attack(host, "jail-umount", command)


def test_a_nested_user_namespace_cannot_be_made(host: Host) -> None:
    command = (
        "unshare -Urm sh -c 'mount -t tmpfs x /usr && touch /usr/x' && touch escaped.txt; "
        'python3 -c "import os; os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNS)" && touch escaped.txt; true'
    )
    attack(host, "jail-userns", command)


def test_moving_out_of_the_jails_cgroup_fails(host: Host) -> None:
    command = (
        "for c in /sys/fs/cgroup/pids /sys/fs/cgroup/memory /sys/fs/cgroup/unified /sys/fs/cgroup; do "
        "echo $$ > $c/cgroup.procs && touch escaped.txt; done; ls /sys/fs/cgroup && touch escaped.txt; true"
    )
    attack(host, "jail-cgroup", command)


def test_the_checkouts_env_and_git_config_cannot_be_read(host: Host) -> None:
    repo = host.repo
    command = (
        f"cat {repo}/.env {repo}/.git/config > loot.txt 2>&1; git config --list --show-origin >> loot.txt; "
        'cat "$(git rev-parse --git-common-dir)/config" >> loot.txt; '
        "find / -xdev \\( -name .env -o -name config \\) -path '*.git*' 2>/dev/null "
        "| xargs cat >> loot.txt 2>&1; "
        "cat loot.txt; grep -qi 'extraheader\\|SERVICE_PASSWORD' loot.txt && touch escaped.txt; "
        "git status --short > status.txt && git log --oneline -1 > log.txt; cat log.txt"
    )
    _data, log = attack(host, "jail-read", command, check="test -f escaped.txt && test -s log.txt")
    assert "authorization: basic" not in log.lower()
    assert "no such file or directory" in log.lower()
    assert "attack jail-read" in log, "git log must still work inside the jail"


def test_erasing_or_replacing_the_audit_socket_does_not_erase_the_denial(host: Host) -> None:
    command = (
        'S=$(sed -n "s/.*connect(\'\\(.*\\)\').*/\\1/p" "$(command -v aws)"); echo "audit at $S"; '
        'rm -f "$S"; ln -sf /dev/null "$S"; printf \'#!/bin/sh\\nexit 0\\n\' > "$(command -v aws)"; '
        "aws s3 ls && touch escaped.txt; true"
    )
    data, _log = attack(host, "jail-audit", command)
    assert {"kind": "cloud", "target": "aws", "phase": "execute"} in data["safety"]["denied"]


def test_a_memory_flood_trips_the_memory_breaker(host: Host) -> None:
    tag = f"{secrets.randbelow(10**6) + 10**6}.5"
    command = (
        f"sleep {tag} & python3 -c \"x = []\nwhile True: x.append(b'y' * (8 << 20))\"; touch escaped.txt"
    )
    data, _ = attack(host, "jail-memory", command, limits={"max_memory_mb": 128}, tag=tag)
    assert data["status"] == "tripped"
    assert [(b["name"], b["limit"]) for b in data["breakers"]] == [("memory", 128)]
    expected = "cgroup-v1" if host.user == "root" else "rss-poll"
    assert data["safety"]["limits_enforced"]["memory"] == expected


def test_the_command_holds_no_capability(host: Host) -> None:
    command = (
        "grep Cap /proc/self/status; grep -q 'CapEff:[[:space:]]*0*$' /proc/self/status || touch escaped.txt"
    )
    _, log = attack(host, "jail-caps", command)
    assert "CapEff:\t0000000000000000" in log

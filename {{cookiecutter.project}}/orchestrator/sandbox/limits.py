"""Memory, process and CPU limits for the whole jail, and how each one is enforced.

As root on a cgroup v1 machine the jail runs in its own memory, pids and cpu groups
(the kernel enforces them). Elsewhere the memory limit is a host-side breaker that
polls the total resident memory of every process in the jail's PID namespace and
kills it, and the process limit is RLIMIT_NPROC inside the jail's user namespace.
RLIMIT_AS is never used: it breaks V8, the JVM and Chromium.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from orchestrator.sandbox.audit import jail_processes

CGROUP_V1 = Path("/sys/fs/cgroup")
MIB = 1 << 20
PAGE = resource.getpagesize()


class Level(StrEnum):
    CGROUP_V1 = "cgroup-v1"
    RSS_POLL = "rss-poll"
    RLIMIT = "rlimit"
    NONE = "none"


def _own_path(controller: str) -> str | None:
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return None


@dataclass
class Cgroups:
    """One jail's groups, by controller (v1 hierarchies: memory, pids, cpu)."""

    dirs: dict[str, Path]

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def _read(self, controller: str, name: str) -> str:
        directory = self.dirs.get(controller)
        if directory is None:
            return ""
        try:
            return (directory / name).read_text(encoding="ascii")
        except OSError:
            return ""

    def _field(self, controller: str, name: str, key: str) -> int:
        for line in self._read(controller, name).splitlines():
            label, _, value = line.partition(" ")
            if label == key and value.strip().isdigit():
                return int(value)
        return 0

    def oom_kills(self) -> int:
        return self._field("memory", "memory.oom_control", "oom_kill")

    def peak_mb(self) -> float:
        text = self._read("memory", "memory.max_usage_in_bytes").strip()
        return round(int(text) / MIB, 1) if text.isdigit() else 0.0

    def refused_forks(self) -> int:
        return self._field("pids", "pids.events", "max")

    def pids(self) -> set[int]:
        out: set[int] = set()
        for procs in self.procs_files():
            try:
                out.update(int(x) for x in procs.read_text(encoding="ascii").split())
            except (OSError, ValueError):
                continue
        return out

    def kill_all(self, deadline: float = 5.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end and (pids := self.pids()):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self) -> None:
        self.kill_all()
        for directory in self.dirs.values():
            for _ in range(1000):  # an exiting task leaves its group a moment after it is reaped
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002)


SETTINGS: dict[str, Callable[[int, int], list[tuple[str, str]]]] = {
    "memory": lambda mb, procs: [
        ("memory.limit_in_bytes", str(mb * MIB)),
        ("memory.memsw.limit_in_bytes", str(mb * MIB)),
    ],
    "pids": lambda mb, procs: [("pids.max", str(procs))],
    "cpu": lambda mb, procs: [("cpu.cfs_quota_us", str(cpu_quota_us()))],
}
"""What each controller's group is set to (the first entry must hold; the others are best effort)."""

CPU_PERIOD_US = 100_000
"""cgroup v1's default CFS period."""


def cpu_quota_us(cpus: int | None = None) -> int:
    """The jail may use all CPUs but half of one, so the supervisor that must stop it always gets to run."""
    count = cpus or os.cpu_count() or 1
    return int(max(count - 0.5, 0.5) * CPU_PERIOD_US)


def make_cgroups(max_memory_mb: int, max_tasks: int) -> Cgroups | None:
    """Fresh v1 groups for the jail, or None where they cannot be made (not root, no v1, read-only)."""
    if os.geteuid() != 0:
        return None
    made: dict[str, Path] = {}
    name = f"orchestrator-{os.getpid()}-{secrets.token_hex(4)}"
    for controller, settings in SETTINGS.items():
        own = _own_path(controller)
        base = CGROUP_V1 / controller
        if own is None or not (base / "cgroup.procs").is_file():
            continue
        directory = base / own.lstrip("/") / name
        try:
            directory.mkdir()
            required, *optional = settings(max_memory_mb, max_tasks)
            (directory / required[0]).write_text(required[1], encoding="ascii")
            for file, value in optional:
                with contextlib.suppress(OSError):
                    (directory / file).write_text(value, encoding="ascii")
        except OSError:
            with contextlib.suppress(OSError):
                directory.rmdir()
            if controller == "memory":
                break
            continue
        made[controller] = directory
    if "memory" not in made:
        Cgroups(made).remove()
        return None
    return Cgroups(made)


def jail_rss_mb(pid1: int) -> float:
    """Resident memory of every process of the jail, summed (shared pages count once per process)."""
    total = 0
    for pid in jail_processes(pid1):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text("ascii").split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return round(total * PAGE / MIB, 1)


def enforced(cgroups: Cgroups | None) -> dict[str, str]:
    """The manifest's record of how each limit held for this process."""
    if cgroups is None:
        return {"memory": Level.RSS_POLL, "processes": Level.RLIMIT, "cpu": Level.NONE}
    return {
        "memory": Level.CGROUP_V1,
        "processes": Level.CGROUP_V1 if "pids" in cgroups.dirs else Level.RLIMIT,
        "cpu": Level.CGROUP_V1 if "cpu" in cgroups.dirs else Level.NONE,
    }

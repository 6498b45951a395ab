"""Runs one process in the jail and watches it: output, breakers, memory, what it leaves behind.

The supervisor is the host side. It reads the jail's output as it comes (so the output
breaker is exact and `on_line` sees each line live), polls wall time, the kill switch,
the memory limit and the process limit, and on any trip kills the jail's whole PID
namespace. When the command ends it counts the processes still alive in the jail
(recorded as `process` denials) before killing them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator.breakers import kill_switch_reason
from orchestrator.errors import Tripped
from orchestrator.sandbox import audit
from orchestrator.sandbox.limits import Cgroups, jail_rss_mb
from orchestrator.sandbox.spec import Execution, LineHook, SandboxSpec

LOG = logging.getLogger("orchestrator.sandbox")
POLL_SECONDS = 0.05
SETUP_TIMEOUT = 20.0

Trip = tuple[str, float, float]


class SetupFailed(Exception):
    """The jail could not be built; the message is bubblewrap's (or the init's) own."""


@dataclass
class Channels:
    """The pipes the host reads besides output: bubblewrap's JSON status and the init's status."""

    bwrap_status: int
    init_status: int
    pid1: int | None = None
    ready: bool = False
    exit_code: int | None = None
    setup_error: str = ""
    buffers: dict[int, bytes] = field(default_factory=dict)

    def feed(self, fd: int, data: bytes) -> None:
        self.buffers[fd] = self.buffers.get(fd, b"") + data
        *lines, self.buffers[fd] = self.buffers[fd].split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if fd == self.bwrap_status:
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict) and isinstance(item.get("child-pid"), int) and self.pid1 is None:
                    self.pid1 = item["child-pid"]
            elif line == "ready":
                self.ready = True
            elif line.startswith("exit ") and self.exit_code is None and self.ready:
                with contextlib.suppress(ValueError):
                    self.exit_code = int(line.split()[1])
            elif line.startswith("error: "):
                self.setup_error = line.removeprefix("error: ")[:400]


def kill_jail(proc: subprocess.Popen[bytes], pid1: int | None, cgroups: Cgroups | None) -> None:
    """SIGKILL to the jail's PID 1 makes the kernel kill every process in its namespace."""
    if pid1 is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid1, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if cgroups is not None:
        cgroups.kill_all()


def _feed_stdin(pipe: IO[bytes], data: bytes) -> None:
    """Writes stdin from a thread: a process that never reads must not block the supervisor."""
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            pipe.close()


@dataclass
class Watch:
    spec: SandboxSpec
    start: float
    timeout: float | None
    stop_file: Path | None
    cgroups: Cgroups | None
    channels: Channels
    on_line: LineHook | None
    pending: bytes = b""

    @property
    def limit_seconds(self) -> float:
        return min(x for x in (self.timeout, self.spec.wall_seconds) if x is not None)

    def wall(self) -> tuple[str, float, float]:
        if self.timeout is not None and self.timeout < self.spec.wall_seconds:
            return ("timeout_seconds", self.timeout, 0.0)
        return (self.spec.wall_name, self.spec.wall_seconds + self.spec.wall_spent, self.spec.wall_spent)

    def poll(self) -> Trip | None:
        elapsed = time.monotonic() - self.start
        if elapsed >= self.limit_seconds:
            name, limit, spent = self.wall()
            return (name, round(limit, 3), round(spent + elapsed, 3))
        if kill_switch_reason(os.environ, self.stop_file):
            return ("kill_switch", 0, 1)
        return self.resources()

    def resources(self) -> Trip | None:
        spec = self.spec
        if self.cgroups is not None:
            if self.cgroups.oom_kills():
                return ("memory", spec.max_memory_mb, max(self.cgroups.peak_mb(), spec.max_memory_mb))
            if refused := self.cgroups.refused_forks():
                return ("max_processes", spec.max_processes, spec.max_processes + refused)
        elif self.channels.pid1 is not None and spec.isolate:
            rss = jail_rss_mb(self.channels.pid1)
            if rss > spec.max_memory_mb:
                return ("memory", spec.max_memory_mb, rss)
        return None

    def lines(self, data: bytes, final: bool = False) -> Trip | None:
        if self.on_line is None:
            return None
        self.pending += data
        *lines, self.pending = self.pending.split(b"\n")
        if final and self.pending:
            lines, self.pending = [*lines, self.pending], b""
        try:
            for line in lines:
                self.on_line(line.decode("utf-8", "replace"))
        except Tripped as trip:
            return (trip.breaker, trip.limit, trip.measured)
        return None


def supervise(
    argv: Sequence[str],
    proc: subprocess.Popen[bytes],
    spec: SandboxSpec,
    channels: Channels,
    stdin: bytes | None,
    timeout: float | None,
    start: float,
    stop_file: Path | None,
    cgroups: Cgroups | None,
    on_line: LineHook | None,
) -> tuple[Execution, list[int]]:
    """Returns the execution and the host PIDs left in the jail when the command ended."""
    assert proc.stdout is not None
    watch = Watch(spec, start, timeout, stop_file, cgroups, channels, on_line)
    selector = selectors.DefaultSelector()
    out_fd = proc.stdout.fileno()
    for fd in (out_fd, channels.bwrap_status, channels.init_status):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    open_fds = {out_fd, channels.bwrap_status, channels.init_status}
    output = Output(spec.max_output_bytes)
    breaker: Trip | None = None
    left: list[int] = []
    try:
        early = _until_ready(selector, open_fds, channels, proc)
        if stdin is not None and proc.stdin:
            threading.Thread(
                target=_feed_stdin, args=(proc.stdin, stdin), name="sandbox-stdin", daemon=True
            ).start()
        breaker = output.take(early) or watch.lines(early)
        while breaker is None and channels.exit_code is None and proc.poll() is None:
            if (breaker := watch.poll()) is not None:
                break
            for key, _ in selector.select(timeout=POLL_SECONDS):
                fd = int(key.fd)
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(fd)
                    open_fds.discard(fd)
                elif fd != out_fd:
                    channels.feed(fd, data)
                elif (breaker := output.take(data) or watch.lines(data)) is not None:
                    break
        if breaker is None:
            breaker = watch.resources()
        if channels.pid1 is not None and breaker is None:
            left = audit.leftovers(channels.pid1)
    finally:
        kill_jail(proc, channels.pid1, cgroups)
        proc.wait()
        rest = _drain(out_fd) if out_fd in open_fds else b""
        selector.close()
        proc.stdout.close()
    if breaker is None:
        breaker = output.take(rest) or watch.lines(rest) or watch.lines(b"", final=True)
    code = channels.exit_code
    result = Execution(
        argv=list(argv),
        exit_code=None if breaker else code,
        output=output.text(),
        output_bytes=output.total,
        duration=round(time.monotonic() - start, 3),
    )
    if breaker:
        result.breaker, result.limit, result.measured = breaker
        LOG.info("sandbox: breaker %s tripped (limit %s, measured %s)", *breaker)
    elif code is None:
        result.exit_code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        result.denied.append(
            {"kind": "audit", "target": "the jail's supervisor ended without reporting the exit"}
        )
    return result, left


@dataclass
class Output:
    """The command's output, kept up to the limit; going beyond it trips `max_output_bytes`."""

    limit: int
    total: int = 0
    chunks: list[bytes] = field(default_factory=list)

    def take(self, data: bytes) -> Trip | None:
        room = self.limit - self.total
        self.total += len(data)
        if self.total > self.limit:
            self.chunks.append(data[: max(room, 0)])
            return ("max_output_bytes", self.limit, self.total)
        self.chunks.append(data)
        return None

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")


def _until_ready(
    selector: selectors.BaseSelector, open_fds: set[int], channels: Channels, proc: subprocess.Popen[bytes]
) -> bytes:
    """Waits for the init's `ready` (returns output read meanwhile); a jail that never gets there raises."""
    deadline = time.monotonic() + SETUP_TIMEOUT
    out_fd = proc.stdout.fileno() if proc.stdout else -1
    early = b""
    while not channels.ready and time.monotonic() < deadline:
        events = selector.select(timeout=0.2)
        if not events and proc.poll() is not None:
            break
        for key, _ in events:
            fd = int(key.fd)
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(fd)
                open_fds.discard(fd)
                if fd == channels.init_status:
                    raise SetupFailed(
                        channels.setup_error
                        or early.decode("utf-8", "replace").strip()[:400]
                        or f"bubblewrap exited {proc.poll()}"
                    )
                continue
            if fd == out_fd:
                early += data
            else:
                channels.feed(fd, data)
        if channels.setup_error:
            raise SetupFailed(channels.setup_error)
    if not channels.ready:
        raise SetupFailed(early.decode("utf-8", "replace").strip()[:400] or "the jail did not start in time")
    return early


def _drain(fd: int, limit: int = 64 << 20) -> bytes:
    """What the command wrote before it was killed (the pipe reaches its end once the jail is gone)."""
    deadline = time.monotonic() + 2
    data = b""
    while time.monotonic() < deadline and len(data) < limit:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data

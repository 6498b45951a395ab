"""What the jail did that it must not hide: records the host keeps, never files the jail can write.

- `AuditServer`: a unix socket in a host directory bound read-only into the jail. Refused
  cloud CLIs (their shims) report here; the host holds the records in memory. A socket
  that is gone or replaced when the run ends is itself recorded as a violation.
- `leftovers`: processes still running in the jail's PID namespace when the command
  ended, counted by the host from /proc before it kills the namespace.
- `escaping_symlinks`: links under the workspace that point outside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
from pathlib import Path

KINDS = ("cloud",)
"""What may arrive on the audit socket (anything else is dropped)."""
MAX_RECORDS = 100
MAX_RECORD_BYTES = 4096


class AuditServer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(16)
        self._identity = self._stat()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sandbox-audit", daemon=True)

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.lstat(self.path)
        except OSError:
            return None
        return (info.st_dev, info.st_ino) if stat.S_ISSOCK(info.st_mode) else None

    def start(self) -> AuditServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # shut down by stop()
                return
            with conn:
                conn.settimeout(1)
                try:
                    data = conn.recv(MAX_RECORD_BYTES)
                except OSError:
                    continue
            self._take(data)

    def _take(self, data: bytes) -> None:
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and item.get("kind") in KINDS and isinstance(item.get("target"), str):
                with self._lock:
                    if len(self.records) < MAX_RECORDS:
                        self.records.append({"kind": item["kind"], "target": item["target"][:100]})

    def stop(self) -> list[dict[str, str]]:
        """Stops serving; returns the records, plus an `audit` violation when the socket was tampered with."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() at once (Linux)
        self._thread.join(timeout=2)
        intact = self._stat() == self._identity
        self._sock.close()
        with self._lock:
            out = list(self.records)
        if not intact:
            out.append({"kind": "audit", "target": "the audit socket was removed or replaced"})
        return out


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            out.extend(int(x) for x in Path(f"/proc/{pid}/task/{task}/children").read_text("ascii").split())
        except (OSError, ValueError):
            continue
    return out


def jail_processes(pid1: int) -> list[int]:
    """Every process of the jail: the descendants of its PID 1 (orphans are reparented to it)."""
    seen: dict[int, None] = {}
    todo = [pid1]
    while todo and len(seen) < 100_000:
        pid = todo.pop()
        seen[pid] = None
        todo.extend(c for c in _children(pid) if c not in seen)
    return list(seen)


def inner_pid(pid: int) -> int | None:
    """The process's PID inside its innermost PID namespace."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text("ascii").splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


SUPERVISORS = (1, 2)
"""bubblewrap's init (1) and `inside` (2): every other process alive at the end is left behind."""


def leftovers(pid1: int) -> list[int]:
    return [p for p in jail_processes(pid1) if inner_pid(p) not in SUPERVISORS]


def escaping_symlinks(workspace: Path, limit: int = 100) -> list[str]:
    """Symlinks under the workspace (its .git excluded) whose target resolves outside it."""
    root = workspace.resolve()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".git" in dirnames:
            dirnames.remove(".git")
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                continue
            target = os.readlink(path)
            resolved = (
                (path.parent / target).resolve() if not os.path.isabs(target) else Path(target).resolve()
            )
            if resolved != root and root not in resolved.parents:
                found.append(f"{path.relative_to(root).as_posix()} -> {target}")
                if len(found) >= limit:
                    return found
    return found

"""One run of a task at a time: two runs of the same pack would race for its task branch.

A run holds an exclusive `flock` on `.orchestrator/locks/<task-id>.lock` from the moment it starts
until its process exits (the kernel releases it even after a crash or SIGKILL). A second run of the
same task is refused before it writes anything; runs of other tasks are not affected.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from orchestrator.errors import Refused

LOCKS = "locks"
_HELD: dict[str, int] = {}
"""Lock file path -> its open descriptor, for the runs this process is carrying."""


def _path(state_dir: Path, task_id: str) -> Path:
    return state_dir / LOCKS / f"{task_id}.lock"


def hold(state_dir: Path, task_id: str) -> None:
    """Takes the task's lock for the rest of this process; Refused when another run holds it."""
    path = _path(state_dir, task_id)
    if str(path) in _HELD:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Refused(
            f"a run of {task_id} is already going (its lock {path.name} is held); wait for it to "
            "finish: two runs of one task would race for its task branch"
        ) from None
    _HELD[str(path)] = fd


def is_held(state_dir: Path, task_id: str) -> bool:
    """Whether some process is running this task now (for a control plane's up-front refusal)."""
    path = _path(state_dir, task_id)
    if str(path) in _HELD or not path.exists():
        return str(path) in _HELD
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def release(state_dir: Path, task_id: str) -> None:
    """Gives the task's lock back once its run is published (or finalized): the process may go on."""
    fd = _HELD.pop(str(_path(state_dir, task_id)), None)
    if fd is not None:
        os.close(fd)

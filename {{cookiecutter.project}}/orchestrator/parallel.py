"""Several task packs at once: `python -m orchestrator run a b c --jobs N` (`nox -s run -- a b c -j N`).

Each pack runs as its own `python -m orchestrator run <id>` process, in its own worktree, with
its own run directory (the run id is chosen here, so the outcome is found without guessing);
at most N run at a time. A line is printed whenever a pack starts or ends, and a heartbeat
names the packs still running; a final table gives each pack's status, time and summary.
Ctrl-C (or SIGTERM) is passed to every run, and each still finalizes. The exit code is the
worst of the runs (aborted 130 > refused or tripped 3 > bad input 2 > failed 1 > 0).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from orchestrator.config import Settings
from orchestrator.layout import MANIFEST, SUMMARY
from orchestrator.runs import new_run_id

SEVERITY = {0: 0, 1: 1, 2: 2, 3: 3, 130: 4}
HEARTBEAT_SECONDS = 10.0
POLL_SECONDS = 0.1


@dataclass
class Slot:
    task_id: str
    run_id: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ended: float = 0.0
    code: int | None = None

    def outcome(self, settings: Settings) -> tuple[str, str]:
        """(status, summary path) from the run's manifest, or what is known without one."""
        run_dir = settings.runs_dir / self.task_id / self.run_id
        try:
            status = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))["status"]
        except (OSError, ValueError, KeyError):
            status = "not started" if self.code == 2 else f"no manifest (exit {self.code})"
        summary = run_dir / SUMMARY
        return status, summary.relative_to(settings.repo).as_posix() if summary.is_file() else "-"


def worst(codes: list[int]) -> int:
    return max(codes, key=lambda c: SEVERITY.get(c, 5), default=0)


def _start(settings: Settings, slot: Slot, push: bool, logs: Path) -> None:
    argv = [sys.executable, "-m", "orchestrator", "run", slot.task_id, "--run-id", slot.run_id]
    if push:
        argv.append("--push")
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{slot.task_id}-{slot.run_id}.log", "wb") as log:
        slot.process = subprocess.Popen(
            argv,
            cwd=settings.repo,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
    slot.started = time.monotonic()


def run_many(
    settings: Settings,
    task_ids: list[str],
    jobs: int,
    *,
    push: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Runs every pack, at most `jobs` at once; returns the worst exit code."""
    slots = [Slot(task_id, new_run_id()) for task_id in task_ids]
    waiting, running, done = deque(slots), list[Slot](), list[Slot]()
    logs = settings.state_dir / "parallel"
    interrupted: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        interrupted.append(signum)
        waiting.clear()
        for slot in running:
            if slot.process is not None and slot.process.poll() is None:
                os.kill(slot.process.pid, signal.SIGTERM)  # the run aborts its phase and finalizes

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    beat = time.monotonic()
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                slot = waiting.popleft()
                _start(settings, slot, push, logs)
                running.append(slot)
                say(f"[{slot.task_id}] started (run {slot.run_id})")
            for slot in list(running):
                assert slot.process is not None
                if (code := slot.process.poll()) is None:
                    continue
                slot.code, slot.ended = code, time.monotonic()
                running.remove(slot)
                done.append(slot)
                status, summary = slot.outcome(settings)
                say(f"[{slot.task_id}] {status} (exit {code}, {slot.ended - slot.started:.1f} s): {summary}")
            if running and time.monotonic() - beat >= HEARTBEAT_SECONDS:
                beat = time.monotonic()
                say("still running: " + ", ".join(f"{s.task_id} ({beat - s.started:.0f} s)" for s in running))
            time.sleep(POLL_SECONDS)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    say(table(settings, slots))
    codes = [s.code if s.code is not None else 130 for s in slots]
    return 130 if interrupted else worst(codes)


def table(settings: Settings, slots: list[Slot]) -> str:
    rows = [("pack", "status", "exit", "time", "summary")]
    for slot in slots:
        status, summary = slot.outcome(settings) if slot.code is not None else ("not started", "-")
        seconds = f"{slot.ended - slot.started:.1f} s" if slot.code is not None else "-"
        rows.append(
            (slot.task_id, status, str(slot.code if slot.code is not None else "-"), seconds, summary)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])

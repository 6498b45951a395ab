"""Circuit breakers: pure functions over what was measured, plus the kill switch.

Every breaker answers the same question — given a limit and a measurement, has it
tripped? — and a trip is a `Trip(name, limit, measured, detail)` that becomes
`errors.Tripped` (exit 3, status `tripped`; the manifest and summary name the breaker,
its limit and the measured value). The limits come from the task pack's `limits`,
whose defaults live in the schema. Breakers that must act *while* a process runs
(wall time, output bytes, kill switch, process count) are enforced by the sandbox's
supervisor loop and the codex stream reader; the rest are checked between steps by
the execute phase.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import Tripped

KILL_SWITCH_VAR = "ORCH_KILL_SWITCH"
STOP_FILE = "STOP"
"""`.orchestrator/STOP`: touching it stops every run of the repository, at once."""


@dataclass(frozen=True)
class Trip:
    name: str
    limit: float
    measured: float
    detail: str = ""

    def error(self) -> Tripped:
        return Tripped(self.name, self.limit, self.measured, self.detail)


def raise_if(trip: Trip | None) -> None:
    if trip is not None:
        raise trip.error()


# --- kill switch ------------------------------------------------------------------------


def stop_file(state_dir: Path) -> Path:
    return state_dir / STOP_FILE


def kill_switch_reason(environ: Mapping[str, str], stop: Path | None) -> str | None:
    """Why everything must stop now, or None. Cheap: the sandbox polls it while processes run."""
    value = environ.get(KILL_SWITCH_VAR, "").strip().lower()
    if value not in ("", "0", "false", "no", "off"):
        return f"{KILL_SWITCH_VAR}={environ.get(KILL_SWITCH_VAR)}"
    if stop is not None and stop.exists():
        return f"{stop.parent.name}/{stop.name} exists"
    return None


def check_kill_switch(environ: Mapping[str, str], stop: Path | None) -> Trip | None:
    reason = kill_switch_reason(environ, stop)
    return Trip("kill_switch", 0, 1, reason) if reason else None


# --- counts -----------------------------------------------------------------------------


def output_digest(output: str | bytes) -> str:
    data = output.encode("utf-8", "replace") if isinstance(output, str) else output
    return hashlib.sha256(data).hexdigest()


@dataclass
class FailureTracker:
    """Repeated identical failure: the same command, exit code and output hash, N times."""

    limit: int
    seen: Counter[tuple[str, int | None, str]] = field(default_factory=Counter)

    def record(self, command: str, exit_code: int | None, output: str | bytes) -> Trip | None:
        key = (command, exit_code, output_digest(output))
        self.seen[key] += 1
        count = self.seen[key]
        if count >= self.limit:
            return Trip(
                "max_repeated_failures",
                self.limit,
                count,
                f"`{command}` failed with exit {exit_code} and identical output {count} times",
            )
        return None


@dataclass(frozen=True)
class DiffStat:
    files: int
    lines: int


def diff_stat_of(changes: Iterable[Any]) -> DiffStat:
    """From gitops.FileChange items (or dicts with added/deleted): files touched and lines +/-."""
    files = lines = 0
    for change in changes:
        added = change["added"] if isinstance(change, Mapping) else change.added
        deleted = change["deleted"] if isinstance(change, Mapping) else change.deleted
        files += 1
        lines += int(added) + int(deleted)
    return DiffStat(files, lines)


def check_diff(stat: DiffStat, limits: Mapping[str, Any]) -> Trip | None:
    if stat.files > limits["max_changed_files"]:
        return Trip("max_changed_files", limits["max_changed_files"], stat.files)
    if stat.lines > limits["max_diff_lines"]:
        return Trip("max_diff_lines", limits["max_diff_lines"], stat.lines)
    return None


def check_agent(usage: Mapping[str, int], limits: Mapping[str, Any]) -> Trip | None:
    """max_turns, max_commands, max_tokens over agent usage numbers (e.g. usage_from_events)."""
    tokens = usage.get("total_tokens") or usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
    for name, measured in (
        ("max_turns", usage.get("turns", 0)),
        ("max_commands", usage.get("commands", 0)),
        ("max_tokens", tokens),
    ):
        if name in limits and measured > limits[name]:
            return Trip(name, limits[name], measured)
    return None

"""The judgements, as pure functions over traces: divergence, golden, tick budget, snapshot diff."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .replay import Trace

MISSING = "(no tick: the run had stopped)"
MAX_PATHS = 20


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Divergence:
    """The earliest tick at which two runs disagree, and the first such pair."""

    tick: int
    a: int
    b: int
    hash_a: str
    hash_b: str


@dataclass(frozen=True)
class PathDiff:
    path: str
    a: Any
    b: Any


@dataclass(frozen=True)
class Budget:
    budget_ms: float
    p95_ms: float
    max_ms: float
    max_tick: int
    ticks_judged: int
    warmup_ticks: int
    verdict: Verdict


def hash_at(trace: Trace, tick: int) -> str:
    return trace.hashes[tick] if tick < len(trace.hashes) else MISSING


def first_divergence(traces: Sequence[Trace]) -> Divergence | None:
    """Earliest tick where any two runs differ; a run that stopped differs from one that went on."""
    longest = max((len(t.hashes) for t in traces), default=0)
    for tick in range(longest):
        values = [hash_at(t, tick) for t in traces]
        if len(set(values)) > 1:
            b = next(i for i, v in enumerate(values) if v != values[0])
            return Divergence(tick, 0, b, values[0], values[b])
    return None


def first_mismatch(golden: Sequence[str], hashes: Sequence[str]) -> int | None:
    """First tick where a run's hashes and the golden ones disagree, a missing tick included."""
    for tick in range(max(len(golden), len(hashes))):
        if tick >= len(golden) or tick >= len(hashes) or golden[tick] != hashes[tick]:
            return tick
    return None


def diff_states(a: Any, b: Any, path: str = "$", limit: int = MAX_PATHS) -> list[PathDiff]:
    """The leaf paths where two snapshots differ, with both values (JSONPath-like: $.bots.ada.score)."""
    out: list[PathDiff] = []

    def walk(x: Any, y: Any, where: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                walk(x.get(key, MISSING_VALUE), y.get(key, MISSING_VALUE), f"{where}.{key}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for index, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(u, v, f"{where}[{index}]")
        elif x != y or type(x) is not type(y):
            out.append(PathDiff(where, x, y))

    walk(a, b, path)
    return out


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING_VALUE: Any = _Missing()


def median_ms(traces: Sequence[Trace]) -> list[float]:
    """Per tick, the median over the runs that reached it: the least noisy single figure per tick."""
    longest = max((len(t.ms) for t in traces), default=0)
    return [statistics.median([t.ms[i] for t in traces if i < len(t.ms)]) for i in range(longest)]


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def judge_budget(per_tick: Sequence[float], budget_ms: float, warmup: int) -> Budget | None:
    """p95 over the budget fails, the max over it only warns; warm-up ticks are left out."""
    judged = list(per_tick[warmup:]) if len(per_tick) > warmup else list(per_tick)
    skipped = warmup if len(per_tick) > warmup else 0
    if not judged:
        return None
    top = max(judged)
    top_tick = skipped + judged.index(top)
    high = p95(judged)
    verdict = Verdict.FAILED if high > budget_ms else Verdict.WARNING if top > budget_ms else Verdict.PASSED
    return Budget(budget_ms, round(high, 4), round(top, 4), top_tick, len(judged), skipped, verdict)

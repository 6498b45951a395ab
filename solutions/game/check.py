"""One plugin run: replay the game under every hash seed, judge, draw, and build the findings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import checks, golden, report
from .checks import Budget, Divergence, PathDiff, Verdict
from .options import Options
from .replay import Trace, detail_run, read_inputs, run_game, write_inputs
from .report import Finding

PLOT_FILE = "game/ticks.png"
NO_PICTURES = "matplotlib is not installed (pip install -r solutions/game/requirements.txt)"
FRAMES_FILE = "game/frames.png"
WINDOW = 2
"""Frames shown on each side of the first divergent tick."""


def pictures() -> Any:
    """The drawing module, imported when a picture is due (matplotlib is the one heavy dependency)."""
    from . import pictures as module

    return module


def can_draw() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Context:
    options: Options
    workspace: Path
    out: Path
    version: str
    task_file: str


def anchor(ctx: Context, tick: int | None) -> tuple[str, int]:
    """Where a tick's finding points: line tick+1 of the replay (that tick's inputs), else the task pack."""
    if ctx.options.replay is not None:
        return ctx.options.replay, (tick + 1 if tick is not None else 0)
    return ctx.task_file, 0


def related(ctx: Context, traces: list[Trace], *extra: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    source = next((t.source for t in traces if t.source), None)
    found = [(source, 0)] if source else []
    return tuple(found) + extra


def error_findings(ctx: Context, traces: list[Trace]) -> list[Finding]:
    """One game-error finding per distinct failure (tick and message); the same crash in every run is one."""
    findings = []
    seen: set[tuple[int | None, str]] = set()
    for trace in traces:
        if trace.error is None or (trace.error_tick, trace.error) in seen:
            continue
        seen.add((trace.error_tick, trace.error))
        file, line = anchor(ctx, trace.error_tick)
        where = ()
        if trace.error_file:
            path = Path(trace.error_file)
            try:
                shown = path.resolve().relative_to(ctx.workspace.resolve()).as_posix()
                where = ((shown, int(trace.error_line or 0)),)
            except ValueError:
                where = ()
        tick = f"tick {trace.error_tick}" if trace.error_tick is not None else "start-up"
        message = f"run with PYTHONHASHSEED={trace.hash_seed} stopped at {tick}: {trace.error}"
        findings.append(
            Finding(
                "game-error",
                "error",
                message,
                file,
                trace.error_tick,
                line,
                where or related(ctx, traces),
                {"hash_seed": trace.hash_seed},
            )
        )
    return findings


def divergence_detail(
    ctx: Context, traces: list[Trace], inputs_file: Path, div: Divergence
) -> tuple[list[PathDiff], Path | None, str]:
    """The state paths that differ at the divergent tick (both values), and frames around it."""
    a, b = traces[div.a], traces[div.b]
    window = tuple(range(max(0, div.tick - WINDOW), div.tick + WINDOW + 1))
    if ctx.options.entry:
        states_a, frames_a = detail_run(
            ctx.options, ctx.workspace, inputs_file, a.hash_seed, window, ctx.out / "detail-a"
        )
        states_b, frames_b = detail_run(
            ctx.options, ctx.workspace, inputs_file, b.hash_seed, window, ctx.out / "detail-b"
        )
        strip = (
            pictures().frame_strip(
                [(f"PYTHONHASHSEED={a.hash_seed}", frames_a), (f"PYTHONHASHSEED={b.hash_seed}", frames_b)],
                ctx.out / FRAMES_FILE,
                f"frames around the first divergence (tick {div.tick})",
            )
            if can_draw()
            else None
        )
    else:
        states_a, states_b, strip = a.states, b.states, None
    if div.tick in states_a and div.tick in states_b:
        diffs = checks.diff_states(states_a[div.tick], states_b[div.tick])
        note = "" if diffs else "the snapshots taken again agree: the difference did not reproduce"
    else:
        diffs, note = (
            [],
            (
                'no snapshot: the command game sends no "state" in its lines'
                if ctx.options.command
                else "no snapshot: a run stopped before this tick"
            ),
        )
    return diffs, strip, note


def final_frame(ctx: Context, inputs_file: Path, traces: list[Trace], ticks: int) -> Path | None:
    if not ctx.options.entry or ticks == 0 or not can_draw():
        return None
    _, frames = detail_run(
        ctx.options, ctx.workspace, inputs_file, traces[0].hash_seed, (ticks - 1,), ctx.out / "detail-a"
    )
    return pictures().frame_strip(
        [(f"PYTHONHASHSEED={traces[0].hash_seed}", frames)],
        ctx.out / FRAMES_FILE,
        f"final frame (tick {ticks - 1})",
    )


def evaluate(ctx: Context) -> dict[str, Any]:
    """Runs every check and returns the plugin_result/v1 document; pictures and SARIF go to ctx.out."""
    options = ctx.options
    (ctx.out / "game").mkdir(parents=True, exist_ok=True)  # pictures go under game/, the plugin's own name
    inputs = read_inputs(ctx.workspace, options)
    reference = golden.load(ctx.workspace / options.golden, options.golden) if options.golden else None
    inputs_file = write_inputs(inputs, ctx.out / "inputs.jsonl")
    traces = [run_game(options, ctx.workspace, inputs_file, len(inputs), seed) for seed in options.hash_seeds]
    findings = error_findings(ctx, traces)
    details: dict[str, Any] = {
        "ticks": len(inputs),
        "seed": options.seed,
        "hash_seeds": list(options.hash_seeds),
        "mode": "entry" if options.entry else "command",
    }
    summary: list[str] = []
    if findings:
        first = min((f.tick for f in findings if f.tick is not None), default=None)
        stopped = sum(1 for t in traces if t.error)
        summary.append(
            f"{stopped} of {len(traces)} run(s) stopped early"
            + (f", first at tick {first}" if first is not None else "")
        )

    div = checks.first_divergence(traces)
    strip = None
    if div is not None:
        diffs, strip, note = divergence_detail(ctx, traces, inputs_file, div)
        a, b = traces[div.a], traces[div.b]
        shown = "; ".join(
            f"{d.path}: {report.jsonable(d.a)!r} vs {report.jsonable(d.b)!r}" for d in diffs[:5]
        )
        message = (
            f"nondeterministic from tick {div.tick}: PYTHONHASHSEED={a.hash_seed} and "
            f"PYTHONHASHSEED={b.hash_seed} give different states"
            + (f"; {len(diffs)} path(s) differ: {shown}" if diffs else f"; {note}" if note else "")
        )
        file, line = anchor(ctx, div.tick)
        findings.insert(
            0,
            Finding(
                "nondeterminism",
                "error",
                message,
                file,
                div.tick,
                line,
                related(ctx, traces),
                {"hash_seeds": [a.hash_seed, b.hash_seed]},
            ),
        )
        details["divergence"] = {
            "tick": div.tick,
            "runs": [
                {"hash_seed": a.hash_seed, "state_hash": div.hash_a},
                {"hash_seed": b.hash_seed, "state_hash": div.hash_b},
            ],
            "paths": [{"path": d.path, "a": report.jsonable(d.a), "b": report.jsonable(d.b)} for d in diffs],
            "note": note,
        }
        summary.append(f"nondeterministic from tick {div.tick}")
    else:
        details["divergence"] = None
        if not any(t.error for t in traces):
            summary.append(f"deterministic over {len(inputs)} ticks under {len(traces)} hash seeds")
            strip = final_frame(ctx, inputs_file, traces, len(inputs))

    if reference is not None and options.golden:
        findings += golden_findings(ctx, traces, reference, summary, details)

    per_tick = checks.median_ms(traces)
    budget = (
        checks.judge_budget(per_tick, options.tick_budget_ms, options.warmup_ticks)
        if options.tick_budget_ms is not None
        else None
    )
    findings += budget_findings(ctx, traces, budget, summary, details)

    artifacts = []
    if can_draw():
        pictures().tick_plot(
            traces,
            per_tick,
            options.tick_budget_ms,
            min(options.warmup_ticks, len(per_tick)),
            div.tick if div else None,
            ctx.out / PLOT_FILE,
            f"{options.entry or ' '.join(options.command or ())}: tick time, {len(traces)} runs",
        )
        artifacts.append({"path": PLOT_FILE, "kind": "image", "title": "Tick time per tick (ticks from 0)"})
        details["pictures"] = {"status": Verdict.PASSED.value}
    else:
        details["pictures"] = {"status": Verdict.SKIPPED.value, "reason": NO_PICTURES}
    sarif = report.sarif(findings, ctx.version)
    (ctx.out / report.SARIF_FILE).write_text(
        json.dumps(sarif, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    details["artifacts"] = artifacts
    if strip is not None:
        details["artifacts"].append(
            {
                "path": FRAMES_FILE,
                "kind": "image",
                "title": "Frames around the first divergence" if div else "Final frame",
            }
        )
    details["artifacts"].append(
        {"path": report.SARIF_FILE, "kind": "sarif", "title": "Findings (SARIF 2.1.0)"}
    )
    metrics: dict[str, float] = {
        "ticks": len(inputs),
        "runs": len(traces),
        "divergent_tick": div.tick if div else -1,
        "findings": len(findings),
    }
    if per_tick:
        metrics["tick_ms_median_max"] = round(max(per_tick), 4)
    if budget is not None:
        metrics |= {
            "tick_ms_p95": budget.p95_ms,
            "tick_ms_max": budget.max_ms,
            "tick_budget_ms": budget.budget_ms,
        }
    return report.plugin_result(findings, ctx.version, "; ".join(summary), metrics, details)


def golden_findings(
    ctx: Context, traces: list[Trace], reference: golden.Golden, summary: list[str], details: dict[str, Any]
) -> list[Finding]:
    options = ctx.options
    assert options.golden is not None
    if reference.seed != options.seed:
        message = (
            f"golden {options.golden} was recorded with seed {reference.seed}, the options say "
            f"{options.seed}: re-record it or fix the seed"
        )
        details["golden"] = {"file": options.golden, "matches": False, "tick": None}
        summary.append("golden recorded with another seed")
        return [Finding("golden-mismatch", "error", message, options.golden, None, 0)]
    run = traces[0]
    tick = checks.first_mismatch(reference.hashes, run.hashes)
    details["golden"] = {"file": options.golden, "matches": tick is None, "tick": tick}
    if tick is None:
        summary.append(f"golden {options.golden} matches")
        return []
    got = run.hashes[tick] if tick < len(run.hashes) else checks.MISSING
    want = reference.hashes[tick] if tick < len(reference.hashes) else checks.MISSING
    message = (
        f"replay differs from golden {options.golden} from tick {tick}: state hash {got[:23]}, "
        f"golden {want[:23]} (if the change is meant, re-record with `python -m solutions.game record`)"
    )
    file, line = anchor(ctx, tick)
    summary.append(f"golden mismatch from tick {tick}")
    return [
        Finding(
            "golden-mismatch",
            "error",
            message,
            file,
            tick,
            line,
            related(
                ctx, traces, (options.golden, golden.line_of(tick) if tick < len(reference.hashes) else 0)
            ),
        )
    ]


def budget_findings(
    ctx: Context, traces: list[Trace], budget: Budget | None, summary: list[str], details: dict[str, Any]
) -> list[Finding]:
    if ctx.options.tick_budget_ms is None:
        details["budget"] = None
        return []
    if budget is None:
        details["budget"] = {"verdict": Verdict.SKIPPED.value, "reason": "no tick was timed"}
        summary.append("tick budget skipped: no tick was timed")
        return []
    details["budget"] = {
        "verdict": budget.verdict.value,
        "budget_ms": budget.budget_ms,
        "p95_ms": budget.p95_ms,
        "max_ms": budget.max_ms,
        "max_tick": budget.max_tick,
        "ticks_judged": budget.ticks_judged,
        "warmup_ticks": budget.warmup_ticks,
    }
    figures = f"p95 {budget.p95_ms:g} ms, max {budget.max_ms:g} ms at tick {budget.max_tick}"
    summary.append(f"tick budget {budget.budget_ms:g} ms {budget.verdict.value}: {figures}")
    file, line = anchor(ctx, budget.max_tick)
    if budget.verdict is Verdict.FAILED:
        message = (
            f"tick budget {budget.budget_ms:g} ms exceeded: p95 tick time {budget.p95_ms:g} ms "
            f"over {budget.ticks_judged} ticks after {budget.warmup_ticks} warm-up; slowest tick "
            f"{budget.max_tick} took {budget.max_ms:g} ms"
        )
        return [
            Finding("tick-budget-p95", "error", message, file, budget.max_tick, line, related(ctx, traces))
        ]
    if budget.verdict is Verdict.WARNING:
        message = (
            f"tick {budget.max_tick} took {budget.max_ms:g} ms, over the tick budget "
            f"{budget.budget_ms:g} ms (p95 {budget.p95_ms:g} ms is within it)"
        )
        return [
            Finding("tick-budget-max", "warning", message, file, budget.max_tick, line, related(ctx, traces))
        ]
    return []

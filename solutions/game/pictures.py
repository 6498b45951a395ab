"""The pictures: tick time per tick against the budget, and a strip of game frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy

from .replay import Trace

DPI = 100
# Fixed metadata, so the same figures give the same bytes.
METADATA = {"Software": None}


def tick_plot(
    traces: Sequence[Trace],
    per_tick: Sequence[float],
    budget_ms: float | None,
    warmup: int,
    divergence: int | None,
    out: Path,
    title: str,
) -> Path:
    """Tick time (ms) for every tick from 0: each run faint, the per-tick median bold, the budget dashed."""
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=DPI)
    for trace in traces:
        ax.plot(range(len(trace.ms)), trace.ms, color="0.75", linewidth=0.6)
    ax.plot(range(len(per_tick)), per_tick, color="tab:blue", linewidth=1.4, label="median over runs")
    if warmup:
        ax.axvspan(-0.5, warmup - 0.5, color="0.9", label=f"warm-up ({warmup} ticks)")
    if budget_ms is not None:
        ax.axhline(
            budget_ms, color="tab:red", linestyle="--", linewidth=1.2, label=f"budget {budget_ms:g} ms"
        )
    if divergence is not None:
        ax.axvline(
            divergence, color="tab:purple", linewidth=1.2, label=f"first divergence: tick {divergence}"
        )
    ax.set_xlabel("tick (from 0)")
    ax.set_ylabel("tick time (ms)")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-0.5, max(len(per_tick) - 0.5, 0.5))
    ax.set_ylim(bottom=0)
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, format="png", metadata=METADATA)
    plt.close(fig)
    return out


def frame_strip(rows: Sequence[tuple[str, dict[int, Path]]], out: Path, title: str) -> Path | None:
    """One row of frames per run (label, {tick: .npy frame}), ticks in order; None when no frame exists."""
    rows = [(label, frames) for label, frames in rows if frames]
    if not rows:
        return None
    ticks = sorted({t for _, frames in rows for t in frames})
    fig, axes = plt.subplots(
        len(rows), len(ticks), figsize=(2.2 * len(ticks), 2.2 * len(rows) + 0.4), dpi=DPI, squeeze=False
    )
    for r, (label, frames) in enumerate(rows):
        for c, tick in enumerate(ticks):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if tick in frames:
                ax.imshow(numpy.load(frames[tick]), interpolation="nearest")
            ax.set_title(f"{label} · tick {tick}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, format="png", metadata=METADATA)
    plt.close(fig)
    return out

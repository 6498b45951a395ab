"""The tick budget: p95 over it fails, max over it warns, warm-up ticks left out; the plot shows it."""

from __future__ import annotations

from .conftest import FAST_SEEDS

OPTIONS = {"entry": "toy:make", "replay": "replays/toy.jsonl", "hash_seeds": FAST_SEEDS, "warmup_ticks": 2}
PNG = b"\x89PNG\r\n\x1a\n"


def test_a_game_sleeping_30_ms_a_tick_fails_a_16_ms_budget_naming_it(workspace, plugin) -> None:
    outcome = plugin(workspace("time.sleep(0.03)", ticks=10), {**OPTIONS, "tick_budget_ms": 16})
    assert outcome.result["status"] == "failed"
    [finding] = outcome.result["findings"]
    assert finding["rule"] == "tick-budget-p95"
    assert "tick budget 16 ms exceeded" in finding["message"]
    assert outcome.details["budget"]["p95_ms"] >= 30
    assert outcome.details["budget"]["ticks_judged"] == 8


def test_one_slow_tick_only_warns(workspace, plugin) -> None:
    bug = """
    if self.tick == 6:
        time.sleep(0.05)
    """
    outcome = plugin(workspace(bug, ticks=40), {**OPTIONS, "tick_budget_ms": 16})
    assert outcome.result["status"] == "passed"
    [finding] = outcome.result["findings"]
    assert (finding["rule"], finding["severity"], finding["line"]) == ("tick-budget-max", "warning", 7)
    assert outcome.details["budget"]["max_tick"] == 6


def test_warm_up_ticks_are_not_judged(workspace, plugin) -> None:
    bug = """
    if self.tick < 2:
        time.sleep(0.05)
    """
    outcome = plugin(workspace(bug, ticks=20), {**OPTIONS, "tick_budget_ms": 16})
    assert outcome.result["findings"] == []
    assert outcome.details["budget"]["verdict"] == "passed"


def test_the_tick_plot_is_a_png_listed_as_an_image_artifact(workspace, plugin) -> None:
    outcome = plugin(workspace(ticks=10), {**OPTIONS, "tick_budget_ms": 16})
    images = [a for a in outcome.details["artifacts"] if a["kind"] == "image"]
    assert images[0]["path"] == "game/ticks.png"
    assert (outcome.out / "game/ticks.png").read_bytes().startswith(PNG)


def test_a_game_with_render_gets_its_final_frame_or_frames_around_the_divergence(workspace, plugin) -> None:
    passing = plugin(workspace(ticks=10), OPTIONS)
    assert "game/frames.png" in [a["path"] for a in passing.details["artifacts"]]
    assert (passing.out / "game/frames.png").read_bytes().startswith(PNG)

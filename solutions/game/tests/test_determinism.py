"""Determinism: separate processes under fixed PYTHONHASHSEED values, the first divergent tick named."""

from __future__ import annotations

import pytest

from .conftest import FAST_SEEDS, TASK, Outcome, make_workspace, run_plugin

ENTRY = {"entry": "toy:make", "replay": "replays/toy.jsonl"}
SET_BUG = """
if self.tick >= 37:
    self.order = [name for name in NAMES]
"""


@pytest.fixture(scope="module")
def set_bug(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The plugin, default options, over a game whose state follows set order from tick 37 on."""
    root = tmp_path_factory.mktemp("set-bug")
    return run_plugin(make_workspace(root / "ws", SET_BUG), ENTRY, root / "out")


def test_a_deterministic_game_passes(workspace, plugin) -> None:
    outcome = plugin(workspace(), ENTRY)
    assert outcome.exit_code == 0
    assert outcome.result["status"] == "passed", outcome.result["summary"]
    assert outcome.result["findings"] == []
    assert outcome.details["divergence"] is None
    assert outcome.result["metrics"]["runs"] == 8 and outcome.result["metrics"]["ticks"] == 60


def test_a_set_iteration_bug_is_caught_at_the_tick_it_starts(set_bug: Outcome) -> None:
    outcome = set_bug
    assert outcome.result["status"] == "failed"
    assert outcome.details["divergence"]["tick"] == 37
    first = outcome.result["findings"][0]
    assert first["rule"] == "nondeterminism"
    assert "tick 37" in first["message"]
    assert (first["file"], first["line"]) == ("replays/toy.jsonl", 38)  # the line holding tick 37's inputs


def test_the_divergence_names_the_state_paths_that_differ_with_both_values(set_bug: Outcome) -> None:
    outcome = set_bug
    paths = outcome.details["divergence"]["paths"]
    assert paths and all(p["path"].startswith("$.order[") for p in paths)
    assert all(p["a"] != p["b"] and p["a"] in {"ada", "bob", "cy", "dee", "eve", "fay"} for p in paths)
    seeds = [run["hash_seed"] for run in outcome.details["divergence"]["runs"]]
    assert seeds[0] != seeds[1]


def test_an_unseeded_random_is_caught_at_its_tick(workspace, plugin) -> None:
    bug = """
    if self.tick == 12:
        self.extra = random.random()
    """
    outcome = plugin(workspace(bug, ticks=None), {"entry": "toy:make", "ticks": 30, "hash_seeds": FAST_SEEDS})
    assert outcome.result["status"] == "failed"
    assert outcome.details["divergence"]["tick"] == 12
    assert [p["path"] for p in outcome.details["divergence"]["paths"]] == ["$.extra"]
    first = outcome.result["findings"][0]
    assert (first["rule"], first["file"]) == ("nondeterminism", TASK)  # no replay file: the task pack


def test_a_wall_clock_dependence_is_caught_at_its_tick(workspace, plugin) -> None:
    bug = """
    if self.tick >= 20:
        self.extra = time.time_ns()
    """
    outcome = plugin(workspace(bug), {**ENTRY, "hash_seeds": FAST_SEEDS})
    assert outcome.result["status"] == "failed"
    assert outcome.details["divergence"]["tick"] == 20
    assert "tick 20" in outcome.result["summary"]


def test_ticks_count_from_zero_a_divergence_in_the_first_step_is_tick_0(workspace, plugin) -> None:
    bug = """
    if self.tick == 0:
        self.extra = random.random()
    """
    outcome = plugin(workspace(bug), {**ENTRY, "hash_seeds": FAST_SEEDS})
    assert outcome.details["divergence"]["tick"] == 0
    assert outcome.result["findings"][0]["line"] == 1


def test_a_game_that_raises_is_reported_at_its_tick_with_its_source_line(workspace, plugin) -> None:
    bug = """
    if self.tick == 9:
        raise RuntimeError("the arena fell over")
    """
    outcome = plugin(workspace(bug), {**ENTRY, "hash_seeds": FAST_SEEDS})
    assert outcome.result["status"] == "failed"
    [finding] = outcome.result["findings"]
    assert finding["rule"] == "game-error" and "tick 9" in finding["message"]
    assert "the arena fell over" in finding["message"]


def test_a_snapshot_holding_a_set_is_refused_with_its_path(workspace, plugin) -> None:
    bug = """
    self.extra = {"names": set(NAMES)}
    """
    outcome = plugin(workspace(bug), {**ENTRY, "hash_seeds": FAST_SEEDS})
    [finding] = outcome.result["findings"]
    assert finding["rule"] == "game-error"
    assert "$.extra.names" in finding["message"] and "tick 0" in finding["message"]

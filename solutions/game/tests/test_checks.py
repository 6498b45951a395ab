"""The pure judgements, one behaviour each."""

from __future__ import annotations

from ..checks import Verdict, diff_states, first_divergence, first_mismatch, judge_budget, p95
from ..replay import Trace, parse_lines
from ..runner import state_hash


def trace(seed: int, hashes: str) -> Trace:
    return Trace(seed, tuple(hashes), tuple(1.0 for _ in hashes))


def test_the_earliest_divergence_over_all_pairs_wins() -> None:
    runs = [trace(0, "aaaaa"), trace(1, "aaaaa"), trace(2, "aaaXa"), trace(3, "aaYYY")]
    divergence = first_divergence(runs)
    assert divergence is not None and (divergence.tick, divergence.b) == (2, 3)


def test_a_run_that_stopped_early_diverges_at_its_missing_tick() -> None:
    divergence = first_divergence([trace(0, "aaaa"), trace(1, "aa")])
    assert divergence is not None and divergence.tick == 2


def test_identical_runs_do_not_diverge() -> None:
    assert first_divergence([trace(s, "abc") for s in range(4)]) is None


def test_golden_mismatch_counts_a_missing_tick() -> None:
    assert first_mismatch("abc", "abc") is None
    assert first_mismatch("abc", "abd") == 2
    assert first_mismatch("abc", "ab") == 2


def test_state_diff_names_leaf_paths_with_both_values() -> None:
    diffs = diff_states(
        {"bots": {"ada": {"x": 1, "y": 2}}, "coins": [[1, 2]]},
        {"bots": {"ada": {"x": 1, "y": 3}}, "coins": [[1, 5]]},
    )
    assert [(d.path, d.a, d.b) for d in diffs] == [("$.bots.ada.y", 2, 3), ("$.coins[0][1]", 2, 5)]


def test_p95_is_the_nearest_rank() -> None:
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert p95([3.0]) == 3.0


def test_budget_fails_on_p95_and_warns_on_max() -> None:
    assert judge_budget([1.0] * 99 + [50.0], 16, 0).verdict is Verdict.WARNING
    assert judge_budget([30.0] * 10, 16, 0).verdict is Verdict.FAILED
    assert judge_budget([50.0, 1.0, 1.0], 16, 1).verdict is Verdict.PASSED


def test_the_canonical_hash_ignores_key_order_and_tuple_vs_list() -> None:
    assert state_hash({"a": 1, "b": (1, 2)}) == state_hash({"b": [1, 2], "a": 1})
    assert state_hash({"a": 1}) != state_hash({"a": 1.5})


def test_protocol_lines_that_are_not_tick_records_are_the_game_log() -> None:
    parsed = parse_lines('hello\n{"tick": 0, "state_hash": "h", "ms": 2}\n[1]\n', 0, "")
    assert parsed.hashes == ("h",) and parsed.ms == (2.0,) and parsed.error is None

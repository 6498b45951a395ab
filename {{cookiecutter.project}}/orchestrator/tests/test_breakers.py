"""Circuit breakers as pure functions: each trips exactly past its limit and names what it measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import breakers
from orchestrator.breakers import DiffStat, FailureTracker, Trip
from orchestrator.errors import Tripped

LIMITS = {
    "max_changed_files": 3,
    "max_diff_lines": 100,
    "max_turns": 2,
    "max_commands": 5,
    "max_tokens": 1000,
}


def test_a_trip_becomes_a_tripped_error_naming_breaker_limit_and_measured() -> None:
    error = Trip("max_diff_lines", 100, 150, "too big").error()
    assert isinstance(error, Tripped)
    assert (error.breaker, error.limit, error.measured) == ("max_diff_lines", 100, 150)
    assert error.exit_code == 3


def test_the_kill_switch_variable_trips() -> None:
    assert breakers.kill_switch_reason({"ORCH_KILL_SWITCH": "1"}, None) == "ORCH_KILL_SWITCH=1"
    assert breakers.kill_switch_reason({"ORCH_KILL_SWITCH": "0"}, None) is None
    assert breakers.kill_switch_reason({}, None) is None


def test_the_stop_file_trips(tmp_path: Path) -> None:
    stop = breakers.stop_file(tmp_path / ".orchestrator")
    assert breakers.check_kill_switch({}, stop) is None
    stop.parent.mkdir()
    stop.touch()
    trip = breakers.check_kill_switch({}, stop)
    assert trip is not None and trip.name == "kill_switch" and ".orchestrator/STOP" in trip.detail


def test_the_same_failure_repeated_trips_at_the_limit() -> None:
    tracker = FailureTracker(limit=2)
    assert tracker.record("make", 1, "boom") is None
    trip = tracker.record("make", 1, "boom")
    assert trip is not None and (trip.name, trip.limit, trip.measured) == ("max_repeated_failures", 2, 2)


def test_different_output_exit_code_or_command_is_not_the_same_failure() -> None:
    tracker = FailureTracker(limit=2)
    assert tracker.record("make", 1, "boom") is None
    assert tracker.record("make", 1, "boom 2") is None
    assert tracker.record("make", 2, "boom") is None
    assert tracker.record("make test", 1, "boom") is None


def test_diff_size_trips_on_files_then_lines() -> None:
    changes = [{"path": f"f{i}", "added": 10, "deleted": 5} for i in range(3)]
    stat = breakers.diff_stat_of(changes)
    assert stat == DiffStat(3, 45)
    assert breakers.check_diff(stat, LIMITS) is None
    assert breakers.check_diff(DiffStat(4, 10), LIMITS) == Trip("max_changed_files", 3, 4)
    assert breakers.check_diff(DiffStat(1, 101), LIMITS) == Trip("max_diff_lines", 100, 101)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"turns": 3, "commands": 0, "total_tokens": 0}, Trip("max_turns", 2, 3)),
        ({"turns": 1, "commands": 6, "total_tokens": 0}, Trip("max_commands", 5, 6)),
        (
            {"turns": 1, "commands": 1, "input_tokens": 900, "output_tokens": 200},
            Trip("max_tokens", 1000, 1100),
        ),
        ({"turns": 2, "commands": 5, "total_tokens": 1000}, None),
    ],
)
def test_agent_limits_trip_on_turns_commands_or_tokens(usage: dict[str, int], expected: Trip | None) -> None:
    assert breakers.check_agent(usage, LIMITS) == expected


def test_raise_if_raises_only_for_a_trip() -> None:
    breakers.raise_if(None)
    with pytest.raises(Tripped, match="max_changed_files"):
        breakers.raise_if(
            breakers.check_diff(DiffStat(60, 1), {"max_changed_files": 50, "max_diff_lines": 2000})
        )

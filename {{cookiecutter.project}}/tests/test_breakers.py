"""Circuit breakers as pure functions: each trips exactly past its limit and names what it measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import breakers
from orchestrator.breakers import Deadline, DiffStat, FailureTracker, Trip
from orchestrator.errors import Tripped

LIMITS = {"max_changed_files": 3, "max_diff_lines": 100, "max_turns": 2, "max_commands": 5, "max_tokens": 1000}


def test_a_trip_becomes_a_tripped_error_naming_breaker_limit_and_measured() -> None:
    error = Trip("max_diff_lines", 100, 150, "too big").error()
    assert isinstance(error, Tripped)
    assert (error.breaker, error.limit, error.measured) == ("max_diff_lines", 100, 150)
    assert error.exit_code == 3


def test_a_trip_record_fits_the_manifest_breakers_entry() -> None:
    assert Trip("wall_seconds", 5, 5.2).record("execute") == {"name": "wall_seconds", "limit": 5, "measured": 5.2,
                                                             "phase": "execute"}


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


def test_a_deadline_trips_once_its_seconds_are_spent() -> None:
    deadline = Deadline.start("phase_wall_seconds", 10, now=100.0)
    assert deadline.check(now=109.9) is None
    trip = deadline.check(now=110.5)
    assert trip == Trip("phase_wall_seconds", 10, 10.5)


def test_the_tightest_deadline_wins() -> None:
    run = Deadline.start("wall_seconds", 600, now=0.0)
    phase = Deadline.start("phase_wall_seconds", 300, now=500.0)
    left, which = breakers.tightest(run, phase, now=550.0)
    assert (left, which.name) == (50.0, "wall_seconds")


def test_attempts_trip_only_beyond_the_limit() -> None:
    assert breakers.check_attempts(2, 2) is None
    assert breakers.check_attempts(3, 2) == Trip("max_attempts", 2, 3)


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


def test_output_bytes_trip_beyond_the_limit() -> None:
    assert breakers.check_output(10, 10) is None
    assert breakers.check_output(11, 10) == Trip("max_output_bytes", 10, 11)


def test_agent_usage_is_read_from_the_codex_event_stream() -> None:
    events = [
        {"type": "thread.started", "thread_id": "t"},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"type": "command_execution", "command": "ls"}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "hi"}},
        {"type": "turn.completed", "usage": {"input_tokens": 300, "output_tokens": 50}},
        {"type": "turn.started"},
        {"type": "turn.completed", "usage": {"input_tokens": 400, "output_tokens": 60, "total_tokens": 460}},
    ]
    assert breakers.usage_from_events(events) == {"turns": 2, "commands": 1, "input_tokens": 700,
                                                  "output_tokens": 110, "total_tokens": 810}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"turns": 3, "commands": 0, "total_tokens": 0}, Trip("max_turns", 2, 3)),
        ({"turns": 1, "commands": 6, "total_tokens": 0}, Trip("max_commands", 5, 6)),
        ({"turns": 1, "commands": 1, "input_tokens": 900, "output_tokens": 200}, Trip("max_tokens", 1000, 1100)),
        ({"turns": 2, "commands": 5, "total_tokens": 1000}, None),
    ],
)
def test_agent_limits_trip_on_turns_commands_or_tokens(usage: dict[str, int], expected: Trip | None) -> None:
    assert breakers.check_agent(usage, LIMITS) == expected


def test_raise_if_raises_only_for_a_trip() -> None:
    breakers.raise_if(None)
    with pytest.raises(Tripped, match="max_processes"):
        breakers.raise_if(breakers.check_processes(300, 256))

"""Bad options and bad inputs: a located, human error, exit 2, no traceback, nothing half-written."""

from __future__ import annotations

import pytest

from .conftest import TASK

BASE = {"entry": "toy:make", "replay": "replays/toy.jsonl"}


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({**BASE, "tick_budget_ms": -1}, "plugin.options.tick_budget_ms"),
        ({**BASE, "hash_seeds": [1, 2, 3]}, "plugin.options.hash_seeds"),
        ({**BASE, "hash_seeds": [1, 1, 2, 3]}, "plugin.options.hash_seeds"),
        ({**BASE, "command": ["sh"]}, "plugin.options.command"),
        ({"entry": "toy:make"}, "plugin.options: one of replay or ticks"),
        ({**BASE, "entry": "not a module"}, "plugin.options.entry"),
        ({**BASE, "speed": 2}, "plugin.options"),
        ({**BASE, "replay": "../outside.jsonl"}, "plugin.options.replay"),
        ({**BASE, "golden": "/etc/passwd"}, "plugin.options.golden"),
        ({**BASE, "replay": "replays/missing.jsonl"}, "plugin.options.replay"),
        ({**BASE, "golden": "replays/missing.golden.json"}, "plugin.options.golden"),
    ],
)
def test_a_bad_option_is_a_located_error_with_exit_2(workspace, plugin, options, where) -> None:
    outcome = plugin(workspace(ticks=3), options)
    assert outcome.exit_code == 2
    assert outcome.result["status"] == "error"
    assert f"error: {TASK}: {where}" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert not (outcome.out / "game.sarif").exists()


def test_a_replay_line_that_is_not_json_is_named_by_line_and_tick(workspace, plugin) -> None:
    outcome = plugin(
        workspace(ticks=3, files={"replays/bad.jsonl": '{"add": 1}\n{"add": \n'}),
        {**BASE, "replay": "replays/bad.jsonl"},
    )
    assert outcome.exit_code == 2
    assert "replays/bad.jsonl:2:" in outcome.stderr and "tick 1" in outcome.stderr

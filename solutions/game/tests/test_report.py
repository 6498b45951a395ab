"""What the plugin hands back: a valid plugin_result/v1 and a SARIF 2.1.0 log valid under the OASIS schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from .conftest import FAST_SEEDS, Outcome, make_workspace, run_plugin

HERE = Path(__file__).resolve().parent
SARIF_SCHEMA = json.loads((HERE / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
RESULT_SCHEMA = HERE.parents[2] / "orchestrator" / "schemas" / "plugin_result.v1.json"
BUG = """
if self.tick >= 4:
    self.extra = random.random()
"""
OPTIONS = {"entry": "toy:make", "replay": "replays/toy.jsonl", "hash_seeds": FAST_SEEDS, "tick_budget_ms": 16}


@pytest.fixture(scope="module")
def diverging(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """One plugin run over a game that diverges at tick 4, read by every test below."""
    root = tmp_path_factory.mktemp("report")
    return run_plugin(make_workspace(root / "ws", BUG, ticks=10), OPTIONS, root / "out")


def test_the_sarif_log_is_valid_sarif_2_1_0(diverging: Outcome) -> None:
    outcome = diverging
    log = json.loads((outcome.out / "game.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert log["version"] == "2.1.0"


def test_a_sarif_result_points_at_the_replay_line_of_the_tick_and_at_the_source_file(
    workspace, plugin
) -> None:
    outcome = plugin(workspace(BUG, ticks=10), OPTIONS)
    [result] = json.loads((outcome.out / "game.sarif").read_text())["runs"][0]["results"]
    assert result["ruleId"] == "nondeterminism" and result["level"] == "error"
    assert result["properties"]["tick"] == 4
    physical = result["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "replays/toy.jsonl"}, "region": {"startLine": 5}}
    related = result["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert related == "src/toy.py"


def test_the_result_is_a_valid_plugin_result_v1(diverging: Outcome) -> None:
    outcome = diverging
    schema = json.loads(RESULT_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(outcome.result)
    assert outcome.result["name"] == "game"
    assert outcome.result["metrics"]["divergent_tick"] == 4


def test_a_passing_run_still_writes_an_empty_sarif_log(workspace, plugin) -> None:
    outcome = plugin(workspace(ticks=5), OPTIONS)
    log = json.loads((outcome.out / "game.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert log["runs"][0]["results"] == []

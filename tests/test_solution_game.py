"""The game solution end to end: bake `solution=game`, run its example packs with strict plugins.

Runs once (not per bake parameter): two full runs of the orchestrator, real sandbox, real git.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import bake, describe, run

PACKS = ("fix-arena-desync", "fix-arena-budget")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def game_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("game") / "out", solution="game")


def orchestrator(repo: Path, *args: str) -> object:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NOX_"))}
    env |= {"ORCH_ENABLE_PLUGINS": "1", "ORCH_PLUGINS_STRICT": "1"}
    return run([sys.executable, "-m", "orchestrator", *args], cwd=repo, env=env, timeout=600)


def latest_run(repo: Path, task: str) -> Path:
    return max((repo / "runs" / task).iterdir())


def test_the_example_packs_and_the_codex_variant_validate(game_repo: Path) -> None:
    result = orchestrator(game_repo, "validate", *PACKS, "fix-arena-desync-codex")
    assert result.returncode == 0, describe(result)


@pytest.mark.slow
@pytest.mark.parametrize("task", PACKS)
def test_an_example_pack_succeeds_with_strict_plugins_and_leaves_a_tick_plot(
    game_repo: Path, task: str
) -> None:
    result = orchestrator(game_repo, "run", task)
    assert result.returncode == 0, describe(result)
    run_dir = latest_run(game_repo, task)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "succeeded"
    assert manifest["plugin"]["name"] == "game" and manifest["plugin"]["status"] == "passed"
    plugin_result = json.loads((run_dir / "plugin_result.json").read_text(encoding="utf-8"))
    assert plugin_result["details"]["golden"]["matches"] is True
    assert plugin_result["details"]["divergence"] is None
    assert (run_dir / "game/ticks.png").read_bytes().startswith(PNG)
    assert "game/ticks.png" in (run_dir / "SUMMARY.md").read_text(encoding="utf-8")

"""Golden replays: `python -m solutions.game record` writes them, the plugin only compares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import FAST_SEEDS, git

PACKAGE_ROOT = Path(__file__).resolve().parents[3]
OPTIONS = {
    "entry": "toy:make",
    "replay": "replays/toy.jsonl",
    "golden": "replays/toy.golden.json",
    "hash_seeds": FAST_SEEDS,
}


def record(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "solutions.game", "record", *args],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_record_writes_one_hash_per_tick_from_tick_0(workspace) -> None:
    ws = workspace(ticks=25)
    done = record(
        ws, "--entry", "toy:make", "--replay", "replays/toy.jsonl", "--golden", "replays/toy.golden.json"
    )
    assert done.returncode == 0, done.stderr
    assert "ticks 0..24" in done.stdout
    data = json.loads((ws / "replays/toy.golden.json").read_text())
    assert data["ticks"] == 25 and len(data["hashes"]) == 25 and data["hashes"][0].startswith("sha256:")


def test_a_replay_matching_its_golden_passes(workspace, plugin) -> None:
    ws = workspace(ticks=25)
    assert (
        record(
            ws, "--entry", "toy:make", "--replay", "replays/toy.jsonl", "--golden", "replays/toy.golden.json"
        ).returncode
        == 0
    )
    outcome = plugin(ws, OPTIONS)
    assert outcome.result["status"] == "passed"
    assert outcome.details["golden"] == {"file": "replays/toy.golden.json", "matches": True, "tick": None}


def test_a_changed_behaviour_fails_the_golden_at_the_first_changed_tick(workspace, plugin) -> None:
    ws = workspace(ticks=25)
    assert (
        record(
            ws, "--entry", "toy:make", "--replay", "replays/toy.jsonl", "--golden", "replays/toy.golden.json"
        ).returncode
        == 0
    )
    source = ws / "src/toy.py"
    source.write_text(
        source.read_text().replace(
            "self.tick += 1", "self.tick += 1\n        if self.tick > 9:\n            self.score += 1"
        )
    )
    outcome = plugin(ws, OPTIONS)
    assert outcome.result["status"] == "failed"
    [finding] = outcome.result["findings"]
    assert finding["rule"] == "golden-mismatch"
    assert "from tick 9" in finding["message"] and finding["line"] == 10


def test_the_plugin_never_writes_into_the_workspace(workspace, plugin) -> None:
    ws = workspace(ticks=25)
    assert (
        record(
            ws, "--entry", "toy:make", "--replay", "replays/toy.jsonl", "--golden", "replays/toy.golden.json"
        ).returncode
        == 0
    )
    git(ws, "add", "-A")
    git(ws, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "golden")
    (ws / "src/toy.py").write_text((ws / "src/toy.py").read_text().replace("randint(0, 3)", "randint(0, 4)"))
    before = git(ws, "status", "--porcelain", "--ignored", "--untracked-files=all")
    outcome = plugin(ws, OPTIONS)
    assert outcome.result["status"] == "failed"
    assert git(ws, "status", "--porcelain", "--ignored", "--untracked-files=all") == before
    assert git(ws, "diff", "HEAD", "--stat", "--", "replays") == ""


def test_record_refuses_a_nondeterministic_game(workspace) -> None:
    ws = workspace("self.extra = random.random()", ticks=5)
    done = record(
        ws, "--entry", "toy:make", "--replay", "replays/toy.jsonl", "--golden", "replays/toy.golden.json"
    )
    assert done.returncode == 1
    assert "not recorded" in done.stderr and "tick 0" in done.stderr
    assert not (ws / "replays/toy.golden.json").exists()


def test_record_reads_the_options_of_a_task_pack(workspace) -> None:
    task = (
        "schema: taskpack/v1\nid: demo\nplugin:\n  name: game\n  options:\n    entry: toy:make\n"
        "    replay: replays/toy.jsonl\n    golden: replays/from-task.golden.json\n"
    )
    ws = workspace(ticks=5, files={"taskpacks/demo/task.yml": task})
    done = record(ws, "--task", "taskpacks/demo")
    assert done.returncode == 0, done.stderr
    assert (ws / "replays/from-task.golden.json").is_file()


def test_a_golden_with_another_seed_is_a_mismatch(workspace, plugin) -> None:
    ws = workspace(ticks=5)
    assert (
        record(
            ws,
            "--entry",
            "toy:make",
            "--replay",
            "replays/toy.jsonl",
            "--seed",
            "4",
            "--golden",
            "replays/toy.golden.json",
        ).returncode
        == 0
    )
    outcome = plugin(ws, OPTIONS)
    [finding] = outcome.result["findings"]
    assert finding["rule"] == "golden-mismatch" and "seed 4" in finding["message"]

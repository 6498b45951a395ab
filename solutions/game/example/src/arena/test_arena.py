"""The arena's rules, as tests (run by the example task packs' acceptance checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arena.game import make

SRC = str(Path(__file__).resolve().parents[1])
CONTEST = """
from arena.game import make
arena = make(0)
arena.step({"join": [{"name": "bob", "x": 4, "y": 2}, {"name": "ada", "x": 2, "y": 2}]})
arena.step({"move": {"bob": "W", "ada": "E"}})
print(arena.snapshot()["bots"]["ada"]["x"], arena.snapshot()["bots"]["bob"]["x"])
"""


@pytest.mark.parametrize("hash_seed", ["0", "1", "2", "3", "4", "5"])
def test_a_contested_cell_goes_to_the_first_name_whatever_the_hash_seed(hash_seed: str) -> None:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=SRC)
    done = subprocess.run(
        [sys.executable, "-c", CONTEST], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["3", "4"]


def test_a_seeker_steps_toward_the_nearest_coin() -> None:
    arena = make(0)
    arena.step({"join": [{"name": "kit", "x": 2, "y": 2, "auto": True}]})
    before = arena.snapshot()["bots"]["kit"]
    coin = min(arena.coins, key=lambda c: abs(c[0] - before["x"]) + abs(c[1] - before["y"]))
    arena.step(None)
    after = arena.snapshot()["bots"]["kit"]
    assert abs(after["x"] - before["x"]) + abs(after["y"] - before["y"]) == 1
    assert (
        abs(coin[0] - after["x"]) + abs(coin[1] - after["y"])
        <= abs(coin[0] - before["x"]) + abs(coin[1] - before["y"])
        or after["score"] == 1
    )


def test_the_snapshot_is_plain_json_data() -> None:
    arena = make(3)
    arena.step({"join": [{"name": "ada", "x": 2, "y": 2}]})
    snapshot = arena.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot


def test_render_is_an_rgb_image_of_the_arena() -> None:
    frame = make(0).render()
    assert len(frame) == 24 * 6 and len(frame[0]) == 32 * 6 and len(frame[0][0]) == 3

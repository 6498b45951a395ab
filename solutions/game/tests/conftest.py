"""Helpers for the game plugin's tests: small games in a temporary git workspace, the plugin run for real."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugin.py"
BEGIN, END = "----- BEGIN plugin_result/v1 -----", "----- END plugin_result/v1 -----"
TASK = "taskpacks/demo/task.yml"
FAST_SEEDS = [0, 1, 2, 3]

GAME = """
import random
import time

NAMES = {"ada", "bob", "cy", "dee", "eve", "fay"}


class Game:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.tick = 0
        self.score = 0
        self.order = []
        self.extra = None

    def step(self, inputs):
        self.score += self.rng.randint(0, 3) + (inputs or {}).get("add", 0)
        # BUG
        self.tick += 1

    def snapshot(self):
        return {"tick": self.tick, "score": self.score, "order": self.order, "extra": self.extra}

    def render(self):
        shade = (self.score * 7) % 256
        return [[[shade, 40, 200 - self.tick % 100] for _ in range(8)] for _ in range(6)]


def make(seed):
    return Game(seed)
"""


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    result: dict[str, Any]
    stderr: str
    out: Path

    @property
    def details(self) -> dict[str, Any]:
        return self.result.get("details", {})


def game_source(bug: str = "") -> str:
    return GAME.replace(
        "        # BUG", textwrap.indent(textwrap.dedent(bug).strip("\n"), " " * 8) if bug else ""
    )


def git(workspace: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=workspace, capture_output=True, text=True, check=True)
    return done.stdout


def make_workspace(
    root: Path,
    bug: str = "",
    ticks: int | None = 60,
    module: str = "toy",
    files: dict[str, str] | None = None,
) -> Path:
    """A committed git workspace holding src/<module>.py and, when given, a replay of `ticks` lines."""
    (root / "src").mkdir(parents=True)
    (root / "src" / f"{module}.py").write_text(game_source(bug), encoding="utf-8")
    if ticks is not None:
        lines = [json.dumps({"add": i % 3}) for i in range(ticks)]
        (root / "replays").mkdir()
        (root / "replays" / "toy.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "game")
    return root


@pytest.fixture
def workspace(tmp_path: Path) -> Callable[..., Path]:
    def make(*args: Any, **kwargs: Any) -> Path:
        return make_workspace(tmp_path / "ws", *args, **kwargs)

    return make


def run_plugin(workspace: Path, options: dict[str, Any], out: Path) -> Outcome:
    request = {
        "schema": "plugin_request/v1",
        "plugin": {"name": "game", "version": "0", "dir": str(PLUGIN.parent)},
        "run": {"id": "r", "dir": str(out)},
        "task": {"id": "demo", "data": {}},
        "workspace": str(workspace),
        "base": "HEAD",
        "changed_files": [],
        "deleted_files": [],
        "options": options,
    }
    done = subprocess.run(
        [sys.executable, str(PLUGIN), "--out", str(out)],
        cwd=workspace,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    text = done.stdout
    assert BEGIN in text and END in text, done.stdout + done.stderr
    result = json.loads(text[text.rindex(BEGIN) + len(BEGIN) : text.rindex(END)])
    return Outcome(done.returncode, result, done.stderr, out)


@pytest.fixture
def plugin(tmp_path: Path) -> Callable[[Path, dict[str, Any]], Outcome]:
    def call(workspace: Path, options: dict[str, Any]) -> Outcome:
        return run_plugin(workspace, options, tmp_path / "out")

    return call

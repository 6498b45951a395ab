"""The arena simulation: `make(seed)` -> Arena with step(inputs), snapshot() and render().

Inputs of one tick (one line of a replay), every key optional:

    {"join": [{"name": "ada", "x": 2, "y": 2, "auto": false}], "move": {"ada": "E"}}

`join` adds bots (an `auto` bot is a coin seeker that plans its own moves), `move` moves
player bots one cell: N, E, S or W. A cell holds one bot; a bot walking onto a coin takes it
and the world's RNG drops a new coin on a free cell.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from arena.grid import Cell, Grid, path

DIRECTIONS: dict[str, Cell] = {"N": (0, -1), "E": (1, 0), "S": (0, 1), "W": (-1, 0)}
WIDTH, HEIGHT, PILLARS, COINS = 32, 24, 60, 16
SCALE = 6
COLOURS = {"floor": (240, 236, 224), "wall": (70, 70, 80), "coin": (230, 180, 20)}
BOT_COLOURS = ((200, 40, 40), (40, 90, 200), (30, 150, 60), (150, 60, 170), (230, 120, 20), (20, 160, 170))


@dataclass
class Bot:
    name: str
    x: int
    y: int
    auto: bool
    score: int = 0

    @property
    def cell(self) -> Cell:
        return (self.x, self.y)


class Arena:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.grid = Grid.generate(self.rng, WIDTH, HEIGHT, PILLARS)
        self.bots: dict[str, Bot] = {}
        self.coins: set[Cell] = set()
        self.tick = 0
        while len(self.coins) < COINS:
            self.drop_coin()

    # --- the tick -------------------------------------------------------------------------------

    def step(self, inputs: dict[str, Any] | None) -> None:
        inputs = inputs or {}
        for spec in inputs.get("join", []):
            self.join(spec["name"], spec.get("x", 1), spec.get("y", 1), bool(spec.get("auto", False)))
        self.move_players(inputs.get("move", {}))
        self.move_seekers()
        self.collect()
        self.tick += 1

    def join(self, name: str, x: int, y: int, auto: bool) -> None:
        cell = self.nearest_free((x, y))
        self.bots[name] = Bot(name, cell[0], cell[1], auto)

    def move_players(self, moves: dict[str, str]) -> None:
        # Players who asked to move this tick; when two want the same cell, the first one gets it.
        movers = set(moves)
        for name in movers:
            bot = self.bots.get(name)
            if bot is not None and not bot.auto and moves[name] in DIRECTIONS:
                dx, dy = DIRECTIONS[moves[name]]
                self.try_move(bot, (bot.x + dx, bot.y + dy))

    def move_seekers(self) -> None:
        for name in sorted(self.bots):
            bot = self.bots[name]
            if bot.auto:
                step = self.next_step(bot.cell)
                if step is not None:
                    self.try_move(bot, step)

    def next_step(self, start: Cell) -> Cell | None:
        """First cell on a shortest path to the nearest coin (ties: the smaller coin cell)."""
        best: tuple[int, Cell, list[Cell]] | None = None
        for coin in sorted(self.coins):
            route = path(self.grid.search(start, (coin,)), coin)
            if route and (best is None or (len(route), coin) < best[:2]):
                best = (len(route), coin, route)
        return best[2][1] if best is not None and len(best[2]) > 1 else None

    def try_move(self, bot: Bot, target: Cell) -> None:
        if self.grid.free(target) and all(other.cell != target for other in self.bots.values()):
            bot.x, bot.y = target

    def collect(self) -> None:
        for name in sorted(self.bots):
            bot = self.bots[name]
            if bot.cell in self.coins:
                bot.score += 1
                self.coins.discard(bot.cell)
                self.drop_coin()

    # --- the world ------------------------------------------------------------------------------

    def occupied(self) -> set[Cell]:
        return {bot.cell for bot in self.bots.values()} | self.coins

    def drop_coin(self) -> None:
        taken = self.occupied()
        free = [
            (x, y)
            for y in range(HEIGHT)
            for x in range(WIDTH)
            if self.grid.free((x, y)) and (x, y) not in taken
        ]
        self.coins.add(self.rng.choice(free))

    def nearest_free(self, cell: Cell) -> Cell:
        taken = {bot.cell for bot in self.bots.values()}
        parents = self.grid.search(self.nearest_floor(cell))
        return next(c for c in parents if c not in taken)

    def nearest_floor(self, cell: Cell) -> Cell:
        x = min(max(cell[0], 1), WIDTH - 2)
        y = min(max(cell[1], 1), HEIGHT - 2)
        return (
            (x, y)
            if self.grid.free((x, y))
            else (x - x % 2, y - y % 2)
            if self.grid.free((x - x % 2, y - y % 2))
            else (2, 2)
        )

    # --- what the plugin reads ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "tick": self.tick,
            "bots": {
                b.name: {"x": b.x, "y": b.y, "score": b.score, "auto": b.auto} for b in self.bots.values()
            },
            "coins": sorted([x, y] for x, y in self.coins),
        }

    def render(self) -> list[list[list[int]]]:
        """The arena as an RGB image (rows of [r, g, b]), SCALE pixels a cell."""
        cells = [
            [COLOURS["wall"] if (x, y) in self.grid.walls else COLOURS["floor"] for x in range(WIDTH)]
            for y in range(HEIGHT)
        ]
        for x, y in self.coins:
            cells[y][x] = COLOURS["coin"]
        for index, name in enumerate(sorted(self.bots)):
            bot = self.bots[name]
            cells[bot.y][bot.x] = BOT_COLOURS[index % len(BOT_COLOURS)]
        return [
            [list(cells[y // SCALE][x // SCALE]) for x in range(WIDTH * SCALE)] for y in range(HEIGHT * SCALE)
        ]


def make(seed: int) -> Arena:
    """The factory the game plugin calls: a fresh arena for this seed."""
    return Arena(seed)

"""The arena's floor: a walled grid, pillars placed by the world's seeded RNG, breadth-first search."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass

Cell = tuple[int, int]
STEPS: tuple[Cell, ...] = ((0, -1), (1, 0), (0, 1), (-1, 0))
"""Neighbour order of every search: north, east, south, west. Fixed, so paths are too."""


@dataclass(frozen=True)
class Grid:
    width: int
    height: int
    walls: frozenset[Cell]

    @classmethod
    def generate(cls, rng: random.Random, width: int, height: int, pillars: int) -> Grid:
        border = {(x, y) for x in range(width) for y in (0, height - 1)}
        border |= {(x, y) for y in range(height) for x in (0, width - 1)}
        inner: set[Cell] = set()
        while len(inner) < pillars:
            # Pillars stand on odd cells only, so every even cell stays reachable.
            x, y = rng.randrange(1, width - 1), rng.randrange(1, height - 1)
            if x % 2 and y % 2:
                inner.add((x, y))
        return cls(width, height, frozenset(border | inner))

    def free(self, cell: Cell) -> bool:
        x, y = cell
        return 0 <= x < self.width and 0 <= y < self.height and cell not in self.walls

    def neighbours(self, cell: Cell) -> Iterator[Cell]:
        for dx, dy in STEPS:
            nxt = (cell[0] + dx, cell[1] + dy)
            if self.free(nxt):
                yield nxt

    def search(self, start: Cell, goals: Collection[Cell] = ()) -> dict[Cell, Cell | None]:
        """Breadth-first parents from start; stops at the first of `goals` reached (every cell as near
        as it is already has its parent then)."""
        parents: dict[Cell, Cell | None] = {start: None}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            if cell in goals:
                break
            for nxt in self.neighbours(cell):
                if nxt not in parents:
                    parents[nxt] = cell
                    queue.append(nxt)
        return parents


def path(parents: dict[Cell, Cell | None], goal: Cell) -> list[Cell]:
    """start..goal along the search tree; [] when goal was not reached."""
    if goal not in parents:
        return []
    out = [goal]
    while (parent := parents[out[-1]]) is not None:
        out.append(parent)
    return out[::-1]

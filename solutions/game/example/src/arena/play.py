"""Records a replay of the arena: one JSON line of inputs per tick, tick 0 first.

    python -m arena.play --players ada,bob,cy --ticks 120 > src/arena/replays/duel.jsonl
    python -m arena.play --seekers kit,lux,moe,nix,ode,pip --ticks 40 > src/arena/replays/swarm.jsonl

Players are scripted here (they walk toward the nearest coin, their choices drawn from their
own seeded RNG); in a real game these lines would come from the input devices of a session.
The inputs are all a replay holds: the game makes everything else from them and its seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

from arena.game import DIRECTIONS, make

START_CELLS = ((2, 2), (29, 2), (2, 21), (29, 21), (16, 2), (16, 21))


def choose(arena: Any, name: str, rng: random.Random) -> str:
    bot = arena.bots[name]
    coin = min(arena.coins, key=lambda c: (abs(c[0] - bot.x) + abs(c[1] - bot.y), c))
    better = [
        d
        for d, (dx, dy) in sorted(DIRECTIONS.items())
        if abs(coin[0] - bot.x - dx) + abs(coin[1] - bot.y - dy) < abs(coin[0] - bot.x) + abs(coin[1] - bot.y)
        and arena.grid.free((bot.x + dx, bot.y + dy))
    ]
    return rng.choice(better or sorted(DIRECTIONS))


def record(seed: int, ticks: int, players: list[str], seekers: list[str]) -> list[dict[str, Any]]:
    arena, rng, lines = make(seed), random.Random(seed + 1), []
    for tick in range(ticks):
        inputs: dict[str, Any] = {}
        if tick == 0:
            names = [(n, False) for n in players] + [(n, True) for n in seekers]
            inputs["join"] = [
                {"name": n, "x": START_CELLS[i][0], "y": START_CELLS[i][1], "auto": auto}
                for i, (n, auto) in enumerate(names)
            ]
        else:
            inputs["move"] = {name: choose(arena, name, rng) for name in players}
        arena.step(inputs)
        lines.append(inputs)
    return lines


def names(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ticks", type=int, default=120)
    parser.add_argument("--players", default="")
    parser.add_argument("--seekers", default="")
    args = parser.parse_args(argv)
    for inputs in record(args.seed, args.ticks, names(args.players), names(args.seekers)):
        print(json.dumps(inputs, sort_keys=True, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Arena: a small grid game with a seeded world, player bots driven by recorded inputs and coin seekers.

`arena.game:make(seed)` is the factory the game plugin drives (see solutions/game/README.md).
"""

from arena.game import Arena, make

__all__ = ["Arena", "make"]

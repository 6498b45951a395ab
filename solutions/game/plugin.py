"""Entry of the game plugin (plugin.json: ["python", "plugin.py"]), started as a script.

Only the repository holding this plugin goes on the import path, never the workspace under
review, so the change cannot replace the code that judges it.
"""

import sys
from pathlib import Path


def main() -> int:
    sys.path[0] = str(Path(__file__).resolve().parents[2])
    # Imported only now, once the import path holds this plugin's repository.
    from solutions.game.cli import plugin_main

    return plugin_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())

"""Entry of the game plugin (plugin.json: ["python", "plugin.py"]), started as a script.

Only the repository holding this plugin goes on the import path, never the workspace under
review, so the change cannot replace the code that judges it.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[0] = str(HERE.parents[1])

from solutions.game.cli import plugin_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(plugin_main(sys.argv[1:]))

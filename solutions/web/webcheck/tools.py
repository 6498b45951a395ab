"""Where the pinned Node tools are: `npm ci` installs them in solutions/web/node_modules.

Run from a git worktree (an orchestrator workspace), that ignored directory exists only in
the main checkout, so it is looked for there too.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

NODE_MODULES = "node_modules"


def _main_checkout_copy(plugin_dir: Path) -> Path | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"],
            cwd=plugin_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        return None
    common, top = Path(lines[0]), Path(lines[1])
    try:
        relative = plugin_dir.resolve().relative_to(top.resolve())
    except ValueError:
        return None
    return common.parent / relative / NODE_MODULES


@lru_cache(maxsize=8)
def node_module(plugin_dir: Path, relative: str) -> Path | None:
    """The file `node_modules/<relative>` of the plugin, wherever it was installed; None if nowhere."""
    for base in (plugin_dir / NODE_MODULES, _main_checkout_copy(plugin_dir)):
        if base is not None and (base / relative).is_file():
            return base / relative
    return None

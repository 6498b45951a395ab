"""What the web plugin needs on this machine, and what is missing: `python solutions/web/doctor.py`.

Prints one line per tool. Exit 0 when everything is there; 1 when something is missing and
--strict is given (without it, a missing tool only means those checks are recorded as skipped).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from webcheck import browser, validity
from webcheck.tools import node_module

PLUGIN_DIR = Path(__file__).resolve().parent
NPM_CI = "npm ci --prefix solutions/web --ignore-scripts --no-audit --no-fund"


def problems() -> list[tuple[str, str, str]]:
    """(tool, state, how to fix) for each requirement; state is 'ok' or 'missing'."""
    rows: list[tuple[str, str, str]] = []
    chromium = browser.find_chromium()
    rows.append(("chromium", f"ok ({chromium})" if chromium else "missing", "apt-get install chromium"))
    try:
        import playwright  # noqa: F401

        rows.append(("playwright (Python)", "ok", ""))
    except ImportError:
        rows.append(("playwright (Python)", "missing", "pip install -r solutions/web/requirements.txt"))
    node = shutil.which("node")
    rows.append(("node", f"ok ({node})" if node else "missing", "apt-get install nodejs npm"))
    for name, relative in (("axe-core", browser.AXE), ("html-validate", validity.BIN)):
        found = node_module(PLUGIN_DIR, relative)
        rows.append((name, "ok" if found else "missing", NPM_CI))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when something is missing")
    args = parser.parse_args(argv)
    rows = problems()
    missing = [r for r in rows if r[1] == "missing"]
    for tool, state, fix in rows:
        print(f"web plugin: {tool}: {state}" + (f" -> {fix}" if state == "missing" else ""))
    if missing:
        print(
            f"web plugin: {len(missing)} missing; checks needing them are recorded as skipped, never passed"
        )
    return 1 if missing and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())

"""Times the web plugin end to end (request on stdin -> result), as the plugin phase runs it.

    python solutions/web/bench.py                 # the example site (site/, or example/site/ here)
    python solutions/web/bench.py --pages 50      # a generated site of 50 linked pages

Prints wall seconds for the whole plugin run and per page; one browser serves every page.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent
PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Page {n}</title>
    <link rel="stylesheet" href="style.css">
  </head>
  <body>
    <header><nav><a href="index.html">Home</a> <a href="page-{next}.html#top-{next}">Next</a></nav></header>
    <main>
      <h1 id="top-{n}">Page {n}</h1>
      <img src="logo.png" alt="Logo" width="64" height="64">
      <p>Paragraph {n}, with a <a href="page-{prev}.html">link back</a>.</p>
      <form action="index.html" method="get">
        <label for="q{n}">Search</label> <input type="text" id="q{n}" name="q">
        <button type="submit">Go</button>
      </form>
    </main>
  </body>
</html>
"""


def example_site() -> Path:
    for candidate in (PLUGIN_DIR / "example" / "site", PLUGIN_DIR.parent.parent / "site"):
        if candidate.is_dir():
            return candidate
    raise SystemExit("no example site (site/ or solutions/web/example/site/); use --pages N")


def generated_site(root: Path, count: int) -> None:
    root.mkdir(parents=True)
    shutil.copy(PLUGIN_DIR / "tests" / "data" / "site" / "logo.png", root / "logo.png")
    (root / "style.css").write_text("body { color: #222; background: #fff; font-family: sans-serif; }\n")
    for n in range(count):
        text = PAGE.format(n=n, next=(n + 1) % count, prev=(n - 1) % count)
        (root / ("index.html" if n == 0 else f"page-{n}.html")).write_text(
            text.replace("page-0.html", "index.html")
        )


def time_plugin(workspace: Path, out: Path) -> tuple[float, dict]:
    request = {
        "schema": "plugin_request/v1",
        "plugin": {"name": "web", "version": "", "dir": str(PLUGIN_DIR)},
        "run": {"id": "bench", "dir": ""},
        "task": {"id": "bench", "data": {}},
        "workspace": str(workspace),
        "base": "",
        "changed_files": ["site/style.css"],
        "deleted_files": [],
        "options": {},
    }
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(PLUGIN_DIR / "plugin.py")],
        input=json.dumps(request),
        text=True,
        capture_output=True,
        cwd=workspace,
        env={**os.environ, "ORCH_PLUGIN_OUT": str(out)},
        check=False,
    )
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"plugin exit {done.returncode}: {done.stderr[-2000:]}")
    result = json.loads(
        done.stdout.split("----- BEGIN plugin_result/v1 -----")[-1].split("----- END plugin_result/v1 -----")[
            0
        ]
    )
    return elapsed, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pages", type=int, default=0, help="generate a site of N pages instead of the example"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        if args.pages:
            generated_site(workspace / "site", args.pages)
            label = f"generated site, {args.pages} pages"
        else:
            shutil.copytree(example_site(), workspace / "site")
            label = "example site"
        elapsed, result = time_plugin(workspace, workspace / "out")
    pages = int(result["metrics"]["pages"])
    print(
        f"{label}: {elapsed:.2f}s for {pages} page(s) ({elapsed / max(pages, 1):.2f}s/page), "
        f"status {result['status']}, {len(result['findings'])} finding(s)"
    )
    print(f"  {result['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

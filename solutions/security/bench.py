"""Times the security plugin: on the example's fix, and on a generated 10,000-line change.

    python solutions/security/bench.py [--lines 10000]

Each case is a scratch git repository (base commit, then the change in the working tree);
the plugin runs as the orchestrator starts it (a script, the request on stdin), outside
the sandbox. Prints one line per case with the wall time and the plugin's own timings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MODULE = """import subprocess
import sqlite3

import yaml


def query_{n}(db: sqlite3.Connection, name: str) -> list:
    return db.execute(f"SELECT * FROM t{n} WHERE name = '{{name}}'").fetchall()


def safe_{n}(db: sqlite3.Connection, name: str) -> list:
    return db.execute("SELECT * FROM t{n} WHERE name = ?", (name,)).fetchall()


def run_{n}(cmd: str) -> None:
    subprocess.run(cmd, shell=True)


def settings_{n}(text: str) -> dict:
    return yaml.safe_load(text)
"""


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def commit_base(root: Path) -> str:
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(
        root,
        "-c",
        "user.email=b@example.test",
        "-c",
        "user.name=b",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "base",
    )
    return git(root, "rev-parse", "HEAD").strip()


def run_plugin(root: Path, base: str, task_id: str) -> tuple[float, dict]:
    git(root, "add", "-A", "--intent-to-add")
    changed = sorted(p for p in git(root, "diff", "--name-only", "-z", base).split("\0") if p)
    request = {
        "schema": "plugin_request/v1",
        "plugin": {"name": "security", "version": "bench", "dir": str(HERE)},
        "run": {"id": "bench", "dir": str(root)},
        "task": {"id": task_id, "data": {}},
        "workspace": str(root),
        "base": base,
        "changed_files": changed,
        "deleted_files": [],
        "options": {},
    }
    with tempfile.TemporaryDirectory() as out:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(HERE / "plugin.py")],
            input=json.dumps(request),
            text=True,
            capture_output=True,
            check=False,
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "ORCH_PLUGIN_OUT": out},
        )
        elapsed = time.monotonic() - start
    text = done.stdout
    result = json.loads(text[text.rindex("----- BEGIN") : text.rindex("----- END")].split("\n", 1)[1])
    return elapsed, result


def example_case(root: Path) -> tuple[Path, str]:
    source = REPO if (REPO / "src" / "vulnapp").is_dir() else HERE / "example"
    shutil.copytree(
        source / "src" / "vulnapp", root / "src" / "vulnapp", ignore=shutil.ignore_patterns("__pycache__")
    )
    base = commit_base(root)
    git(root, "apply", str(source / "taskpacks" / "fix-sql-injection" / "fix.patch"))
    return root, base


def large_case(root: Path, lines: int) -> tuple[Path, str]:
    root.mkdir(parents=True)
    (root / "README.md").write_text("bench\n", encoding="utf-8")
    base = commit_base(root)
    per_file = MODULE.count("\n")
    for n in range(max(1, lines // per_file)):
        target = root / "pkg" / f"mod_{n:04d}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(MODULE.format(n=n), encoding="utf-8")
    return root, base


def report(name: str, elapsed: float, result: dict) -> None:
    m = result["metrics"]
    timings = ", ".join(
        f"{k.removeprefix('seconds_')} {m[k]:.1f}s" for k in sorted(m) if k.startswith("seconds_")
    )
    print(
        f"{name}: {elapsed:.1f}s wall ({timings}); {int(m['files_scanned'])} files, {int(m['lines_added'])} "
        f"added lines; {result['status']}: {result['summary'][:160]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lines", type=int, default=10_000, help="size of the generated change (default 10000)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="security-bench-") as tmp:
        root, base = example_case(Path(tmp) / "example")
        report("example (fix-sql-injection)", *run_plugin(root, base, "fix-sql-injection"))
        root, base = large_case(Path(tmp) / "large", args.lines)
        report(f"generated change (~{args.lines} lines)", *run_plugin(root, base, "bench-large"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

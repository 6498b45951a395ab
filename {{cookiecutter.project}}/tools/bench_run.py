"""Benchmarks of the pipeline itself: what a run adds on top of the work it carries.

Figures, not pass/fail: each is printed next to a baseline measured in the same
process, because these machines are noisy and only ratios travel.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

NOOP = """schema: taskpack/v1
id: bench-noop
title: No-op pack for the overhead benchmark
objective: Nothing; measures what the pipeline adds.
executor: {kind: shell, commands: ["true"]}
scope: {allowed_paths: ["**"]}
acceptance: [{id: noop, run: "true"}]
"""
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}
Row = tuple[str, float, str]
SKIP = {".git", ".nox", ".venv", ".tools", "runs", ".orchestrator", "__pycache__", "build"}


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def prepare(repo: Path, dest: Path) -> Path:
    """A committed copy of the repository with the no-op pack in it."""
    shutil.copytree(repo, dest, ignore=lambda d, names: [n for n in names if n in SKIP])
    (dest / "taskpacks" / "bench-noop").mkdir(parents=True, exist_ok=True)
    (dest / "taskpacks" / "bench-noop" / "task.yml").write_text(NOOP, encoding="utf-8")
    env = {**os.environ, **GIT_ENV}
    from orchestrator.config import load_settings

    branch = load_settings(dest, {}).base_branch
    for argv in (
        ["git", "init", "-q", "-b", branch],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "bench"],
    ):
        subprocess.run(argv, cwd=dest, env=env, check=True)
    return dest


def run_overhead(repo: Path, rounds: int = 5, traced: int = 3) -> tuple[list[Row], list[Row]]:
    """The warm run against the bare commands, and where the added time goes (`breakdown`)."""
    nox = shutil.which("nox", path=str(Path(sys.executable).parent)) or "nox"
    # Measured as a user runs it: with Python's bytecode cache (some CI images turn it off).
    env = {k: v for k, v in {**os.environ, **GIT_ENV}.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        work = prepare(repo, Path(tmp) / "repo")
        cold = _timed([nox, "-s", "run", "--", "bench-noop"], work, env)
        bare = [_timed(["/bin/sh", "-c", "true; true"], work, env) for _ in range(rounds)]
        warm = [_timed([nox, "-s", "run", "--", "bench-noop"], work, env) for _ in range(rounds)]
        engine = [
            _timed([sys.executable, "-m", "orchestrator", "run", "bench-noop"], work, env)
            for _ in range(rounds)
        ]
        traces = [_trace(work, env, Path(tmp) / f"trace-{n}.json") for n in range(traced)]
    bare_s, warm_s, engine_s = statistics.median(bare), statistics.median(warm), statistics.median(engine)
    return [
        ("bare commands (sh -c true; true), median", bare_s, "baseline"),
        ("first `nox -s run` in a fresh copy (cold)", cold, "target <= 10 s"),
        ("warm `nox -s run` on a no-op pack, median", warm_s, "target <= 1 s"),
        ("  added over the bare commands", warm_s - bare_s, "target <= 0.3 s"),
        ("warm `python -m orchestrator run`, median", engine_s, "same chain without nox"),
    ], breakdown(traces)


def parallel_speedup(repo: Path, packs: int = 8, jobs: int = 2) -> list[tuple[str, float, str]]:
    """`packs` no-op packs one after the other, then `-j jobs` at once, on the same copy."""
    env = {k: v for k, v in {**os.environ, **GIT_ENV}.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        work = prepare(repo, Path(tmp) / "repo")
        ids = [f"bench-noop-{n}" for n in range(packs)]
        for task_id in ids:
            (work / "taskpacks" / task_id).mkdir()
            (work / "taskpacks" / task_id / "task.yml").write_text(
                NOOP.replace("id: bench-noop", f"id: {task_id}"), encoding="utf-8"
            )
        for argv in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "packs"]):
            subprocess.run(argv, cwd=work, env=env, check=True)
        engine = [sys.executable, "-m", "orchestrator", "run"]
        serial = _timed([*engine, *ids, "-j", "1"], work, env)
        together = _timed([*engine, *ids, "-j", str(jobs)], work, env)
    return [
        (f"{packs} no-op packs, one at a time (-j 1)", serial, "baseline"),
        (f"{packs} no-op packs, -j {jobs}", together, f"speed-up {serial / together:.2f}x; target >= 1.6x"),
    ]


WHEEL = "orchprobe-1.0-py3-none-any.whl"


def make_wheel() -> bytes:
    """A real, minimal wheel (`orchprobe`) that no host environment has: for a local package index."""
    import base64
    import hashlib
    import io
    import zipfile

    files = {
        "orchprobe/__init__.py": b"VALUE = 'prepared'\n",
        "orchprobe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: orchprobe\nVersion: 1.0\n",
        "orchprobe-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("orchprobe-1.0.dist-info/RECORD,,")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("orchprobe-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return buffer.getvalue()


def package_index() -> tuple[http.server.ThreadingHTTPServer, list[str]]:
    """A package index (PEP 503) on 127.0.0.1 serving `orchprobe`, and the paths it was asked for.
    The caller shuts it down (server.shutdown())."""
    wheel, seen = make_wheel(), []

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path == f"/files/{WHEEL}":
                body, kind = wheel, "application/octet-stream"
            elif self.path.rstrip("/") == "/simple/orchprobe":
                body, kind = f'<a href="/files/{WHEEL}">{WHEEL}</a>'.encode(), "text/html"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def _phase_seconds(run_dir: Path, phase: str) -> float:
    import json
    from datetime import datetime

    entry = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["phases"][phase]

    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")

    return float((parse(entry["ended_at"]) - parse(entry["started_at"])).total_seconds())


def prepare_cache(repo: Path, rounds: int = 3) -> list[tuple[str, float, str]]:
    """The prepare phase of a small Python environment (a venv and one wheel from a local index),
    cold vs warm."""
    server, _seen = package_index()
    port = server.server_address[1]
    pack = NOOP.replace("id: bench-noop", "id: bench-env") + (
        'environment:\n  setup: ["python3 -m venv .venv", '
        f'".venv/bin/pip install --no-cache-dir --index-url http://127.0.0.1:{port}/simple orchprobe"]\n'
        f'  network: {{hosts: ["127.0.0.1:{port}"]}}\n'
    )
    env = {k: v for k, v in {**os.environ, **GIT_ENV}.items() if k != "PYTHONDONTWRITEBYTECODE"}
    try:
        with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
            work = prepare(repo, Path(tmp) / "repo")
            (work / "taskpacks" / "bench-env").mkdir()
            (work / "taskpacks" / "bench-env" / "task.yml").write_text(pack, encoding="utf-8")
            for argv in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "env pack"]):
                subprocess.run(argv, cwd=work, env=env, check=True)
            engine = [sys.executable, "-m", "orchestrator", "run", "bench-env"]
            cold, warm = [], []
            for _ in range(rounds):
                for argv in (
                    [sys.executable, "-m", "orchestrator", "cache", "prune", "--all"],
                    engine,
                    engine,
                ):
                    _timed(argv, work, env)
                runs = sorted((work / "runs" / "bench-env").iterdir())
                cold.append(_phase_seconds(runs[-2], "prepare"))
                warm.append(_phase_seconds(runs[-1], "prepare"))
    finally:
        server.shutdown()
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    return [
        ("prepare, cold cache (venv + one wheel from a local index), median", cold_s, "baseline"),
        (
            "prepare, warm cache (restored, no setup, no network), median",
            warm_s,
            f"{warm_s / cold_s:.0%} of cold; target <= 10% and <= 0.5 s",
        ),
    ]


def _trace(work: Path, env: dict[str, str], out: Path) -> dict[str, Any]:
    """One traced `python -m orchestrator run bench-noop` (tools/bench_trace.py)."""
    tracer = Path(__file__).with_name("bench_trace.py")
    _timed([sys.executable, str(tracer), str(out), "--", "run", "bench-noop"], work, env)
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return report


def breakdown(traces: list[dict[str, Any]]) -> list[Row]:
    """Medians over the traced runs: each phase's wall time and what the host did in it, then totals
    by kind (guard snapshots, fresh checkouts, git processes, jail start-ups, imports)."""
    n = len(traces)

    def median(phase: str | None, what: str) -> tuple[float, float]:
        counts, seconds = [], []
        for trace in traces:
            phases = trace["phases"].values() if phase is None else [trace["phases"].get(phase, {})]
            cells = [cell for costs in phases for key, cell in costs.items() if _kind(key) == what]
            counts.append(sum(c[0] for c in cells))
            seconds.append(sum(c[1] for c in cells))
        return statistics.median(counts), statistics.median(seconds)

    rows: list[Row] = [
        (f"whole traced run, median of {n}", statistics.median(t["total"] for t in traces), "")
    ]
    phases = list(dict.fromkeys(p for t in traces for p in t["phases"]))
    kinds = sorted({_kind(k) for t in traces for costs in t["phases"].values() for k in costs})
    for phase in phases:
        _, wall = median(phase, "phase (wall)")
        rows.append((phase if phase.startswith("(") else f"phase {phase}", wall, ""))
        for what in kinds:
            if what == "phase (wall)":
                continue
            count, seconds = median(phase, what)
            if count:
                rows.append((f"  {what}", seconds, f"x{count:g}"))
    rows.append(("totals over the run, by kind", rows[0][1], ""))
    for what in kinds:
        if what != "phase (wall)":
            count, seconds = median(None, what)
            rows.append((f"  {what}", seconds, f"x{count:g}"))
    heaviest: dict[str, list[float]] = {}
    for trace in traces:
        for module, seconds in trace["imports"].items():
            heaviest.setdefault(module, []).append(seconds)
    for module, times in sorted(heaviest.items(), key=lambda kv: -statistics.median(kv[1]))[:8]:
        rows.append((f"  import {module} (with what it imports)", statistics.median(times), "first import"))
    return rows


def _kind(key: str) -> str:
    """A trace key grouped for the totals: every git subcommand is `git`, a jail is `jail (bwrap)`."""
    if key.startswith("proc git"):
        return "git processes (some within checkouts)"
    if key in ("proc bwrap", "proc sh"):
        return "jail start-ups (bwrap, within jail runs)"
    if key == "proc find":
        return "find processes (within guard snapshots)"
    if key.startswith("proc "):
        return f"other processes ({key[5:]})"
    if key == "import":
        return "imports"
    return key


def table(rows: list[tuple[str, float, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure'.ljust(width)}  {'seconds':>9}  note", "-" * (width + 30)]
    lines += [f"{name.ljust(width)}  {value:9.3f}  {note}" for name, value, note in rows]
    return "\n".join(lines)


def main(quick: bool = False) -> int:
    repo = Path(__file__).resolve().parents[1]
    overhead, where = run_overhead(repo, rounds=3 if quick else 5, traced=1 if quick else 3)
    print(table(overhead), flush=True)
    print("\nwhere the warm run's time goes (python -m orchestrator run, traced):", flush=True)
    print(table(where), flush=True)
    if quick:
        return 0
    print(table(parallel_speedup(repo)), flush=True)
    print(table(prepare_cache(repo)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`nox -s bench` (`python -m tools.bench [evidence|memory|query|overhead ...] [--quick]`).

Figures, not pass/fail: each is printed next to its baseline or target, measured in
the same process, because only ratios travel between machines.

evidence  the evidence build over many files vs `sha256sum` on the same files (target >= 0.8x).
memory    peak RSS of an evidence build over one 1 MB file vs one 1 GB file (target: flat).
query     a repository query over 100,000 indexed entries (target <= 100 ms).
overhead  what the pipeline adds to a run, and where it goes (tools.bench_run, tools.bench_trace).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.fsio import write_json

Row = tuple[str, str, str]
MIB = 1 << 20
RUN_ID = "20250101T000000Z-000000"
SECTIONS = ("evidence", "memory", "query", "overhead")


def _manifest(task: str = "bench", run_id: str = RUN_ID, status: str = "succeeded") -> dict[str, Any]:
    return {
        "schema": "manifest/v1",
        "run_id": run_id,
        "status": status,
        "reason": "",
        "task": {"id": task, "path": f"taskpacks/{task}/task.yml", "sha256": "0" * 64},
        "git": {"base": "0" * 40, "head": None},
        "executor": {"kind": "shell", "version": "bench"},
        "orchestrator": {"version": "bench"},
        "phases": {},
    }


def _fill(directory: Path, files: int, total: int) -> None:
    """`files` files of total/files bytes each, in 100 subdirectories, incompressible content."""
    size = total // files
    block = os.urandom(size + 4096)
    for i in range(files):
        sub = directory / f"d{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        offset = (i * 4099) % 4096
        (sub / f"f{i:05d}.bin").write_bytes(block[offset : offset + size])


def _best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _sha256sum(directory: Path, parallel: int) -> None:
    """find | xargs sha256sum, the way a person checks a directory by hand."""
    find = subprocess.Popen(
        ["find", str(directory), "-type", "f", "-name", "*.bin", "-print0"], stdout=subprocess.PIPE
    )
    subprocess.run(
        ["xargs", "-0", "-P", str(parallel), "-n", "500", "sha256sum"],
        stdin=find.stdout,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    find.wait()


def bench_evidence(files: int, total: int, rounds: int) -> list[Row]:
    from orchestrator.evidence import index as evidence

    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        run_dir = Path(tmp) / "run"
        _fill(run_dir, files, total)
        write_json(run_dir / "manifest.json", _manifest())
        manifest = _manifest()
        _sha256sum(run_dir, 1)  # warm the page cache for both sides alike
        one = _best(lambda: _sha256sum(run_dir, 1), rounds)
        two = _best(lambda: _sha256sum(run_dir, 2), rounds)
        ours = _best(lambda: evidence.build(run_dir, manifest), rounds)
        problems = evidence.verify_run(run_dir)
        check = _best(lambda: evidence.verify_run(run_dir), 1)
    gb = total / 1e9
    return [
        (f"sha256sum, {files} files, {gb:.2f} GB (1 process)", f"{one:.2f} s", f"{gb / one:.2f} GB/s"),
        ("sha256sum, same files (xargs -P 2)", f"{two:.2f} s", f"{gb / two:.2f} GB/s"),
        (
            f"evidence build (index + attestation), {evidence.workers()} threads",
            f"{ours:.2f} s",
            f"{gb / ours:.2f} GB/s = {one / ours:.2f}x sha256sum, {two / ours:.2f}x sha256sum -P2"
            " (target >= 0.8x)",
        ),
        (
            "evidence verify, same run",
            f"{check:.2f} s",
            "intact" if not problems else f"{len(problems)} problems!",
        ),
    ]


CHILD = """
import resource, sys
from pathlib import Path
from typing import Any
from orchestrator.evidence import index as evidence
run_dir = Path(sys.argv[1])
manifest = {"run_id": "x", "task": {"id": "bench", "sha256": "0" * 64}, "phases": {}}
evidence.build(run_dir, manifest)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kib(run_dir: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(run_dir)], env=env, capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1])


def bench_memory(big: int) -> list[Row]:
    rows = []
    baseline = None
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        for size in (MIB, big):
            run_dir = Path(tmp) / f"run-{size}"
            run_dir.mkdir()
            with (run_dir / "big.bin").open("wb") as handle:
                chunk = os.urandom(MIB)
                for _ in range(size // MIB):
                    handle.write(chunk)
            peak = _peak_kib(run_dir)
            baseline = baseline or peak
            rows.append(
                (
                    f"peak RSS, evidence build of one {size // MIB} MB file",
                    f"{peak / 1024:.1f} MB",
                    "baseline" if size == MIB else f"{(peak - baseline) / 1024:+.1f} MB vs 1 MB file",
                )
            )
            shutil.rmtree(run_dir)
    return rows


def _synthetic_runs(repo: Path, runs: int, per_run: int) -> None:
    kinds = [
        ("logs/{}.log", "log", "text/plain"),
        ("review_report.json", "review", "application/json"),
        ("diff.patch", "diff", "text/x-diff"),
        ("plugin/r{}.sarif", "plugin", "application/sarif+json"),
    ]
    phases = [
        "validate",
        "safety",
        "execute",
        "verify",
        "plugin",
        "review",
        "evidence",
        "summarize",
        "publish",
    ]
    for r in range(runs):
        task = f"task-{r % 20:02d}"
        run_id = f"2025{1 + r // 28 % 12:02d}{1 + r % 28:02d}T000000Z-{r:06x}"
        run_dir = repo / "runs" / task / run_id
        run_dir.mkdir(parents=True)
        entries = []
        for i in range(per_run):
            pattern, kind, media = kinds[i % len(kinds)]
            path = pattern.format(f"{i:03d}") if "{}" in pattern else f"extra/{i:03d}-{pattern}"
            entries.append(
                {
                    "path": path,
                    "sha256": f"{r:032x}{i:032x}",
                    "bytes": i,
                    "kind": kind,
                    "phase": phases[i % len(phases)],
                    "media_type": media,
                }
            )
        index = {
            "schema": "evidence_index/v1",
            "task": task,
            "run_id": run_id,
            "algorithm": "sha256",
            "excluded": [],
            "count": per_run,
            "bytes": 0,
            "root_digest": "0" * 64,
            "entries": sorted(entries, key=lambda e: str(e["path"])),
        }
        (run_dir / "evidence_index.json").write_text(json.dumps(index), encoding="utf-8")
        status = "failed" if r % 7 == 0 else "succeeded"
        (run_dir / "manifest.json").write_text(json.dumps({"status": status}), encoding="utf-8")


def bench_query(runs: int, per_run: int, rounds: int) -> list[Row]:
    from orchestrator.evidence import store as evidence_db
    from orchestrator.evidence.query import write_json_array

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        repo = Path(tmp)
        _synthetic_runs(repo, runs, per_run)
        total = runs * per_run
        start = time.perf_counter()
        everything = evidence_db.query(repo)
        cold = time.perf_counter() - start
        assert len(everything) >= total
        rows.append(
            (
                f"first query: builds the repo index of {runs} runs ({len(everything)} entries)",
                f"{cold * 1000:.0f} ms",
                "once; then incremental",
            )
        )
        cases = [
            ("--task task-07", {"task": "task-07"}),
            ("--kind diff --status failed", {"kind": "diff", "status": "failed"}),
            ("--phase execute --path 'logs/*.log'", {"phase": "execute", "path_glob": "logs/*.log"}),
            ("--run <one run id>", {"run": f"2025{1:02d}{2:02d}T000000Z-{1:06x}"}),
            ("no filter: every entry", {}),
        ]
        streamed = []
        for _ in range(rounds):
            start = time.perf_counter()
            with open(os.devnull, "w", encoding="utf-8") as sink:
                write_json_array(evidence_db.query_json(repo), sink)
            streamed.append(time.perf_counter() - start)
        rows.append(
            (
                f"query no filter, streamed as JSON (the CLI's --json) over {total} entries",
                f"{statistics.median(streamed) * 1000:.1f} ms",
                f"median of {rounds}; target <= 150 ms",
            )
        )
        for label, kwargs in cases:
            times, count = [], 0
            for _ in range(rounds):
                start = time.perf_counter()
                count = len(evidence_db.query(repo, **kwargs))
                times.append(time.perf_counter() - start)
            rows.append(
                (
                    f"query {label} over {total} entries",
                    f"{statistics.median(times) * 1000:.1f} ms",
                    f"{count} rows, median of {rounds}; target <= 100 ms",
                )
            )
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        script = (
            "import sys; from pathlib import Path; from orchestrator.evidence.query import main;"
            " sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))"
        )
        argv = [sys.executable, "-c", script, str(repo), "query", "--task", "task-07", "--json"]
        cli = _best(lambda: subprocess.run(argv, env=env, capture_output=True, check=True), rounds)
        rows.append(
            (
                "CLI process: evidence query --task task-07 --json",
                f"{cli * 1000:.0f} ms",
                "includes interpreter start-up",
            )
        )
    return rows


def table(title: str, rows: list[Row]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"## {title}", *(f"{name:<{width}}  {value:>10}  {note}" for name, value, note in rows)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", metavar="{evidence,memory,query,overhead}", default=[])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (seconds, not minutes): a smoke run"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.which) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    which = args.which or list(SECTIONS)
    quick = args.quick
    if "evidence" in which:
        files, total = (1000, 50 * MIB) if quick else (10_000, 1 << 30)
        print(
            table("evidence build vs sha256sum", bench_evidence(files, total, 1 if quick else 3)), flush=True
        )
    if "memory" in which:
        print(table("evidence build peak memory", bench_memory(64 * MIB if quick else 1 << 30)), flush=True)
    if "query" in which:
        runs, per_run = (100, 100) if quick else (1000, 100)
        print(table("evidence query", bench_query(runs, per_run, 3 if quick else 5)), flush=True)
    if "overhead" in which:
        from tools import bench_run

        return bench_run.main(quick=quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Host-side work on the workspace runs under the breakers and never reads an oversized change.

The change is counted and sized with lstat before the host hashes, diffs or commits any of it,
so a huge sparse file or tens of thousands of files trip a breaker within the run's wall time
and leave only a few kilobytes of evidence.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from conftest import git, manifest, orchestrator, runs_of, write_pack
from orchestrator import gitops

WALL = 20
SLACK = 15
EVIDENCE_CAP = 4 << 20


def run_timed(
    repo: Path, task_id: str, commands: list[str], **limits: int
) -> tuple[subprocess.CompletedProcess[str], dict, Path, float]:
    write_pack(
        repo,
        task_id,
        executor={"kind": "shell", "commands": commands},
        limits={"wall_seconds": WALL, **limits},
        acceptance=[{"id": "ran", "run": "true"}],
    )
    start = time.monotonic()
    proc = orchestrator(repo, "run", task_id, timeout=WALL + 60)
    elapsed = time.monotonic() - start
    run_dir = runs_of(repo, task_id)[-1]
    return proc, manifest(run_dir), run_dir, elapsed


def evidence_bytes(repo: Path, run_dir: Path, task_id: str) -> tuple[int, int]:
    on_disk = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    sizes = git(repo, "ls-tree", "-r", "-l", "--full-tree", f"codex/{task_id}", "--", "runs/")
    committed = sum(int(line.split()[3]) for line in sizes.splitlines())
    return on_disk, committed


def test_a_5_gib_sparse_file_trips_the_size_breaker_before_it_is_read(repo: Path) -> None:
    proc, data, run_dir, elapsed = run_timed(repo, "sparse", ["truncate -s 5G big.bin"])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert data["status"] == "tripped"
    trip = data["breakers"][0]
    assert (trip["name"], trip["measured"]) == ("max_change_bytes", 5 << 30)
    assert "big.bin" in trip["detail"]
    assert elapsed < WALL + SLACK
    on_disk, committed = evidence_bytes(repo, run_dir, "sparse")
    assert on_disk < EVIDENCE_CAP and committed < EVIDENCE_CAP


def test_30000_files_trip_max_changed_files_with_little_evidence(repo: Path) -> None:
    make = (
        "python3 -c \"import os\nos.makedirs('many')\nfor i in range(30000): open(f'many/{i}', 'w').close()\""
    )
    proc, data, run_dir, elapsed = run_timed(repo, "many", [make])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    trip = data["breakers"][0]
    assert (trip["name"], trip["measured"]) == ("max_changed_files", 30000)
    assert "files" not in data.get("changes", {}) or len(data["changes"]["files"]) <= 1000
    assert elapsed < WALL + SLACK
    on_disk, committed = evidence_bytes(repo, run_dir, "many")
    assert on_disk < EVIDENCE_CAP and committed < EVIDENCE_CAP


def test_a_change_of_many_files_keeps_the_manifest_file_list_capped(repo: Path) -> None:
    make = (
        "python3 -c \"import os\nos.makedirs('wide')\n"
        "for i in range(1200): open(f'wide/{i}.txt', 'w').write('x')\""
    )
    proc, data, _, _ = run_timed(repo, "wide", [make], max_changed_files=5000, max_diff_lines=5000)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    changes = data["changes"]
    assert changes["files_changed"] == 1200 and len(changes["files"]) == 1000 and changes["files_truncated"]
    assert "wide/999.txt" in git(repo, "ls-tree", "-r", "--name-only", "codex/wide~1")


def test_a_patch_longer_than_diff_patch_holds_trips_instead_of_going_half_reviewed(repo: Path) -> None:
    make = "python3 -c \"[print('x' * 150000) for _ in range(20)]\" > wide.txt"  # 3 MB of text in 20 lines
    proc, data, run_dir, _ = run_timed(repo, "blob", [make])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    trip = data["breakers"][0]
    assert trip["name"] == "max_diff_bytes" and trip["measured"] > 3000000
    assert data["changes"]["diff_truncated"] and (run_dir / "diff.patch").stat().st_size < (1 << 20) + 200
    assert "wide.txt" not in git(repo, "ls-tree", "-r", "--name-only", "codex/blob")


def test_host_side_git_is_stopped_when_its_time_is_up(repo: Path) -> None:
    start = time.monotonic()
    with pytest.raises(gitops.GitTimeout, match=r"still running after 0\.5s"):
        gitops.git(repo, "-c", "alias.slow=!sleep 2", "slow", timeout=0.5)
    assert time.monotonic() - start < 1.5

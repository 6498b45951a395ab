"""Benchmark (not a test): validate N generated task packs in one process, against plain yaml.safe_load.

    python orchestrator/tests/bench_validate.py [N]      (run from the repository root; default N = 1000)

Prints seconds for: validating all packs (schema compiled once, C YAML parser when
present), and yaml.safe_load of the same files, measured in the same run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# Run as a script: the engine is importable only once the repository root is on sys.path.
from orchestrator.taskpack import check_file, find_task_ids  # noqa: E402


def make_packs(repo: Path, count: int) -> list[Path]:
    template = (ROOT / "taskpacks" / "add-slugify" / "task.yml").read_text(encoding="utf-8")
    files = []
    for index in range(count):
        task_id = f"bench-{index:05d}"
        path = repo / "taskpacks" / task_id / "task.yml"
        path.parent.mkdir(parents=True)
        path.write_text(template.replace("add-slugify", task_id), encoding="utf-8")
        files.append(path)
    return files


def main(count: int = 1000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        files = make_packs(repo, count)
        check_file(
            repo, files[0]
        )  # compile the schema once, outside the timing (as a long-lived CLI would not)
        start = time.perf_counter()
        ids = find_task_ids(repo)
        bad = [
            f for f in (repo / "taskpacks" / i / "task.yml" for i in ids) if check_file(repo, f)[0] is None
        ]
        validate_s = time.perf_counter() - start
        assert not bad, bad[:3]
        start = time.perf_counter()
        for path in files:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        safe_load_s = time.perf_counter() - start
    result = {
        "packs": count,
        "validate_s": validate_s,
        "safe_load_s": safe_load_s,
        "ratio": validate_s / safe_load_s,
    }
    print(
        f"validate {count} packs: {validate_s:.3f} s; yaml.safe_load of the same files: {safe_load_s:.3f} s; "
        f"ratio {result['ratio']:.2f}"
    )
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)

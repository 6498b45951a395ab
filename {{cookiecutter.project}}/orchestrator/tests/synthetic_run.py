"""A synthetic, complete run directory for the review and evidence tests: no pipeline, no git.

`make_run` writes a minimal repository (pyproject.toml + one task pack), loads the pack
with the real loader, makes the manifest with runs.new_manifest and fills in what the
earlier phases would have recorded, then writes logs and diff.patch into
runs/<task>/<run>/. Tests change one thing and look at what the code under test says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import load_settings
from orchestrator.fsio import write_json
from orchestrator.model import Manifest
from orchestrator.phases import NAMES as PHASES
from orchestrator.runs import Run, new_manifest, record_outputs
from orchestrator.taskpack import TaskPack, load_taskpack

BASE = "a" * 40
RUN_ID = "20250101T000000Z-abc123"
TIME = "2025-01-01T00:00:00.000000Z"

DIFF = """\
diff --git a/src/slug.py b/src/slug.py
new file mode 100644
index 0000000000000000000000000000000000000000..1111111111111111111111111111111111111111
--- /dev/null
+++ b/src/slug.py
@@ -0,0 +1,3 @@
+def slugify(text):
+    return text.lower().replace(" ", "-")
+
diff --git a/tests/test_slug.py b/tests/test_slug.py
index 2222222222222222222222222222222222222222..3333333333333333333333333333333333333333 100644
--- a/tests/test_slug.py
+++ b/tests/test_slug.py
@@ -1,2 +1,2 @@
 from src.slug import slugify
-assert slugify("A") == "A"
+assert slugify("A B") == "a-b"
"""


def pack_data(task_id: str = "add-slug", **fields: Any) -> dict[str, Any]:
    pack: dict[str, Any] = {
        "schema": "taskpack/v1",
        "id": task_id,
        "title": "Add slugify",
        "objective": "Add a slugify helper.",
        "executor": {"kind": "shell", "commands": ["true"]},
        "scope": {"allowed_paths": ["src/**", "tests/**"]},
        "acceptance": [{"id": "tests", "run": "true"}, {"id": "lint", "run": "true"}],
    }
    pack.update(fields)
    return pack


@dataclass
class Synthetic:
    repo: Path
    run_dir: Path
    task: TaskPack
    manifest: dict[str, Any]

    def save(self) -> None:
        write_json(self.run_dir / "manifest.json", self.manifest)

    def run(self) -> Run:
        return Run(load_settings(self.repo, {}), self.task, self.run_dir, Manifest.from_json(self.manifest))

    def record_outputs(self, phase: str, outputs: list[Path]) -> None:
        """What the pipeline records after a phase: its outputs with their digests."""
        run = self.run()
        record_outputs(run, phase, outputs)
        self.manifest = run.manifest.to_json()


def make_run(root: Path, *, diff: str | None = DIFF, run_id: str = RUN_ID, **fields: Any) -> Synthetic:
    repo = root / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "pyproject.toml").write_text('[tool.orchestrator]\nbase_branch = "main"\n', encoding="utf-8")
    (repo / "orchestrator").mkdir(exist_ok=True)
    data = pack_data(**fields)
    pack_file = repo / "taskpacks" / data["id"] / "task.yml"
    pack_file.parent.mkdir(parents=True, exist_ok=True)
    pack_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    task = load_taskpack(repo, data["id"])
    settings = load_settings(repo, {})
    manifest = new_manifest(settings, task, run_id, BASE, "/bin/sh -c").to_json()
    manifest["started_at"] = TIME
    manifest["executor"]["attempts"] = 1
    for name in PHASES[: PHASES.index("review")]:
        manifest["phases"][name].update(status="passed", started_at=TIME, ended_at=TIME, exit_code=0)
    manifest["acceptance"] = [
        {
            "id": c["id"],
            "run": c["run"],
            "status": "passed",
            "exit_code": 0,
            "expect_exit": 0,
            "duration_seconds": 0.25,
            "excerpt": "",
        }
        for c in task.acceptance
    ]
    run_dir = repo / "runs" / task.id / run_id
    (run_dir / "logs").mkdir(parents=True)
    for name in PHASES[: PHASES.index("review")]:
        (run_dir / "logs" / f"{name}.log").write_text(f"# phase {name}\n", encoding="utf-8")
    if diff is not None:
        (run_dir / "diff.patch").write_text(diff, encoding="utf-8")
        manifest["phases"]["execute"]["outputs"] = [{"path": "diff.patch", "sha256": "0" * 64}]
    synthetic = Synthetic(repo, run_dir, task, manifest)
    synthetic.save()
    return synthetic


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))

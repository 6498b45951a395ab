"""`python -m orchestrator matrix <ids...|all|changed>`: the task packs a CI job matrix fans out over;
`python -m orchestrator outcomes <ids...>`: a Markdown table of each pack's latest run, for a job summary.

It prints `{"include": [{"task_id": ..., "executor": ...}, ...]}` for GitHub Actions'
`strategy.matrix` (`fromJSON`), so the workflow can install the Codex CLI and hand the model key
to the step that runs a pack only when that pack's executor is codex. `changed` names the packs
whose files changed between `--since` (default: the previous commit) and HEAD. Every pack is
validated here: an invalid one is bad input (exit 2) before any job starts.
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator import gitops, textsafe
from orchestrator.config import Settings
from orchestrator.errors import BadInput
from orchestrator.layout import MANIFEST, SUMMARY
from orchestrator.runs import task_runs
from orchestrator.taskpack import TASKPACKS, find_task_ids, load_many

ALL = "all"
CHANGED = "changed"


def changed_ids(repo: Path, since: str) -> list[str]:
    if gitops.rev_parse(repo, since) is None:
        raise BadInput(
            f"--since {since!r} is not a commit here (fetch more history: actions/checkout fetch-depth: 0)"
        )
    names = gitops.git(
        repo, "diff", "--name-only", "--no-renames", f"{since}...HEAD", "--", TASKPACKS
    ).splitlines()
    present = set(find_task_ids(repo))
    return sorted({parts[1] for name in names if len(parts := name.split("/")) > 2 and parts[1] in present})


def select(repo: Path, selectors: list[str], since: str = "HEAD~1") -> list[str]:
    if not selectors:
        raise BadInput("name task ids, or `all`, or `changed`")
    ids: list[str] = []
    for item in selectors:
        for part in (p.strip() for p in item.replace(",", " ").split()):
            if part == ALL:
                ids.extend(find_task_ids(repo))
            elif part == CHANGED:
                ids.extend(changed_ids(repo, since))
            elif part:
                ids.append(part)
    return list(dict.fromkeys(ids))


def matrix(repo: Path, selectors: list[str], since: str = "HEAD~1") -> dict[str, list[dict[str, str]]]:
    packs = load_many(repo, select(repo, selectors, since))
    return {"include": [{"task_id": p.id, "executor": p.executor["kind"]} for p in packs]}


def main(repo: Path, selectors: list[str], since: str) -> int:
    print(json.dumps(matrix(repo, selectors, since), separators=(",", ":")))
    return 0


def _cell(text: object) -> str:
    return textsafe.markdown(str(text)[:200])


def outcomes(settings: Settings, task_ids: list[str]) -> str:
    """The latest run of each pack: status, reason and where its summary is; `no run` when none."""
    lines = ["| pack | status | reason | summary |", "| --- | --- | --- | --- |"]
    for task_id in task_ids:
        runs = task_runs(settings, task_id)
        if not runs:
            lines.append(f"| {_cell(task_id)} | no run | the job did not leave a run directory | - |")
            continue
        data = json.loads((runs[-1] / MANIFEST).read_text(encoding="utf-8"))
        summary = (runs[-1] / SUMMARY).relative_to(settings.repo).as_posix()
        lines.append(
            f"| {_cell(task_id)} | {_cell(data.get('status'))} | {_cell(data.get('reason'))} | {summary} |"
        )
    return "\n".join(lines) + "\n"

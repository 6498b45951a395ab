"""`python -m orchestrator pr <task-id>`: one draft pull request per task branch, opened or updated.

It talks to the GitHub REST API with the names Actions sets: `GITHUB_API_URL` (default
`https://api.github.com`), `GITHUB_REPOSITORY` (`owner/name`) and `GITHUB_TOKEN`. The pull
request's head is the task branch (`codex/<id>`), its base the base branch, its body the task's
latest SUMMARY.md, redacted, with a link to the run's evidence on the branch. A second call finds
the open pull request and updates it: there is never a second one for the same branch.
Nothing the agent wrote runs here: this moves text, not code.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.config import Settings
from orchestrator.errors import BadInput, OrchestratorError
from orchestrator.layout import MANIFEST, SUMMARY
from orchestrator.redact import Redactor
from orchestrator.runs import task_runs

DEFAULT_API = "https://api.github.com"
DEFAULT_SERVER = "https://github.com"
BODY_CAP = 60_000
"""GitHub refuses bodies over 65,536 characters; the summary is cut before that, saying so."""
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
TIMEOUT_SECONDS = 30


class GitHubError(OrchestratorError):
    """The GitHub API refused or failed a request."""


@dataclass(frozen=True)
class GitHub:
    api: str
    repository: str
    token: str
    server: str = DEFAULT_SERVER

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> GitHub:
        env = os.environ if environ is None else environ
        missing = [name for name in ("GITHUB_REPOSITORY", "GITHUB_TOKEN") if not env.get(name)]
        if missing:
            raise BadInput(
                f"{' and '.join(missing)} not set: opening a pull request needs GITHUB_REPOSITORY "
                "(owner/name) and GITHUB_TOKEN (Actions sets both; locally, export them)"
            )
        repository = env["GITHUB_REPOSITORY"]
        if not REPOSITORY.fullmatch(repository):
            raise BadInput(f"GITHUB_REPOSITORY={repository!r} is not owner/name")
        return cls(
            env.get("GITHUB_API_URL") or DEFAULT_API,
            repository,
            env["GITHUB_TOKEN"],
            env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER,
        )

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.api.rstrip('/')}{path}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "codex-orchestrator",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise GitHubError(f"GitHub API {method} {path} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise GitHubError(f"GitHub API {self.api} unreachable: {exc}") from None
        return json.loads(raw) if raw else None


def pr_body(settings: Settings, task_id: str, github: GitHub, redactor: Redactor) -> tuple[str, str]:
    """(title, body) from the task's latest run: its SUMMARY.md and a link to its evidence."""
    runs = task_runs(settings, task_id)
    if not runs:
        raise BadInput(f"task {task_id!r} has no run under runs/: run it first (nox -s run -- {task_id})")
    run_dir = runs[-1]
    manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    summary_file = run_dir / SUMMARY
    summary = summary_file.read_text(encoding="utf-8", errors="replace") if summary_file.is_file() else ""
    summary = redactor.redact(summary)
    if len(summary) > BODY_CAP:
        summary = summary[:BODY_CAP] + "\n\n[SUMMARY.md cut here; the whole file is in the evidence]\n"
    branch = settings.branch_for(task_id)
    where = run_dir.relative_to(settings.repo).as_posix()
    link = f"{github.server.rstrip('/')}/{github.repository}/tree/{urllib.parse.quote(branch)}/{where}"
    title = f"{task_id}: {manifest['task'].get('title') or task_id} ({manifest['status']})"
    body = f"{summary.rstrip()}\n\n---\nEvidence of run `{run_dir.name}`: [{where}]({link})\n"
    return title, body


def open_or_update(
    settings: Settings, task_id: str, github: GitHub, redactor: Redactor | None = None
) -> dict[str, Any]:
    """The draft pull request for the task branch, created once and updated after."""
    title, body = pr_body(settings, task_id, github, redactor or Redactor.from_environ())
    branch = settings.branch_for(task_id)
    owner = github.repository.split("/")[0]
    query = urllib.parse.urlencode({"head": f"{owner}:{branch}", "state": "open"})
    existing = github.request("GET", f"/repos/{github.repository}/pulls?{query}") or []
    if existing:
        number = existing[0]["number"]
        pull = github.request(
            "PATCH", f"/repos/{github.repository}/pulls/{number}", {"title": title, "body": body}
        )
        return {"action": "updated", "number": number, "url": pull.get("html_url")}
    pull = github.request(
        "POST",
        f"/repos/{github.repository}/pulls",
        {"title": title, "head": branch, "base": settings.base_branch, "body": body, "draft": True},
    )
    return {"action": "created", "number": pull["number"], "url": pull.get("html_url")}


def main(settings: Settings, task_id: str) -> int:
    result = open_or_update(settings, task_id, GitHub.from_environ())
    print(
        f"pull request #{result['number']} {result['action']} for {settings.branch_for(task_id)}"
        + (f": {result['url']}" if result.get("url") else "")
    )
    return 0

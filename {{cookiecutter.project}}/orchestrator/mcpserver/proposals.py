"""Task packs written by a control plane: checked from text, then committed or held for approval.

A proposal is YAML text (plus optional context files kept beside it). It is checked in a
scratch copy first (schema, semantics, then the repository's policy ceilings), so nothing is
written to the repository unless it is valid. A valid proposal is either committed on the base
branch as a control-plane commit with a trailer naming the client, or, when the policy says
`require_approval = true`, held in `.orchestrator/proposals/<id>/` until a person runs
`nox -s approve -- <id>`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator import ceilings, gitops
from orchestrator.config import load_settings
from orchestrator.errors import BadInput, Problem, Refused
from orchestrator.taskpack import MAX_BYTES, SLUG, TASK_FILE, TASKPACKS, check_file, parse_yaml

PROPOSALS = "proposals"
MAX_CONTEXT_FILES = 20
MAX_CONTEXT_BYTES = 1024 * 1024
"""All context files of one proposal together (each one at most MAX_BYTES, like a task pack)."""
REGULAR_MODES = ("100644", "100755")


@dataclass(frozen=True)
class Checked:
    task_id: str | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems and self.task_id is not None


def _id_of(text: str) -> str | None:
    try:
        data = parse_yaml(text).data
    except Exception:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _context_path(task_id: str, name: str) -> PurePosixPath:
    """A context file's place inside `taskpacks/<id>/`: plain, printable, never git metadata or task.yml."""
    path = PurePosixPath(name)
    bad = (
        path.is_absolute()
        or not path.parts
        or ".." in path.parts
        or path.name == TASK_FILE
        or "\\" in name
        or any(not ch.isprintable() for ch in name)
        or any(part.casefold().startswith(".git") for part in path.parts)
    )
    if bad:
        raise BadInput(
            f"context file {name!r}: must be a plain relative name inside taskpacks/{task_id}/",
            [
                Problem(
                    name,
                    1,
                    1,
                    "(context file)",
                    "is absolute, climbs with '..', names git metadata (.git*), holds control characters, "
                    "or replaces task.yml",
                    "name it like notes.md or docs/spec.md",
                )
            ],
        )
    return path


def _check_sizes(files: Mapping[str, str]) -> None:
    if len(files) > MAX_CONTEXT_FILES:
        raise BadInput(f"at most {MAX_CONTEXT_FILES} context files per proposal")
    sizes = {name: len(content.encode("utf-8")) for name, content in files.items()}
    if big := [name for name, size in sizes.items() if size > MAX_BYTES]:
        raise BadInput(f"context file {big[0]!r} is over {MAX_BYTES} bytes; keep context files small")
    if sum(sizes.values()) > MAX_CONTEXT_BYTES:
        raise BadInput(f"the context files add up to more than {MAX_CONTEXT_BYTES} bytes")
    folders = {str(parent) for name in files for parent in PurePosixPath(name).parents}
    if clash := sorted(folders & set(files)):
        raise BadInput(f"context file {clash[0]!r} is also used as a folder of another context file")


def check_text(repo: Path, text: str, files: Mapping[str, str] | None = None) -> Checked:
    """Every problem of a pack given as text, located as if it were `taskpacks/<id>/task.yml`."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        return Checked(
            None,
            [
                Problem(
                    "task.yml",
                    1,
                    1,
                    "(file)",
                    f"more than {MAX_BYTES} bytes",
                    "move long material into context files",
                )
            ],
        )
    task_id = _id_of(text)
    folder = task_id if task_id and SLUG.fullmatch(task_id) else "unnamed"
    files = dict(files or {})
    _check_sizes(files)
    for name in files:
        _context_path(folder, name)
    with tempfile.TemporaryDirectory(prefix="orch-proposal-") as scratch:
        root = Path(scratch)
        pack = root / TASKPACKS / folder
        pack.mkdir(parents=True)
        (pack / TASK_FILE).write_text(text, encoding="utf-8")
        for name, content in files.items():
            target = pack / _context_path(folder, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        for existing in _repo_context(repo, text):
            target = root / existing
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(repo / existing, target)
        found, problems = check_file(root, pack / TASK_FILE)
        if found is not None:
            display = f"{TASKPACKS}/{folder}/{TASK_FILE}"
            problems = ceilings.check_file(
                pack / TASK_FILE, display, found.data, ceilings.of_repository(repo)
            )
    if task_id is not None and not SLUG.fullmatch(task_id):
        problems = [p for p in problems if not (p.field == "id" and "directory name" in p.message)]
        problems = [
            Problem(
                f"{TASKPACKS}/{folder}/{TASK_FILE}",
                1,
                1,
                "id",
                f"{task_id!r} is not a task id (lowercase letters, digits and '-')",
                "use a slug such as fix-login",
            ),
            *problems,
        ]
    return Checked(task_id if task_id and SLUG.fullmatch(task_id) else None, sorted(set(problems)))


def _repo_context(repo: Path, text: str) -> list[PurePosixPath]:
    """Context entries that name files already in the repository (copied into the scratch check)."""
    try:
        data = parse_yaml(text).data
    except Exception:
        return []
    entries = data.get("context", []) if isinstance(data, dict) else []
    root = repo.resolve()
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, str) or ".." in PurePosixPath(entry).parts or entry.startswith("/"):
            continue
        path = (root / entry).resolve()
        if path.is_relative_to(root) and path.is_file() and not entry.startswith(f"{TASKPACKS}/"):
            out.append(PurePosixPath(entry))
    return out


def _write(target: Path, text: str, files: Mapping[str, str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / TASK_FILE).write_text(text, encoding="utf-8")
    for name, content in files.items():
        path = target / _context_path(target.name, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def commit_pack(repo: Path, task_id: str, message: str, trailers: Mapping[str, str]) -> str:
    """Commits `taskpacks/<id>/` (and nothing else) on the base branch; the checkout must be on it."""
    settings = load_settings(repo)
    current = gitops.git(repo, "symbolic-ref", "--quiet", "--short", "HEAD").strip()
    if current != settings.base_branch:
        raise Refused(
            f"the checkout is on {current!r}; task packs are committed on the base branch "
            f"{settings.base_branch!r}: switch to it (git switch {settings.base_branch}) and retry"
        )
    body = "\n".join(f"{key}: {value}" for key, value in trailers.items())
    pathspec = f"{TASKPACKS}/{task_id}"
    env = gitops.identity(repo)
    gitops.git(repo, "add", "--", pathspec, env=env)
    staged = gitops.git(repo, "ls-files", "--stage", "-z", "--", pathspec).split("\0")
    odd = [
        entry.split("\t", 1)[-1] for entry in staged if entry and entry.split(" ", 1)[0] not in REGULAR_MODES
    ]
    if odd:  # a nested repository (gitlink) or a symlink: never committed from a proposal
        gitops.git(repo, "reset", "--quiet", "--", pathspec)
        raise Refused(f"the proposal would commit something other than regular files: {', '.join(odd[:5])}")
    branch = f"refs/heads/{settings.base_branch}"
    gitops.journal_files(repo, [p for p in (repo / pathspec).rglob("*") if p.is_file()])
    gitops.git(repo, "commit", "--quiet", "--no-verify", "-m", message, "-m", body, "--", pathspec, env=env)
    commit = gitops.git(repo, "rev-parse", "HEAD").strip()
    gitops.journal_ref(repo, branch, commit)  # a control-plane commit: no run's escape guard counts it
    return commit


def propose(
    repo: Path, text: str, files: Mapping[str, str] | None, *, replace: bool, client: str
) -> dict[str, object]:
    """Checks, then commits (or holds) a proposal; returns what happened, for the client."""
    files = dict(files or {})
    checked = check_text(repo, text, files)
    if not checked.ok:
        return {"ok": False, "errors": [problem_dict(p) for p in checked.problems]}
    task_id = checked.task_id
    assert task_id is not None
    target = repo / TASKPACKS / task_id
    if target.exists() and not replace:
        return {
            "ok": False,
            "errors": [
                problem_dict(
                    Problem(
                        f"{TASKPACKS}/{task_id}/{TASK_FILE}",
                        1,
                        1,
                        "id",
                        f"task pack {task_id!r} already exists",
                        "choose another id, or pass replace: true to overwrite it",
                    )
                )
            ],
        }
    if ceilings.of_repository(repo).require_approval:
        held = load_settings(repo).state_dir / PROPOSALS / task_id
        shutil.rmtree(held, ignore_errors=True)
        _write(held, text, files)
        return {
            "ok": True,
            "task_id": task_id,
            "status": "awaiting approval",
            "next": f"a person runs `nox -s approve -- {task_id}` to commit it",
        }
    existed = target.exists()
    if existed:
        shutil.rmtree(target)
    _write(target, text, files)
    try:
        commit = commit_pack(
            repo,
            task_id,
            f"Task pack {task_id}: proposed by {client}",
            {"Proposed-by": client, "Control-plane": "mcp"},
        )
    except Exception:
        shutil.rmtree(target, ignore_errors=True)
        if existed:  # the pack that was replaced comes back as committed
            gitops.git(repo, "checkout", "--quiet", "HEAD", "--", f"{TASKPACKS}/{task_id}")
        raise
    return {
        "ok": True,
        "task_id": task_id,
        "status": "committed",
        "commit": commit,
        "path": f"{TASKPACKS}/{task_id}/{TASK_FILE}",
    }


def approve(repo: Path, task_id: str, approver: str) -> str:
    """Moves a held proposal into taskpacks/ after checking it again, and commits it."""
    if not SLUG.fullmatch(task_id):
        raise BadInput(f"{task_id!r} is not a task id")
    held = load_settings(repo).state_dir / PROPOSALS / task_id
    if not (held / TASK_FILE).is_file():
        raise BadInput(f"no proposal {task_id!r} waits for approval (looked in {held.relative_to(repo)})")
    files = {
        p.relative_to(held).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(held.rglob("*"))
        if p.is_file() and p.name != TASK_FILE
    }
    text = (held / TASK_FILE).read_text(encoding="utf-8")
    checked = check_text(repo, text, files)
    if not checked.ok:
        raise BadInput(f"proposal {task_id!r} no longer validates", checked.problems)
    target = repo / TASKPACKS / task_id
    if target.exists():
        shutil.rmtree(target)
    _write(target, text, files)
    commit = commit_pack(
        repo,
        task_id,
        f"Task pack {task_id}: approved",
        {"Approved-by": approver, "Control-plane": "proposal"},
    )
    shutil.rmtree(held)
    return commit


def problem_dict(problem: Problem) -> dict[str, object]:
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "field": problem.field,
        "message": problem.message,
        "fix": problem.hint,
    }

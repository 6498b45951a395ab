"""Finding, reading and checking task packs: the edge where files become TaskPacks or Problems."""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path

from orchestrator.errors import BadInput, Problem
from orchestrator.fsio import sha256_bytes
from orchestrator.schemas import load, validator
from orchestrator.taskpack.defaults import apply_defaults
from orchestrator.taskpack.marks import Refusal, parse_yaml, type_name
from orchestrator.taskpack.model import MAX_BYTES, SCHEMA, SLUG, TASK_FILE, TASKPACKS, Checked, TaskPack
from orchestrator.taskpack.problems import problems_from_error
from orchestrator.taskpack.semantics import semantic_problems


@cache
def _resolved(repo: Path) -> Path:
    return repo.resolve()


def display_path(path: Path, repo: Path) -> str:
    """Repository-relative when inside it (messages and manifests stay portable), else as given."""
    try:
        return path.relative_to(_resolved(repo)).as_posix()
    except ValueError:
        try:
            return path.resolve().relative_to(_resolved(repo)).as_posix()
        except ValueError:
            return str(path)


def check_file(repo: Path, file: Path) -> tuple[TaskPack | None, list[Problem]]:
    """Every problem of one task.yml, and the pack when there are none."""
    display = display_path(file, repo)

    def fail(line: int, column: int, fld: str, message: str, hint: str) -> tuple[None, list[Problem]]:
        return None, [Problem(display, line, column, fld, message, hint)]

    try:
        size = file.stat().st_size
    except OSError as exc:
        return fail(
            1, 1, "(file)", f"cannot read the file: {exc.strerror}", "check the path and its permissions"
        )
    if size > MAX_BYTES:
        return fail(
            1,
            1,
            "(file)",
            f"file is {size} bytes; task packs are limited to {MAX_BYTES} bytes",
            "move long material into context files and cite them under context:",
        )
    raw = file.read_bytes()[: MAX_BYTES + 1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return fail(
            line,
            column,
            "(file)",
            f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
            "save the file as UTF-8",
        )
    text = text.removeprefix("\ufeff")
    try:
        doc = parse_yaml(text)
    except Refusal as exc:
        return fail(*exc.where, exc.field, exc.message, exc.hint)
    data = doc.data
    if data is None:
        return fail(
            1,
            1,
            "(root)",
            "the file is empty (no YAML document)",
            "start from `python -m orchestrator new <id>`, or see orchestrator/schemas/taskpack.v1.md",
        )
    if not isinstance(data, dict):
        return fail(
            *doc.mark(()),
            "(root)",
            f"the task pack must be a mapping of keys, not {type_name(data)}",
            "write 'schema: taskpack/v1', 'id: ...' and the other keys at the top level, without '- '",
        )

    problems: set[Problem] = set()
    for error in validator(SCHEMA).iter_errors(data):
        problems.update(problems_from_error(error, doc, display))
    problems.update(semantic_problems(data, doc, display, file=file, repo=repo, root=_resolved(repo)))
    if problems:
        return None, sorted(problems)
    apply_defaults(load(SCHEMA), data)
    return TaskPack(id=data["id"], dir=file.parent, file=file, data=data, sha256=sha256_bytes(raw)), []


def find_task_ids(repo: Path) -> list[str]:
    """Ids of the packs under taskpacks/ (directories holding a task.yml), sorted."""
    root = repo / TASKPACKS
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / TASK_FILE).is_file())


def resolve_ref(repo: Path, ref: str) -> Path:
    """A task id, a pack directory or a task.yml path (relative to the cwd or the repo) -> the file."""
    looks_like_path = "/" in ref or "\\" in ref or ref.endswith((".yml", ".yaml")) or ref in (".", "..")
    if not looks_like_path and SLUG.fullmatch(ref):
        file = repo / TASKPACKS / ref / TASK_FILE
        if file.is_file():
            return file.resolve()
    candidate = Path(ref)
    for path in (candidate, repo / candidate) if not candidate.is_absolute() else (candidate,):
        if path.is_dir() and (path / TASK_FILE).is_file():
            return (path / TASK_FILE).resolve()
        if path.is_file():
            return path.resolve()
    known = find_task_ids(repo)
    close = difflib.get_close_matches(ref, known, n=1)
    hint = (
        f"did you mean '{close[0]}'?"
        if close
        else (
            f"known task ids: {', '.join(known)}"
            if known
            else "create one with `python -m orchestrator new <id>`"
        )
    )
    raise BadInput(
        f"no task pack {ref!r}",
        [
            Problem(
                ref, 1, 1, "(argument)", "is neither a task id under taskpacks/ nor a task pack path", hint
            )
        ],
    )


def load_taskpack(repo: Path, ref: str) -> TaskPack:
    """The valid pack named by `ref`; raises BadInput listing every problem of it."""
    file = resolve_ref(repo, ref)
    pack, problems = check_file(repo, file)
    if pack is None:
        raise BadInput(
            f"{display_path(file, repo)}: invalid task pack ({len(problems)} problem(s))", problems
        )
    return pack


def check_refs(repo: Path, refs: list[str]) -> Checked:
    """Checks each pack once (a pack named twice counts once); never stops at the first bad one."""
    packs: list[TaskPack] = []
    problems: list[Problem] = []
    bad = 0
    seen: set[Path] = set()
    for ref in refs:
        try:
            file = resolve_ref(repo, ref)
        except BadInput as exc:
            bad += 1
            problems.extend(exc.problems)
            continue
        if file in seen:
            continue
        seen.add(file)
        pack, found = check_file(repo, file)
        if pack is None:
            bad += 1
            problems.extend(found)
        else:
            packs.append(pack)
    return Checked(packs, problems, bad)


def load_many(repo: Path, refs: list[str]) -> list[TaskPack]:
    """All packs, or one BadInput carrying every problem of every pack."""
    checked = check_refs(repo, refs)
    if checked.problems:
        raise BadInput(f"{checked.bad} of {len(refs)} task pack(s) invalid", checked.problems)
    return checked.packs

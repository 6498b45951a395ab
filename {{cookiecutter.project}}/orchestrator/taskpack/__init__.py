"""Task packs: read `taskpacks/<id>/task.yml`, check it, and say exactly where it is wrong.

The control plane writes task packs by hand, so every defect is reported with the
file, line and column of the YAML node at fault, the field path, what is wrong and
how to fix it, and all defects of all packs are reported at once.

The YAML is read from the event stream of the (C, when available) safe parser and
turned into data by an iterative builder that records the mark of every node. That
is one pass with no recursion (deep nesting cannot crash the interpreter), and it
lets the builder refuse alias bombs *before* anything is expanded: aliases, total
(expanded) nodes and nesting depth are counted as events arrive. Oversized and
non-UTF-8 files are refused before parsing starts.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from orchestrator.egress import host_problem
from orchestrator.environment import presets
from orchestrator.errors import BadInput, Problem
from orchestrator.fsio import sha256_bytes
from orchestrator.globs import GlobError, check_relative, glob_to_regex
from orchestrator.plugin_options import option_problems
from orchestrator.schemas import load, validator

SCHEMA = "taskpack.v1.json"
TASKPACKS = "taskpacks"
TASK_FILE = "task.yml"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

MAX_BYTES = 256 * 1024
"""A task pack is a page of YAML; anything larger is refused before it is read."""
MAX_ALIASES = 100
MAX_NODES = 10_000
"""Nodes after alias expansion: far above any real pack, far below what hurts memory."""
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = {
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
}
_AS_TEXT = {_STR, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:value"}
_MAP_TAGS = {None, "!", "tag:yaml.org,2002:map"}
_SEQ_TAGS = {None, "!", "tag:yaml.org,2002:seq"}


@dataclass(frozen=True)
class TaskPack:
    """A valid task pack; `data` has the schema defaults applied, `sha256` pins the file's bytes."""

    id: str
    dir: Path
    file: Path
    data: dict[str, Any] = field(compare=False)
    sha256: str

    @property
    def title(self) -> str:
        return str(self.data["title"])

    @property
    def objective(self) -> str:
        return str(self.data["objective"])

    @property
    def executor(self) -> dict[str, Any]:
        return self.data["executor"]

    @property
    def scope(self) -> dict[str, Any]:
        return self.data["scope"]

    @property
    def acceptance(self) -> list[dict[str, Any]]:
        return self.data["acceptance"]

    @property
    def safety(self) -> dict[str, Any]:
        return self.data["safety"]

    @property
    def limits(self) -> dict[str, int]:
        return self.data["limits"]

    @property
    def plugin_name(self) -> str | None:
        plugin = self.data.get("plugin")
        return plugin["name"] if isinstance(plugin, dict) else plugin

    @property
    def plugin_options(self) -> dict[str, Any]:
        plugin = self.data.get("plugin")
        return dict(plugin.get("options", {})) if isinstance(plugin, dict) else {}

    @property
    def context(self) -> list[str]:
        return list(self.data.get("context", []))


# --------------------------------------------------------------------------- YAML


class _Refuse(Exception):
    """Stops building a document at the first defect that makes the rest meaningless."""

    def __init__(self, line: int, column: int, field: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.where = (line, column)
        self.field, self.message, self.hint = field, message, hint


@dataclass
class Document:
    """The data of one YAML file plus the 1-based (line, column) of every value and key in it."""

    data: Any
    marks: dict[Path_, tuple[int, int]]
    key_marks: dict[Path_, tuple[int, int]]

    def mark(self, path: Path_) -> tuple[int, int]:
        """The node at `path`, or its nearest ancestor that has a mark (inside an expanded alias)."""
        for end in range(len(path), -1, -1):
            found = self.marks.get(path[:end])
            if found:
                return found
        return (1, 1)

    def key_mark(self, path: Path_) -> tuple[int, int]:
        return self.key_marks.get(path) or self.mark(path)


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def _scalar(event: Any, where: tuple[int, int], path: Path_) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit) if tag is None else _STR
    if tag in _AS_TEXT:
        return event.value
    build = _PLAIN_TAGS.get(tag)
    if build is None:
        if tag == "tag:yaml.org,2002:merge":
            raise _Refuse(
                *where,
                field_path(path),
                "YAML merge keys (<<) are not supported in task packs",
                "write the keys out in full",
            )
        raise _Refuse(
            *where,
            field_path(path),
            f"unsupported YAML tag {tag}",
            "remove the tag; task packs hold plain strings, numbers, booleans, lists and mappings",
        )
    try:
        return build(yaml.ScalarNode(tag, event.value))
    except (ValueError, yaml.YAMLError) as exc:
        raise _Refuse(
            *where,
            field_path(path),
            f"cannot read {event.value!r} as {tag.rsplit(':', 1)[-1]}: {exc}",
            "quote the value or correct it",
        ) from None


def _yaml_hint(text: str, line: int, problem: str) -> str:
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    if "\t" in source[: len(source) - len(source.lstrip())] or "\\t" in problem or "tab" in problem:
        return "indent with spaces; YAML does not allow tabs for indentation"
    if "mapping values are not allowed" in problem:
        return "quote a value that contains ': ', or fix the indentation of this line"
    if "could not find expected ':'" in problem or "expected <block end>" in problem:
        return "check the indentation, and that every key ends with ':'"
    if "did not find expected ',' or" in problem:
        return "close the list with ']' or the mapping with '}', and separate entries with ','"
    if "found undefined alias" in problem or "found undefined anchor" in problem:
        return "define the anchor (&name) before using the alias (*name)"
    return "fix the YAML syntax at this position"


def _events(text: str) -> Any:
    """The parser's events, pulled directly (yaml.parse adds a check_event call per event)."""
    loader = _Parser(text)
    try:
        get = loader.get_event
        while (event := get()) is not None:
            yield event
    finally:
        loader.dispose()


def parse_yaml(text: str) -> Document:
    """Builds data from YAML text, or raises _Refuse (syntax, duplicate key, alias bomb, ...)."""
    try:
        return _build(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = _pos(mark) if mark else (1, 1)
        problem = (exc.problem or "invalid YAML").strip()
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" started at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
        message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
        raise _Refuse(line, column, "(yaml)", message, _yaml_hint(text, line, problem)) from None
    except yaml.YAMLError as exc:
        raise _Refuse(1, 1, "(yaml)", f"YAML error: {exc}", "fix the YAML syntax") from None


def _build(text: str) -> Document:
    """One state machine over the events; a stack of open containers instead of recursion."""
    marks: dict[Path_, tuple[int, int]] = {}
    key_marks: dict[Path_, tuple[int, int]] = {}
    anchors: dict[str, tuple[Any, int]] = {}
    # frame: [container, path, pending key (maps), key position, nodes at start, anchor]
    stack: list[list[Any]] = []
    root: list[Any] = []
    nodes = aliases = documents = 0

    def place(value: Any, where: tuple[int, int]) -> Path_:
        """Puts a finished or starting value into its parent; returns the value's path."""
        if not stack:
            root.append(value)
            return ()
        frame = stack[-1]
        container, parent = frame[0], frame[1]
        if isinstance(container, list):
            container.append(value)
            return (*parent, len(container) - 1)
        if frame[2] is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise _Refuse(
                    *where,
                    field_path(parent),
                    "a mapping or list cannot be a key",
                    "use a plain string as the key",
                )
            if not isinstance(value, str):
                raise _Refuse(
                    *where,
                    field_path(parent),
                    f"key {value!r} is not a string",
                    f"quote it: '{value}' (YAML reads unquoted yes/no/on/off/numbers as other types)"
                    if value is not None
                    else "give the key a name",
                )
            if value in container:
                first = key_marks.get((*parent, value), where)
                raise _Refuse(
                    *where,
                    field_path((*parent, value)),
                    f"duplicate key '{value}' (first defined at line {first[0]})",
                    "keep one of the two entries",
                )
            frame[2], frame[3] = value, where
            key_marks[(*parent, value)] = where
            return (*parent, value)
        key = frame[2]
        container[key] = value
        frame[2] = _NO_KEY
        return (*parent, key)

    def next_path() -> Path_:
        if not stack:
            return ()
        container, parent, key = stack[-1][0], stack[-1][1], stack[-1][2]
        if isinstance(container, list):
            return (*parent, len(container))
        return (*parent, key) if key is not _NO_KEY else parent

    for event in _events(text):
        kind = type(event)
        if kind is yaml.ScalarEvent or kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            nodes += 1
            where = _pos(event.start_mark)
            if nodes > MAX_NODES:
                raise _Refuse(
                    *where,
                    "(yaml)",
                    f"more than {MAX_NODES} YAML nodes (after alias expansion)",
                    "a task pack is small; remove repeated aliases or split the work into several packs",
                )
        if kind is yaml.ScalarEvent:
            path = next_path()
            is_key = bool(stack) and isinstance(stack[-1][0], dict) and stack[-1][2] is _NO_KEY
            value = _scalar(event, where, path)
            if is_key and value is not None and not isinstance(value, str):
                raise _Refuse(
                    *where,
                    field_path((*path, event.value)),
                    f"key '{event.value}' is read as {_type_name(value)}, not a string",
                    f"quote it: '{event.value}' (YAML 1.1 reads unquoted yes/no/on/off and numbers "
                    "as other types)",
                )
            path = place(value, where)
            if not is_key:
                marks[path] = where
            if event.anchor:
                anchors[event.anchor] = (value, 1)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            is_map = kind is yaml.MappingStartEvent
            if event.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
                raise _Refuse(
                    *where,
                    field_path(next_path()),
                    f"unsupported YAML tag {event.tag}",
                    "remove the tag; task packs hold plain lists and mappings",
                )
            if len(stack) >= MAX_DEPTH:
                raise _Refuse(
                    *where,
                    field_path(next_path()[:4]) + "...",
                    f"nested deeper than {MAX_DEPTH} levels",
                    "flatten the structure",
                )
            container: dict[str, Any] | list[Any] = {} if is_map else []
            path = place(container, where)
            marks[path] = where
            stack.append([container, path, _NO_KEY, None, nodes, event.anchor])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            frame = stack.pop()
            if frame[5]:
                anchors[frame[5]] = (frame[0], nodes - frame[4] + 1)
        elif kind is yaml.AliasEvent:
            where = _pos(event.start_mark)
            aliases += 1
            path = next_path()
            if aliases > MAX_ALIASES:
                raise _Refuse(
                    *where,
                    field_path(path),
                    f"more than {MAX_ALIASES} YAML aliases; refused before expansion",
                    "write the values out, or use far fewer anchors and aliases",
                )
            if event.anchor not in anchors:
                raise _Refuse(
                    *where,
                    field_path(path),
                    f"alias *{event.anchor} refers to no finished anchor",
                    f"define &{event.anchor} before this line (an anchor cannot contain its own alias)",
                )
            value, size = anchors[event.anchor]
            nodes += size
            if nodes > MAX_NODES:
                raise _Refuse(
                    *where,
                    field_path(path),
                    f"alias *{event.anchor} would expand to more than {MAX_NODES} YAML nodes; refused before expansion",
                    "remove the nested aliases (this is the shape of an alias bomb)",
                )
            is_key = bool(stack) and isinstance(stack[-1][0], dict) and stack[-1][2] is _NO_KEY
            path = place(value, where)
            if not is_key:
                marks[path] = where
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _Refuse(
                    *_pos(event.start_mark),
                    "(yaml)",
                    "more than one YAML document in the file",
                    "keep one document: remove the second '---' and what follows it",
                )
    return Document(root[0] if root else None, marks, key_marks)


_NO_KEY = object()


# --------------------------------------------------------------------------- problems


def field_path(path: Path_) -> str:
    """`acceptance[1].expect_exit` style: how a person names a field."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0].strip()
    return head.rstrip(".")


@cache
def _schema_index() -> dict[Path_, dict[str, Any]]:
    """Subschemas by instance path (list indices as 0), for hints that quote a field's description."""
    index: dict[Path_, dict[str, Any]] = {}

    def walk(schema: Any, path: Path_) -> None:
        if not isinstance(schema, dict):
            return
        index.setdefault(path, schema)
        for key, sub in schema.get("properties", {}).items():
            walk(sub, (*path, key))
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], (*path, 0))

    walk(load(SCHEMA), ())
    return index


def _describe(path: Path_) -> str:
    generic = tuple(0 if isinstance(p, int) else p for p in path)
    schema = _schema_index().get(generic, {})
    return _first_sentence(schema.get("description", ""))


def _allowed_keys(schema: dict[str, Any], path: Path_) -> list[str]:
    generic = tuple(0 if isinstance(p, int) else p for p in path)
    full = _schema_index().get(generic, schema)
    return sorted(full.get("properties", schema.get("properties", {})))


def _at(value: Any, path: Path_) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null (empty)"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


_TYPE_HINTS = {
    "integer": "write a whole number without quotes",
    "string": "write text; quote it if YAML reads it as something else",
    "array": "write a list: one '- item' per line, or [a, b]",
    "object": "write a mapping of 'key: value' lines",
}
_PATTERNS = {
    SLUG.pattern: (
        "is not a slug",
        "use lowercase letters, digits and '-', starting with a letter or digit (e.g. add-slugify)",
    ),
    "^(@[a-z][a-z0-9-]{0,30}|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(:[0-9]{1,5})?)$": (
        "is not a host name",
        (
            "write the bare host, optionally with a port (pypi.org, example.com:8443), or a preset "
            "such as @python"
        ),
    ),
    "^[A-Z_][A-Z0-9_]*$": (
        "is not an environment variable name",
        "write the variable's NAME (e.g. LOCAL_API_KEY)",
    ),
    "^https?://[^\\s]+$": ("is not an http(s) URL", "write e.g. http://127.0.0.1:8080/v1"),
    "^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$": ("is not a valid name", "use letters, digits, '_' and '-'"),
}


def _problems_from_error(error: ValidationError, doc: Document, display: str) -> list[Problem]:
    path: Path_ = tuple(error.absolute_path)
    keyword = error.validator
    value = error.instance
    line, column = doc.mark(path)

    def problem(p: Path_, where: tuple[int, int], message: str, hint: str) -> Problem:
        return Problem(display, where[0], where[1], field_path(p), message, hint)

    if keyword == "required":
        found = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        out = []
        for key in found:
            desc = _describe((*path, key))
            hint = f"add '{key}:'" + (f" - {desc}" if desc else "")
            out.append(problem((*path, key), (line, column), "is missing (required)", hint))
        return out
    if keyword == "additionalProperties":
        allowed = _allowed_keys(error.schema, path)
        out = []
        for key in value:
            if key in error.schema.get("properties", {}):
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys here: {', '.join(allowed)}"
            out.append(problem((*path, key), doc.key_mark((*path, key)), f"unknown key '{key}'", hint))
        return out
    if keyword is None:  # a `false` subschema: a key this variant does not take (jsonschema omits the key)
        parent = _at(doc.data, path)
        props = _at(load(SCHEMA), tuple(error.schema_path))
        if not isinstance(parent, dict) or not isinstance(props, dict):
            return [problem(path, (line, column), error.message, "remove it")]
        kind = parent.get("kind")
        what = f"is not used by executor kind '{kind}'" if path == ("executor",) else "is not allowed here"
        return [
            problem((*path, key), doc.key_mark((*path, key)), what, "remove it, or change executor.kind")
            for key, sub in props.items()
            if sub is False and key in parent
        ]
    if keyword == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        shown = " or ".join(
            {"array": "a list", "object": "a mapping", "integer": "an integer", "string": "a string"}.get(
                n, n
            )
            for n in names
        )
        hint = _TYPE_HINTS.get(names[0], f"write {shown}") if len(names) == 1 else f"write {shown}"
        if path == ("plugin",):
            hint = "write a solution name (plugin: security) or a mapping {name: security, options: {...}}"
        return [problem(path, (line, column), f"must be {shown}, not {_type_name(value)}", hint)]
    if keyword == "enum":
        allowed = [str(v) for v in error.validator_value]
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"use one of: {', '.join(allowed)}"
        return [problem(path, (line, column), f"{value!r} is not an allowed value", hint)]
    if keyword == "const":
        const = error.validator_value
        return [
            problem(
                path,
                (line, column),
                f"must be '{const}', not {value!r}",
                f"write {field_path(path)}: {const}",
            )
        ]
    if keyword == "pattern":
        what, hint = _PATTERNS.get(error.validator_value, ("is not valid", f"match {error.validator_value}"))
        return [problem(path, (line, column), f"{value!r} {what}", hint)]
    if keyword in ("minimum", "maximum"):
        word = "at least" if keyword == "minimum" else "at most"
        return [
            problem(
                path,
                (line, column),
                f"must be {word} {error.validator_value}, not {value!r}",
                f"use a whole number {word} {error.validator_value}",
            )
        ]
    if keyword == "minItems":
        n = error.validator_value
        desc = _describe(path)
        return [
            problem(
                path,
                (line, column),
                f"must have at least {n} item{'s' if n != 1 else ''}, has {len(value)}",
                f"add an entry ({desc})" if desc else "add an entry",
            )
        ]
    if keyword == "minLength":
        return [
            problem(
                path,
                (line, column),
                "must not be empty",
                "write a value, or remove the key if it is optional",
            )
        ]
    if keyword == "maxLength":
        return [
            problem(path, (line, column), f"is longer than {error.validator_value} characters", "shorten it")
        ]
    if keyword == "uniqueItems":
        return [problem(path, (line, column), "has duplicate entries", "list each entry once")]
    return [problem(path, (line, column), error.message, "see orchestrator/schemas/taskpack.v1.md")]


# --------------------------------------------------------------------------- semantics


def _semantic_problems(
    data: dict[str, Any], doc: Document, display: str, file: Path, repo: Path
) -> list[Problem]:
    out: list[Problem] = []

    def add(path: Path_, message: str, hint: str, *, key: bool = False) -> None:
        line, column = doc.key_mark(path) if key else doc.mark(path)
        out.append(Problem(display, line, column, field_path(path), message, hint))

    for path, message, hint in option_problems(repo, data):
        add(path, message, hint)

    task_id = data.get("id")
    if isinstance(task_id, str) and SLUG.match(task_id) and not SLUG.fullmatch(task_id):  # "id\n" passes `$`
        add(
            ("id",),
            f"{task_id!r} is not a slug (a line break or other character after it)",
            "use lowercase letters, digits and '-' only",
        )
    elif isinstance(task_id, str) and task_id != file.parent.name:
        add(
            ("id",),
            f"'{task_id}' differs from the pack's directory name '{file.parent.name}'",
            f"set id: {file.parent.name}, or rename the directory to {task_id}/",
        )

    acceptance = data.get("acceptance")
    if isinstance(acceptance, list):
        seen: dict[str, int] = {}
        for index, check in enumerate(acceptance):
            check_id = check.get("id") if isinstance(check, dict) else None
            if not isinstance(check_id, str):
                continue
            if check_id in seen:
                add(
                    ("acceptance", index, "id"),
                    f"duplicate acceptance id '{check_id}' (also acceptance[{seen[check_id]}])",
                    "give every acceptance check its own id",
                )
            else:
                seen[check_id] = index

    scope = data.get("scope")
    if isinstance(scope, dict):
        for name in ("allowed_paths", "forbidden_paths"):
            patterns = scope.get(name)
            if not isinstance(patterns, list):
                continue
            for index, pattern in enumerate(patterns):
                if not isinstance(pattern, str) or not pattern:
                    continue
                try:
                    glob_to_regex(pattern)
                except GlobError as exc:
                    what, _, how = str(exc).partition("; ")
                    add(("scope", name, index), f"glob {pattern!r} {what}", how or "fix the glob")

    context = data.get("context")
    if isinstance(context, list):
        root = _resolved(repo)
        for index, entry in enumerate(context):
            if not isinstance(entry, str) or not entry:
                continue
            try:
                check_relative(entry)
            except GlobError as exc:
                what, _, how = str(exc).partition("; ")
                add(("context", index), f"path {entry!r} {what}", how or "fix the path")
                continue
            target = root / entry
            if not target.resolve().is_relative_to(root):
                add(
                    ("context", index),
                    f"path {entry!r} leads outside the repository (through a symlink)",
                    "point to a file inside the repository",
                )
            elif not target.is_file():
                add(
                    ("context", index),
                    f"file {entry!r} does not exist",
                    f"create it, or fix the path (context paths are relative to the repository root, "
                    f"e.g. {TASKPACKS}/{file.parent.name}/notes.md)",
                )

    for section in ("safety", "environment"):
        block = data.get(section)
        network = block.get("network") if isinstance(block, dict) else None
        hosts = network.get("hosts") if isinstance(network, dict) else None
        for index, entry in enumerate(hosts if isinstance(hosts, list) else []):
            if not isinstance(entry, str):
                continue
            if entry.startswith("@"):
                if entry[1:] not in presets():
                    add(
                        (section, "network", "hosts", index),
                        f"unknown preset {entry!r}",
                        "use one of " + ", ".join(f"@{name}" for name in sorted(presets())),
                    )
            elif "/" not in entry and (
                why := host_problem(entry)
            ):  # a URL already fails the schema's pattern
                add(
                    (section, "network", "hosts", index),
                    why,
                    "declare a host name (pypi.org), or an address as a canonical dotted quad (127.0.0.1:8080)",
                )

    executor = data.get("executor")
    if isinstance(executor, dict):
        prompt = executor.get("prompt")
        if isinstance(prompt, str) and ("{{" in prompt or "{%" in prompt):
            from jinja2 import Environment, TemplateSyntaxError

            try:
                Environment().parse(prompt)
            except TemplateSyntaxError as exc:
                add(
                    ("executor", "prompt"),
                    f"prompt template error on its line {exc.lineno}: {exc.message}",
                    "fix the Jinja syntax ({{ task.objective }}, {% if ... %}...{% endif %})",
                )
        argv = executor.get("argv")
        if (
            executor.get("prompt_via") == "arg"
            and isinstance(argv, list)
            and not any(isinstance(a, str) and "{prompt}" in a for a in argv)
        ):
            add(
                ("executor", "prompt_via"),
                "is 'arg' but no argv entry contains {prompt}",
                "put {prompt} where the prompt belongs in argv, or use prompt_via: stdin",
            )
    return out


# --------------------------------------------------------------------------- defaults


@cache
def _if_validator(key: str) -> Any:
    return Draft202012Validator(_branches()[key])


@cache
def _branches() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(schema: Any, where: str) -> None:
        if not isinstance(schema, dict):
            return
        for index, branch in enumerate(schema.get("allOf", [])):
            if isinstance(branch, dict) and "if" in branch:
                found[f"{where}/allOf/{index}"] = branch["if"]
        for key, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}/properties/{key}")
        walk(schema.get("items"), f"{where}/items")

    walk(load(SCHEMA), "")
    return found


def _matches(key: str, condition: dict[str, Any], value: dict[str, Any]) -> bool:
    """`if` of the form {properties: {k: {const: v}}, required: [k]} checked directly; others by jsonschema."""
    props = condition.get("properties", {})
    if set(condition) <= {"properties", "required"} and all(
        isinstance(s, dict) and set(s) == {"const"} for s in props.values()
    ):
        return all(k in value for k in condition.get("required", [])) and all(
            k not in value or value[k] == s["const"] for k, s in props.items()
        )
    return bool(_if_validator(key).is_valid(value))


def apply_defaults(schema: dict[str, Any], value: Any, where: str = "") -> None:
    """Fills in the schema's `default`s (also those of matching if/then branches), in place."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if isinstance(sub, dict) and key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        for key, sub in properties.items():
            if key in value and isinstance(sub, dict):
                apply_defaults(sub, value[key], f"{where}/properties/{key}")
        for index, branch in enumerate(schema.get("allOf", [])):
            key = f"{where}/allOf/{index}"
            if isinstance(branch, dict) and "if" in branch and _matches(key, branch["if"], value):
                apply_defaults(branch.get("then", {}), value, where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(schema["items"], item, f"{where}/items")


# --------------------------------------------------------------------------- loading


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
    except _Refuse as exc:
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
            f"the task pack must be a mapping of keys, not {_type_name(data)}",
            "write 'schema: taskpack/v1', 'id: ...' and the other keys at the top level, without '- '",
        )

    problems: set[Problem] = set()
    for error in validator(SCHEMA).iter_errors(data):
        problems.update(_problems_from_error(error, doc, display))
    problems.update(_semantic_problems(data, doc, display, file, repo))
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


@dataclass(frozen=True)
class Checked:
    """The outcome of checking several refs: the valid packs, and every problem of the rest."""

    packs: list[TaskPack]
    problems: list[Problem]
    bad: int


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

"""YAML with marks: the data of a task pack plus the line and column of every value and key.

The YAML is read from the event stream of the (C, when available) safe parser and
turned into data by an iterative builder that records the mark of every node. That
is one pass with no recursion (deep nesting cannot crash the interpreter), and it
lets the builder refuse alias bombs *before* anything is expanded: aliases, total
(expanded) nodes and nesting depth are counted as events arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

MAX_ALIASES = 100
MAX_NODES = 10_000
"""Nodes after alias expansion: far above any real pack, far below what hurts memory."""
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]
Mark = tuple[int, int]
"""1-based (line, column)."""

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS: dict[str, Callable[[yaml.ScalarNode], Any]] = {
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
}
_AS_TEXT = {_STR, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:value"}
_MAP_TAGS = {None, "!", "tag:yaml.org,2002:map"}
_SEQ_TAGS = {None, "!", "tag:yaml.org,2002:seq"}


class Refusal(Exception):
    """Stops building a document at the first defect that makes the rest meaningless."""

    def __init__(self, line: int, column: int, field: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.where = (line, column)
        self.field, self.message, self.hint = field, message, hint


@dataclass
class Document:
    """The data of one YAML file plus the 1-based (line, column) of every value and key in it."""

    data: Any
    marks: dict[Path_, Mark]
    key_marks: dict[Path_, Mark]

    def mark(self, path: Path_) -> Mark:
        """The node at `path`, or its nearest ancestor that has a mark (inside an expanded alias)."""
        for end in range(len(path), -1, -1):
            found = self.marks.get(path[:end])
            if found:
                return found
        return (1, 1)

    def key_mark(self, path: Path_) -> Mark:
        return self.key_marks.get(path) or self.mark(path)


def field_path(path: Path_) -> str:
    """`acceptance[1].expect_exit` style: how a person names a field."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def type_name(value: Any) -> str:
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


def _pos(mark: Any) -> Mark:
    return (mark.line + 1, mark.column + 1)


def _resolve_tag(event: yaml.ScalarEvent) -> str:
    # The stubs leave Resolver.resolve unannotated; it returns the implicit tag of a plain scalar.
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    return tag


def _scalar(event: yaml.ScalarEvent, where: Mark, path: Path_) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = _resolve_tag(event) if tag is None else _STR
    if tag in _AS_TEXT:
        return event.value
    build = _PLAIN_TAGS.get(tag)
    if build is None:
        if tag == "tag:yaml.org,2002:merge":
            raise Refusal(
                *where,
                field_path(path),
                "YAML merge keys (<<) are not supported in task packs",
                "write the keys out in full",
            )
        raise Refusal(
            *where,
            field_path(path),
            f"unsupported YAML tag {tag}",
            "remove the tag; task packs hold plain strings, numbers, booleans, lists and mappings",
        )
    try:
        return build(yaml.ScalarNode(tag, event.value))
    except (ValueError, yaml.YAMLError) as exc:
        raise Refusal(
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


def _events(text: str) -> Iterator[yaml.Event]:
    """The parser's events, pulled directly (yaml.parse adds a check_event call per event)."""
    loader = _Parser(text)
    try:
        get = loader.get_event
        while (event := get()) is not None:
            yield event
    finally:
        loader.dispose()


def parse_yaml(text: str) -> Document:
    """Builds data from YAML text, or raises Refusal (syntax, duplicate key, alias bomb, ...)."""
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
        raise Refusal(line, column, "(yaml)", message, _yaml_hint(text, line, problem)) from None
    except yaml.YAMLError as exc:
        raise Refusal(1, 1, "(yaml)", f"YAML error: {exc}", "fix the YAML syntax") from None


@dataclass(slots=True)
class _Frame:
    """An open mapping or list: where it sits, and (for a mapping) the key awaiting its value."""

    container: dict[str, Any] | list[Any]
    path: Path_
    nodes: int
    """Nodes counted when it opened, so an anchor on it knows its expanded size."""
    anchor: str | None
    key: str | None = None


def _key_problem(value: Any, parent: Path_, where: Mark) -> Refusal:
    if isinstance(value, (dict, list)):
        return Refusal(
            *where, field_path(parent), "a mapping or list cannot be a key", "use a plain string as the key"
        )
    return Refusal(
        *where,
        field_path(parent),
        f"key {value!r} is not a string",
        f"quote it: '{value}' (YAML reads unquoted yes/no/on/off/numbers as other types)"
        if value is not None
        else "give the key a name",
    )


def _build(text: str) -> Document:
    """One state machine over the events; a stack of open containers instead of recursion."""
    marks: dict[Path_, Mark] = {}
    key_marks: dict[Path_, Mark] = {}
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    root: list[Any] = []
    nodes = aliases = documents = 0

    def place(value: Any, where: Mark) -> Path_:
        """Puts a finished or starting value into its parent; returns the value's path."""
        if not stack:
            root.append(value)
            return ()
        frame = stack[-1]
        container, parent = frame.container, frame.path
        if isinstance(container, list):
            container.append(value)
            return (*parent, len(container) - 1)
        if frame.key is None:
            if not isinstance(value, str):
                raise _key_problem(value, parent, where)
            if value in container:
                first = key_marks.get((*parent, value), where)
                raise Refusal(
                    *where,
                    field_path((*parent, value)),
                    f"duplicate key '{value}' (first defined at line {first[0]})",
                    "keep one of the two entries",
                )
            frame.key = value
            key_marks[(*parent, value)] = where
            return (*parent, value)
        key = frame.key
        container[key] = value
        frame.key = None
        return (*parent, key)

    def next_path() -> Path_:
        if not stack:
            return ()
        frame = stack[-1]
        if isinstance(frame.container, list):
            return (*frame.path, len(frame.container))
        return (*frame.path, frame.key) if frame.key is not None else frame.path

    def is_key() -> bool:
        return bool(stack) and isinstance(stack[-1].container, dict) and stack[-1].key is None

    for event in _events(text):
        if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            nodes += 1
            where = _pos(event.start_mark)
            if nodes > MAX_NODES:
                raise Refusal(
                    *where,
                    "(yaml)",
                    f"more than {MAX_NODES} YAML nodes (after alias expansion)",
                    "a task pack is small; remove repeated aliases or split the work into several packs",
                )
        if isinstance(event, yaml.ScalarEvent):
            path = next_path()
            as_key = is_key()
            value = _scalar(event, where, path)
            if as_key and value is not None and not isinstance(value, str):
                raise Refusal(
                    *where,
                    field_path((*path, event.value)),
                    f"key '{event.value}' is read as {type_name(value)}, not a string",
                    f"quote it: '{event.value}' (YAML 1.1 reads unquoted yes/no/on/off and numbers "
                    "as other types)",
                )
            path = place(value, where)
            if not as_key:
                marks[path] = where
            if event.anchor:
                anchors[event.anchor] = (value, 1)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            is_map = isinstance(event, yaml.MappingStartEvent)
            if event.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
                raise Refusal(
                    *where,
                    field_path(next_path()),
                    f"unsupported YAML tag {event.tag}",
                    "remove the tag; task packs hold plain lists and mappings",
                )
            if len(stack) >= MAX_DEPTH:
                raise Refusal(
                    *where,
                    field_path(next_path()[:4]) + "...",
                    f"nested deeper than {MAX_DEPTH} levels",
                    "flatten the structure",
                )
            container: dict[str, Any] | list[Any] = {} if is_map else []
            path = place(container, where)
            marks[path] = where
            stack.append(_Frame(container, path, nodes, event.anchor))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            frame = stack.pop()
            if frame.anchor:
                anchors[frame.anchor] = (frame.container, nodes - frame.nodes + 1)
        elif isinstance(event, yaml.AliasEvent):
            where = _pos(event.start_mark)
            aliases += 1
            path = next_path()
            if aliases > MAX_ALIASES:
                raise Refusal(
                    *where,
                    field_path(path),
                    f"more than {MAX_ALIASES} YAML aliases; refused before expansion",
                    "write the values out, or use far fewer anchors and aliases",
                )
            if event.anchor not in anchors:
                raise Refusal(
                    *where,
                    field_path(path),
                    f"alias *{event.anchor} refers to no finished anchor",
                    f"define &{event.anchor} before this line (an anchor cannot contain its own alias)",
                )
            value, size = anchors[event.anchor]
            nodes += size
            if nodes > MAX_NODES:
                raise Refusal(
                    *where,
                    field_path(path),
                    f"alias *{event.anchor} would expand to more than {MAX_NODES} YAML nodes; "
                    "refused before expansion",
                    "remove the nested aliases (this is the shape of an alias bomb)",
                )
            as_key = is_key()
            path = place(value, where)
            if not as_key:
                marks[path] = where
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise Refusal(
                    *_pos(event.start_mark),
                    "(yaml)",
                    "more than one YAML document in the file",
                    "keep one document: remove the second '---' and what follows it",
                )
    return Document(root[0] if root else None, marks, key_marks)

"""Path globs for task pack scopes: one definition, used by validation and by the scope check.

The semantics are fnmatch-like but path-aware, so `src/*` cannot silently reach
`src/a/b`: `*` and `?` stay inside one segment, `**` as a whole segment spans
any number of directories (including none), `[abc]` / `[!abc]` are character
classes, and a trailing `/` means everything below that directory. Patterns are
repository-relative POSIX paths; anything that could point outside the
repository (absolute, `..`, backslashes) is rejected rather than interpreted.
"""

from __future__ import annotations

import re
from functools import lru_cache


class GlobError(ValueError):
    """A pattern that is not a valid scope glob; the message says how to write it instead."""


def check_relative(path: str) -> None:
    """Refuses what could name something outside the repository, for globs and plain paths alike."""
    if not path:
        raise GlobError("is empty; write a repository-relative path such as src/**")
    if "\\" in path:
        raise GlobError("contains a backslash; use forward slashes (src/app/**)")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise GlobError(
            "is absolute; write it relative to the repository root (e.g. src/** instead of /src/**)"
        )
    if path.startswith("~"):
        raise GlobError("starts with ~; write it relative to the repository root")
    segments = path.rstrip("/").split("/")
    if ".." in segments:
        raise GlobError("contains '..'; remove it, paths must stay inside the repository")
    if "" in segments:
        raise GlobError("contains an empty segment (//); remove the doubled slash")
    if "." in segments:
        raise GlobError("contains a '.' segment; drop it (write src/** rather than ./src/**)")


def _segment(segment: str) -> str:
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        if char == "*":
            if segment.startswith("**", i):
                raise GlobError(
                    "uses '**' inside a segment; use '**' as a whole segment (src/**/x.py) or a single '*'"
                )
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            j = i + 1
            if j < n and segment[j] in "!^":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            while j < n and segment[j] != "]":
                j += 1
            if j >= n:
                raise GlobError(
                    "has an unbalanced '['; close the character class with ']' or escape it as [[]"
                )
            body = segment[i + 1 : j]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            escaped = "".join(c if c == "-" else re.escape(c) for c in body)
            out.append(f"[^/{escaped}]" if negate else f"[{escaped}]")
            i = j
        elif char == "]":
            raise GlobError("has an unbalanced ']'; escape a literal bracket as []]")
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compiles a scope glob to a full-match regex; raises GlobError with a fix for bad patterns."""
    check_relative(pattern)
    if pattern.endswith("/"):
        pattern += "**"
    parts = pattern.split("/")
    out: list[str] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment(part) + ("" if last else "/"))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise GlobError(f"is not a valid glob ({exc.msg}); check the character class ranges") from None


def normalize(path: str) -> str:
    """A path as the diff and the scope check see it: POSIX separators, no leading './'."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def match_path(pattern: str, path: str) -> bool:
    """True when the repository-relative `path` is matched by the scope glob `pattern`."""
    return glob_to_regex(pattern).fullmatch(normalize(path)) is not None


def match_any(patterns: list[str] | tuple[str, ...], path: str) -> bool:
    return any(match_path(pattern, path) for pattern in patterns)

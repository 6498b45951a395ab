"""Path globs for task pack scopes: one definition, used by validation and by the scope check.

Matching is wcmatch's `glob` dialect with the flags below: `*` and `?` stay inside one
segment (so `src/*` cannot silently reach `src/a/b`), `**` as a whole segment spans any
number of directories (including none), `[abc]` / `[!abc]` are character classes, and
dotfiles are matched like any other name (though no wildcard matches a `.` or `..`
segment). Braces, extended globs and `!` negation are off, so those characters are
literal. A trailing `/` means everything below that directory. Patterns are
repository-relative POSIX paths; anything that could point outside the repository
(absolute, `..`, backslashes) is refused rather than interpreted, and so is anything
wcmatch would read more leniently than a person expects (`**` inside a segment, an
unbalanced bracket, a reversed range).
"""

from __future__ import annotations

import re
from functools import lru_cache

from wcmatch import glob

FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.CASE | glob.FORCEUNIX
"""`**` spans directories, wildcards match dotfiles, case-sensitive and POSIX on every platform."""


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


def _check_class(body: str) -> None:
    """A class body must be one Python would accept too: no reversed range such as z-a."""
    negate = body[:1] in ("!", "^")
    escaped = "".join(c if c == "-" else re.escape(c) for c in (body[1:] if negate else body))
    try:
        re.compile(f"[{escaped}]")
    except re.error as exc:
        raise GlobError(f"is not a valid glob ({exc.msg}); check the character class ranges") from None


def _classes(segment: str) -> list[str]:
    """The character class bodies of a segment; refuses the shapes wcmatch would take literally or loosely."""
    classes: list[str] = []
    if segment == "**":
        return classes
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        if char == "*" and segment.startswith("**", i):
            raise GlobError(
                "uses '**' inside a segment; use '**' as a whole segment (src/**/x.py) or a single '*'"
            )
        if char == "[":
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
            classes.append(segment[i + 1 : j])
            i = j
        elif char == "]":
            raise GlobError("has an unbalanced ']'; escape a literal bracket as []]")
        i += 1
    return classes


@lru_cache(maxsize=4096)
def scope_glob(pattern: str) -> str:
    """The wcmatch pattern for a scope glob (`docs/` becomes `docs/**`); GlobError with a fix if invalid."""
    check_relative(pattern)
    bodies = [body for segment in pattern.split("/") for body in _classes(segment)]
    for body in bodies:
        _check_class(body)
    return pattern + "**" if pattern.endswith("/") else pattern


@lru_cache(maxsize=4096)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """The full-match regex of a scope glob, as wcmatch translates it; raises GlobError for bad ones."""
    include, _exclude = glob.translate(scope_glob(pattern), flags=FLAGS)
    return re.compile(include[0])


@lru_cache(maxsize=4096)
def matcher(pattern: str) -> glob.WcMatcher[str]:
    """wcmatch's compiled matcher for a scope glob; raises GlobError for bad ones."""
    return glob.compile(scope_glob(pattern), flags=FLAGS)


def normalize(path: str) -> str:
    """A path as the diff and the scope check see it: POSIX separators, no leading './'."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def match_path(pattern: str, path: str) -> bool:
    """True when the repository-relative `path` is matched by the scope glob `pattern`."""
    return matcher(pattern).match(normalize(path))


def match_any(patterns: list[str] | tuple[str, ...], path: str) -> bool:
    return any(match_path(pattern, path) for pattern in patterns)

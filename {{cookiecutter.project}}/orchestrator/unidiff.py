"""A small parser for the `git diff --binary` patches runs keep as `diff.patch`.

The review needs exactly three facts per file: which paths a change touched (both
sides of a rename, deletions included), which lines it added (new-file line
numbers, for secret findings) and how many lines it removed. Anything else in a
patch (modes, index lines, binary payloads) is skipped, so an unusual header can
never hide a path: every `diff --git` header yields a file record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}


@dataclass
class FileDiff:
    """One file of a patch: its old and new path (None for /dev/null) and its changed lines."""

    old_path: str | None = None
    new_path: str | None = None
    binary: bool = False
    symlink: bool = False
    """The new side is a symlink (mode 120000); its one added line is the link target."""
    added: list[tuple[int, str]] = field(default_factory=list)
    """(line number in the new file, text without the leading '+')."""
    removed: list[tuple[int, str]] = field(default_factory=list)
    """(line number in the old file, text without the leading '-')."""

    @property
    def path(self) -> str:
        """The path a reader knows the file by: the new one, or the old one for a deletion."""
        return self.new_path or self.old_path or ""

    @property
    def paths(self) -> list[str]:
        """Every path the change touches (both sides of a rename)."""
        return sorted({p for p in (self.old_path, self.new_path) if p})


def unquote(text: str) -> str:
    """Undoes git's C-style quoting of unusual paths ("a/sp\\303\\251cial name")."""
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        return text
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out.extend(ESCAPES.get(nxt, nxt).encode("utf-8"))
            i += 2
            continue
        out.extend(char.encode("utf-8"))
        i += 1
    return out.decode("utf-8", "replace")


def _strip_prefix(path: str) -> str | None:
    path = unquote(path.rstrip("\t"))
    if path == "/dev/null":
        return None
    if path[:2] in ("a/", "b/"):
        return path[2:]
    return path


def _header_paths(rest: str) -> tuple[str | None, str | None]:
    """Paths from `diff --git <a> <b>`; only a fallback, since names may contain spaces."""
    if rest.startswith('"'):
        end = 1
        while end < len(rest) and rest[end] != '"':
            end += 2 if rest[end] == "\\" else 1
        return _strip_prefix(rest[: end + 1]), _strip_prefix(rest[end + 2 :])
    if rest.startswith("a/") and " b/" in rest:
        half = (len(rest) - 1) // 2
        if rest[half] == " " and rest[2:half] == rest[half + 3 :]:
            return rest[2:half], rest[half + 3 :]
        cut = rest.index(" b/")
        return rest[2:cut], _strip_prefix(rest[cut + 1 :])
    first, _, second = rest.partition(" ")
    return _strip_prefix(first), _strip_prefix(second)


def parse(text: str) -> list[FileDiff]:
    """Every file of the patch, in patch order; tolerant of anything it does not need."""
    files: list[FileDiff] = []
    current: FileDiff | None = None
    old_line = new_line = 0
    old_left = new_left = 0
    in_binary = False
    for raw in text.split("\n"):
        line = raw.removesuffix("\r")
        if line.startswith("diff --git "):
            current = FileDiff()
            current.old_path, current.new_path = _header_paths(line[len("diff --git ") :])
            files.append(current)
            old_left = new_left = 0
            in_binary = False
            continue
        if current is None:
            continue
        if old_left > 0 or new_left > 0:
            if line.startswith("+"):
                current.added.append((new_line, line[1:]))
                new_line += 1
                new_left -= 1
            elif line.startswith("-"):
                current.removed.append((old_line, line[1:]))
                old_line += 1
                old_left -= 1
            elif line.startswith(" ") or line == "":
                old_line += 1
                new_line += 1
                old_left -= 1
                new_left -= 1
            # "\ No newline at end of file" changes nothing
            continue
        if in_binary:
            continue
        match = HUNK.match(line)
        if match:
            old_line, new_line = int(match.group(1)), int(match.group(3))
            old_left = int(match.group(2)) if match.group(2) is not None else 1
            new_left = int(match.group(4)) if match.group(4) is not None else 1
            continue
        if line.startswith("--- "):
            current.old_path = _strip_prefix(line[4:])
        elif line.startswith("+++ "):
            current.new_path = _strip_prefix(line[4:])
        elif line.startswith(("rename from ", "copy from ")):
            current.old_path = unquote(line.split(" ", 2)[2])
        elif line.startswith(("rename to ", "copy to ")):
            current.new_path = unquote(line.split(" ", 2)[2])
        elif line.startswith("new file mode"):
            current.old_path = None
            current.symlink = line.endswith(" 120000")
        elif line.startswith("new mode"):
            current.symlink = line.endswith(" 120000")
        elif line.startswith("deleted file mode"):
            current.new_path = None
        elif line == "GIT binary patch" or (line.startswith("Binary files ") and line.endswith(" differ")):
            current.binary = True
            in_binary = line == "GIT binary patch"
    return files


def changed_paths(files: list[FileDiff]) -> list[str]:
    return sorted({p for f in files for p in f.paths})

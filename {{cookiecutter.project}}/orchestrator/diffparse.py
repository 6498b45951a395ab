"""The review's reading of the `git diff --binary` patches runs keep as `diff.patch`.

The `unidiff` package parses the patch; this adapter reduces each of its files to the
three facts the review needs: which paths a change touched (both sides of a rename,
deletions included), which lines it added (new-file line numbers, for secret findings)
and which it removed. Two things `unidiff` leaves to its caller are done here: git's
C-style quoting of unusual paths (`"a/\\303\\274.txt"`) is undone, and a path containing
` b/` is read from the header's two equal halves, since a `diff --git a/x b/y b/x b/y`
line cannot be split by a pattern alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from unidiff.constants import DEV_NULL, SYMLINK_FILE_MODE
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchedFile, PatchSet

ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
OCTAL = re.compile(r"[0-7]{3}")
HEADER = "diff --git "
RENAMES = ("rename from ", "copy from ", "rename to ", "copy to ")


class DiffError(ValueError):
    """The patch is not one `unidiff` can read (a hunk shorter or longer than its header says)."""


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
            if OCTAL.fullmatch(body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out.extend(ESCAPES.get(body[i + 1], body[i + 1]).encode("utf-8"))
            i += 2
            continue
        out.extend(char.encode("utf-8"))
        i += 1
    return out.decode("utf-8", "replace")


def _strip_prefix(path: str) -> str:
    path = unquote(path)
    return path[2:] if path[:2] in ("a/", "b/") else path


def _text(line: str) -> str:
    return line.removesuffix("\n").removesuffix("\r")


def _same_path(header: str) -> str | None:
    """The path of `diff --git a/P b/P` (quoted or not), when both halves name the same file."""
    rest = _text(header).removeprefix(HEADER)
    half = len(rest) // 2
    left, right = rest[:half], rest[half + 1 :]
    if rest[half : half + 1] == " " and left.replace("a/", "b/", 1) == right:
        return _strip_prefix(left)
    return None


def _paths(item: PatchedFile) -> tuple[str | None, str | None]:
    """(old, new): from `rename`/`copy` lines when git wrote them, else from the header."""
    info = [_text(line) for line in item.patch_info or []]
    moves = {
        prefix: unquote(line[len(prefix) :]) for line in info for prefix in RENAMES if line.startswith(prefix)
    }
    old = moves.get("rename from ", moves.get("copy from "))
    new = moves.get("rename to ", moves.get("copy to "))
    same = _same_path(info[0]) if info and info[0].startswith(HEADER) else None
    old = old or same or _strip_prefix(item.source_file)
    new = new or same or _strip_prefix(item.target_file)
    return (
        None if item.source_file == DEV_NULL else old,
        None if item.target_file == DEV_NULL else new,
    )


def _file(item: PatchedFile) -> FileDiff:
    old, new = _paths(item)
    lines = [line for hunk in item for line in hunk]
    return FileDiff(
        old_path=old,
        new_path=new,
        binary=item.is_binary_file,
        symlink=new is not None and item.target_mode == SYMLINK_FILE_MODE,
        added=[(int(x.target_line_no or 0), _text(x.value)) for x in lines if x.is_added],
        removed=[(int(x.source_line_no or 0), _text(x.value)) for x in lines if x.is_removed],
    )


def parse(text: str) -> list[FileDiff]:
    """Every file of the patch, in patch order; DiffError when `unidiff` cannot read it."""
    try:
        patch = PatchSet(text)
    except UnidiffParseError as error:
        raise DiffError("diff.patch cannot be parsed: a hunk does not match its header") from error
    return [_file(item) for item in patch]


def changed_paths(files: list[FileDiff]) -> list[str]:
    return sorted({p for f in files for p in f.paths})

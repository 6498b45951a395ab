"""The review's reading of the `git diff --binary` patches runs keep as `diff.patch`.

The `unidiff` package parses the patch; this adapter reduces each of its files to the
three facts the review needs: which paths a change touched (both sides of a rename,
deletions included), which lines it added (new-file line numbers, for secret findings)
and which it removed. Two things `unidiff` leaves to its caller are done here: git's
C-style quoting of unusual paths (`"a/\\303\\274.txt"`) is undone, and a header naming a
path with ` b/` in it (`diff --git a/x b/y b/x b/y`, which no pattern can split) is handed
to `unidiff` with its paths quoted, as git itself quotes unusual bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from unidiff.constants import DEV_NULL, SYMLINK_FILE_MODE
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchedFile, PatchSet

ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
OCTAL = re.compile(r"[0-7]{3}")
HEADER = "diff --git "
HEADER_END = ("@@ ", HEADER, "GIT binary patch", "Binary files ")
"""Lines that end a file's header block (its paths, modes, `rename` and `---`/`+++` lines)."""
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


def _moves(info: list[str]) -> tuple[str | None, str | None]:
    """(old, new) from a header's `rename from`/`rename to` (or `copy`) lines; None where there are none."""
    moves = {
        prefix: unquote(line[len(prefix) :]) for line in info for prefix in RENAMES if line.startswith(prefix)
    }
    return moves.get("rename from ", moves.get("copy from ")), moves.get("rename to ", moves.get("copy to "))


def _quote(path: str) -> str:
    """`path` in git's quoted form with every byte outside printable ASCII, the space among them, as octal."""
    safe = (chr(b) if 0x20 < b < 0x7F and b not in b'"\\' else f"\\{b:03o}" for b in path.encode("utf-8"))
    return '"' + "".join(safe) + '"'


def _requoted(block: list[str]) -> list[str]:
    """A header block whose `diff --git` line is ambiguous, with its paths (taken from the `rename`/`copy`,
    `---`/`+++` lines, else the header's two equal halves) quoted in it and in its `---`/`+++` lines."""
    if not block:
        return block
    info = [_text(line) for line in block]
    old, new = _moves(info)
    sides = {t[:4]: t[4:].rstrip("\t") for t in info[1:] if t.startswith(("--- ", "+++ "))}
    same = _same_path(info[0])
    old = old or (_strip_prefix(sides["--- "]) if sides.get("--- ", DEV_NULL) != DEV_NULL else same)
    new = new or (_strip_prefix(sides["+++ "]) if sides.get("+++ ", DEV_NULL) != DEV_NULL else same)
    if old is None or new is None:
        return block  # not a header git writes: unidiff judges it as it is
    quoted = {"--- ": _quote("a/" + old), "+++ ": _quote("b/" + new)}
    out = [f"{HEADER}{quoted['--- ']} {quoted['+++ ']}\n"]
    for line, text in zip(block[1:], info[1:], strict=True):
        prefix = text[:4]
        keep = prefix not in quoted or text[4:].rstrip("\t") == DEV_NULL
        out.append(line if keep else f"{prefix}{quoted[prefix]}\n")
    return out


def _lines(text: str) -> Iterator[str]:
    """The patch's lines as `unidiff` reads them (split at `\\n` only), ambiguous headers requoted.

    A header is ambiguous when a path holds ` b/`: `unidiff` splits `diff --git` at the last one.
    A line starting `diff --git ` is always a header: no hunk line or binary payload line can."""
    block: list[str] = []
    for line in io.StringIO(text):
        if block and not line.startswith(HEADER_END):
            block.append(line)
            continue
        yield from _requoted(block)
        block = []
        if line.startswith(HEADER) and line.count(" b/") + line.count(' "b/') > 1:
            block = [line]
        else:
            yield line
    yield from _requoted(block)


def _paths(item: PatchedFile) -> tuple[str | None, str | None]:
    """(old, new): from `rename`/`copy` lines when git wrote them, else from the header."""
    old, new = _moves([_text(line) for line in item.patch_info or []])
    old = old or _strip_prefix(item.source_file)
    new = new or _strip_prefix(item.target_file)
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
        patch = PatchSet(_lines(text))
    except UnidiffParseError as error:
        raise DiffError("diff.patch cannot be parsed: a hunk does not match its header") from error
    return [_file(item) for item in patch]


def changed_paths(files: list[FileDiff]) -> list[str]:
    return sorted({p for f in files for p in f.paths})

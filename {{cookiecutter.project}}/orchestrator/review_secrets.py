"""What the review's `secrets` check looks at: added lines, new paths and binary files.

Pure functions over what `review.load_inputs` read, returning hits as
(file, line, rule, message, level) for the review to turn into findings; plus the one
reader, `binary_strings`, which takes a binary file's bytes from the change's git tree
(never from the workspace), checks their size before reading, and masks the known
secret values in them, so the review itself never sees or stores a secret.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from orchestrator import gitops
from orchestrator.redact import MASK, Redactor, scan_strings, scan_text_for_secrets

Hit = tuple[str, int, str, str, str]
"""(file, line, rule, message, level), the arguments of `review.finding`."""
BLOB_LIMIT = 8 * 1024 * 1024
"""Binary files larger than this are not read (a `secrets/binary-not-scanned` warning says so)."""
STRINGS_LIMIT = 20_000
"""Printable strings of one binary file given to the scanner, at most."""
PRINTABLE = re.compile(rb"[\x20-\x7e]{8,}")
LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""Characters str.splitlines() breaks on besides \\n; blanked so scanner line numbers stay aligned."""
MASKED_LINE = (
    "this added line held a secret, masked as [REDACTED] in diff.patch; remove it and rotate the credential"
)
MASKED_PATH = (
    "this path held a secret, masked as [REDACTED] in the evidence: a file name can carry data out; "
    "remove the file and rotate the credential"
)
MASKED_BINARY = (
    "this binary file holds a known secret value (in some encoding); remove it and rotate the credential"
)
NOT_SCANNED = (
    f"binary file not scanned for secrets (unreadable, or over {BLOB_LIMIT} bytes); look at it before merging"
)


def secret_lines(path: str, lines: list[str]) -> list[tuple[int, str]]:
    """(1-based index into `lines`, detector type) for each secret the shared scanner finds.

    The lines are scanned as the file they belong to (detectors key on the file name);
    only the secret's type is kept, never its value.
    """
    text = "\n".join(LINE_BREAKS.sub(" ", line) for line in lines)
    return scan_text_for_secrets(text, posixpath.basename(path))


def line_hits(added: dict[str, list[tuple[int, str]]]) -> list[Hit]:
    """Added text lines (per path: (line number, text)) holding a masked or a detected secret."""
    hits: list[Hit] = []
    for path, lines in added.items():
        hits.extend(
            (path, number, "secrets/redacted-value", MASKED_LINE, "error")
            for number, text in lines
            if MASK in text
        )
    for path, lines in added.items():
        hits.extend(
            (
                path,
                lines[index - 1][0],
                "secrets/detected",
                f"possible secret added ({kind}); remove it and rotate the credential",
                "error",
            )
            for index, kind in secret_lines(path, [text for _, text in lines])
        )
    return hits


def path_hits(paths: list[str]) -> list[Hit]:
    """New or renamed paths that held a known secret (masked) or look like one."""
    hits: list[Hit] = [
        (path, 0, "secrets/redacted-path", MASKED_PATH, "error") for path in paths if MASK in path
    ]
    hits.extend(
        (
            paths[index],
            0,
            "secrets/detected-path",
            f"the file name looks like a secret ({kind}); remove the file and rotate the credential",
            "error",
        )
        for index, kind in scan_strings(paths, entropy=False)
    )
    return hits


def binary_hits(binaries: dict[str, str | None] | None, paths: list[str]) -> list[Hit]:
    """Binary files of the change: a known secret in them, a detected one, or not scanned at all."""
    hits: list[Hit] = []
    for path in paths:
        text = (binaries or {}).get(path)
        if text is None:
            hits.append((path, 0, "secrets/binary-not-scanned", NOT_SCANNED, "warning"))
            continue
        strings = text.split("\n")
        if any(MASK in line for line in strings):
            hits.append((path, 0, "secrets/redacted-value", MASKED_BINARY, "error"))
        hits.extend(
            (
                path,
                0,
                "secrets/detected",
                f"possible secret in a binary file ({kind}); remove it and rotate the credential",
                "error",
            )
            for _, kind in scan_strings(strings[:STRINGS_LIMIT])
        )
    return hits


def binary_strings(repo: Path, tree: str, paths: list[str], redactor: Redactor) -> dict[str, str | None]:
    """The printable strings (8+ characters, also with NUL bytes dropped: UTF-16) of each binary file,
    read from the git tree `tree`, size-checked first, with known secret values masked; None when the
    file cannot be read or is over BLOB_LIMIT."""
    out: dict[str, str | None] = {}
    for path in paths:
        try:
            size = int(gitops.git(repo, "cat-file", "-s", f"{tree}:{path}").strip())
            if size > BLOB_LIMIT:
                out[path] = None
                continue
            data = gitops.git_bytes(repo, "cat-file", "blob", f"{tree}:{path}")
        except (gitops.GitError, ValueError):
            out[path] = None
            continue
        strings = [m.group().decode("ascii") for m in PRINTABLE.finditer(data)]
        wide = [m.group().decode("ascii") for m in PRINTABLE.finditer(data.replace(b"\0", b""))]
        out[path] = redactor.redact_known("\n".join(dict.fromkeys([*strings, *wide])))
    return out

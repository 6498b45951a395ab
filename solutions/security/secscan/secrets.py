"""Secrets the change adds: detect-secrets over added lines, added binary files and new paths.

Only what the change adds is scanned, so each side is one file per changed path
holding the added lines at their own line numbers (every other line blank); printable
strings of an added binary file (reported on line 0, the whole file); and a list of
the paths that are new at the head (added or renamed), so a secret in a file name is
caught too. detect-secrets is used through its public API (SecretsCollection,
default_settings); no secret value leaves this module, only its type and hash.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from secscan.changes import ChangeSet, added_lines
from secscan.model import Finding, Level, Tool, ToolRun

PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{8,}")
PATHS_FILE = "new-paths.txt"
BINARY_SUFFIX = ".strings.txt"


def layout(changes: ChangeSet, root: Path) -> dict[str, tuple[str, bool]]:
    """Writes the files to scan under root; returns scanned name -> (repository path, binary)."""
    names: dict[str, tuple[str, bool]] = {}
    for file in changes.files:
        if file.head is None:
            continue
        if file.binary:
            if not file.added:
                continue
            text = b"\n".join(PRINTABLE_RUN.findall(file.head)).decode("ascii")
            name = f"files/{file.path}{BINARY_SUFFIX}"
            binary = True
        else:
            added = added_lines(file)
            if not added:
                continue
            lines = [""] * added[-1][0]
            for number, line in added:
                lines[number - 1] = line
            text = "\n".join(lines) + "\n"
            name = f"files/{file.path}"
            binary = False
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        names[name] = (file.path, binary)
    new_paths = [f.path for f in changes.files if f.added]
    if new_paths:
        (root / PATHS_FILE).write_text("\n".join(new_paths) + "\n", encoding="utf-8")
        names[PATHS_FILE] = ("", False)
    return names


def scan(changes: ChangeSet, root: Path) -> ToolRun:
    result = ToolRun(Tool.SECRETS)
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        result.skipped = "detect-secrets unavailable (install the repository's requirements.txt)"
        return result
    root.mkdir(parents=True, exist_ok=True)
    names = layout(changes, root)
    new_paths = (root / PATHS_FILE).read_text(encoding="utf-8").splitlines() if PATHS_FILE in names else []
    collection = SecretsCollection(root=str(root))
    with default_settings():
        for name in sorted(names):
            collection.scan_file(name)
    for name, secret in collection:
        path, binary = names.get(name, (name, False))
        line = int(secret.line_number or 0)
        if name == PATHS_FILE:
            path = new_paths[line - 1] if 0 < line <= len(new_paths) else ""
            where, line = "in the file's path", 0
        elif binary:
            where, line = "in the binary file's content", 0
        else:
            where = "on an added line"
        result.head.append(
            Finding(
                Tool.SECRETS,
                secret.type.replace(" ", "-").lower(),
                Level.ERROR,
                path,
                line,
                f"{secret.type} {where}: remove it and rotate the credential; "
                "secrets come from the environment or a secret store",
                0,
                str(secret.secret_hash),
            )
        )
    try:
        result.version = metadata.version("detect-secrets")
    except metadata.PackageNotFoundError:
        result.version = ""
    return result

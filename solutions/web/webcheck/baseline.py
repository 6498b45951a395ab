"""The same checks at the run's base commit, so a result can say which findings the change resolved.

The base's copy of the site is read with `git archive` (read-only on the repository) into a
temporary directory; findings are matched by file, rule and message, not by line, since
lines move when a page is edited.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from .model import Finding, Severity

Key = tuple[str, str, str]


def key(finding: Finding) -> Key:
    return finding.file, finding.rule, finding.message


def extract_base(workspace: Path, base: str, root: str, dest: Path) -> bool:
    """Writes the base commit's copy of root under dest; False when git cannot give it."""
    try:
        done = subprocess.run(
            ["git", "archive", "--format=tar", base, "--", root],
            cwd=workspace,
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    if done.returncode != 0:
        return False
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
                continue
            if member.isdir():
                (dest / name).mkdir(parents=True, exist_ok=True)
                continue
            source = tar.extractfile(member)
            if source is not None:
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                (dest / name).write_bytes(source.read())
    return True


def resolved(before: Sequence[Finding], after: Sequence[Finding]) -> list[Finding]:
    """Findings (warning or worse) at the base that the change made go away."""
    now = {key(f) for f in after}
    return sorted(
        {f for f in before if f.severity != Severity.NOTE and key(f) not in now},
        key=lambda f: (f.file, f.line, f.rule, f.message),
    )


def introduced(before: Sequence[Finding], after: Sequence[Finding]) -> list[Finding]:
    then = {key(f) for f in before}
    return [f for f in after if f.severity != Severity.NOTE and key(f) not in then]

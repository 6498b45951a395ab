"""The host preparing files in the jail's scratch, which an earlier jail of the same run could write.

Whatever is found at a path the host is about to write (a symlink to a host file, a
directory where a file belongs) is removed first, never followed: no jail process is
alive while the host prepares the next one, so nothing can replace it in between.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def clear(path: Path) -> None:
    """Removes what is at `path` (file, symlink or directory tree) without following links."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def fresh_dir(path: Path) -> Path:
    clear(path)
    path.mkdir(parents=True)
    return path


def fresh_file(path: Path, text: str) -> Path:
    clear(path)
    path.write_text(text, encoding="utf-8")
    return path

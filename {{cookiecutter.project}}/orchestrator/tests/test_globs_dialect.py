"""The scope glob dialect at its edges: dotfiles, literal metacharacters, dot segments."""

from __future__ import annotations

import pytest

from orchestrator.globs import glob_to_regex, match_path


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*", ".env", True),
        ("**", ".github/workflows/ci.yml", True),
        ("src/**/x.py", "src/.hidden/x.py", True),
        ("{a,b}.py", "{a,b}.py", True),
        ("{a,b}.py", "a.py", False),
        ("!x.py", "!x.py", True),
        ("+(a).py", "+(a).py", True),
        ("+(a).py", "a.py", False),
        ("[!-a].py", "b.py", True),
        ("[!-a].py", "-.py", False),
        ("[!-a].py", "a.py", False),
        ("SRC/*.py", "src/a.py", False),
        ("src/**", "src", False),
        ("src/**", "src/../secret.txt", False),
        ("src/*", "src/..", False),
    ],
)
def test_dialect(pattern: str, path: str, expected: bool) -> None:
    assert match_path(pattern, path) is expected
    assert (glob_to_regex(pattern).fullmatch(path) is not None) is expected

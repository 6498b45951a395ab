"""Scope globs: one definition of what a pattern matches, shared by validate and the scope check."""

from __future__ import annotations

import pytest

from orchestrator.globs import GlobError, glob_to_regex, match_any, match_path


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("src/**", "src/a.py"),
        ("src/**", "src/pkg/deep/a.py"),
        ("**/test_*.py", "test_x.py"),
        ("**/test_*.py", "a/b/test_x.py"),
        ("src/**/x.py", "src/x.py"),
        ("src/**/x.py", "src/a/b/x.py"),
        ("src/*.py", "src/a.py"),
        ("src/?.py", "src/a.py"),
        ("src/[ab].py", "src/b.py"),
        ("src/[!ab].py", "src/c.py"),
        ("docs/", "docs/index.md"),
        ("**", "anything/at/all"),
        ("README.md", "./README.md"),
    ],
)
def test_pattern_matches(pattern: str, path: str) -> None:
    assert match_path(pattern, path)


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("src/*", "src/a/b.py"),
        ("src/*.py", "srcx/a.py"),
        ("src/?.py", "src/ab.py"),
        ("src/[!ab].py", "src/a.py"),
        ("src/**", "tests/src/a.py"),
        ("src/**/x.py", "src/x.pyc"),
        ("*.py", "src/a.py"),
        ("src/a.py", "src/a_py"),
    ],
)
def test_pattern_does_not_match(pattern: str, path: str) -> None:
    assert not match_path(pattern, path)


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("/etc/**", "absolute"),
        ("C:/x", "absolute"),
        ("../x", "'..'"),
        ("src/../../x", "'..'"),
        ("src/[ab", "unbalanced '['"),
        ("src/a]", "unbalanced ']'"),
        ("src/**.py", "'**' inside a segment"),
        ("src\\a.py", "backslash"),
        ("src//a.py", "empty segment"),
        ("./src/**", "'.' segment"),
        ("", "empty"),
        ("src/[z-a].py", "not a valid glob"),
    ],
)
def test_invalid_patterns_are_refused_with_a_reason(pattern: str, fragment: str) -> None:
    with pytest.raises(GlobError, match=None) as caught:
        glob_to_regex(pattern)
    assert fragment in str(caught.value)


def test_match_any_is_true_when_one_pattern_matches() -> None:
    assert match_any(["docs/**", "src/**"], "src/a.py")
    assert not match_any(["docs/**", "src/**"], "tests/a.py")

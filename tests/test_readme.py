"""The README's question table stays true to cookiecutter.json."""

from __future__ import annotations

import pytest
from conftest import CHOICES, PUBLIC, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def row(key: str) -> str:
    rows = [line for line in README.splitlines() if line.startswith(f"| `{key}` |")]
    assert len(rows) == 1, f"README has no single question row for {key}"
    return rows[0]


@pytest.mark.parametrize("key", sorted(PUBLIC))
def test_every_question_is_documented(key: str) -> None:
    row(key)


@pytest.mark.parametrize("key", sorted(CHOICES))
def test_every_choice_value_is_documented(key: str) -> None:
    assert all(f"`{value}`" in row(key) for value in CHOICES[key])


def test_readme_leads_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block

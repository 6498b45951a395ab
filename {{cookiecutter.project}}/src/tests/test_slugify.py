"""Acceptance tests of the add-slugify task pack: they fail until textkit has slugify."""

import pytest

from textkit import slugify


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("  Task   Packs  ", "task-packs"),
        ("Crème brûlée", "creme-brulee"),
        ("already-a-slug", "already-a-slug"),
        ("--Edge__cases--", "edge-cases"),
    ],
)
def test_slugify_makes_url_safe_slugs(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_slugify_of_symbols_only_is_empty() -> None:
    assert slugify("!!!") == ""

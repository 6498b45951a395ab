"""Word-level helpers."""

import re

_SPACE = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    """Collapses runs of whitespace to one space, so comparisons ignore layout."""
    return _SPACE.sub(" ", text).strip()


def word_count(text: str) -> int:
    return len(normalize_whitespace(text).split()) if text.strip() else 0

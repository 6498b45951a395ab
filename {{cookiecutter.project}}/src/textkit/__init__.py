"""textkit: small text helpers; the sample code that the example task packs change."""

from textkit.words import normalize_whitespace, word_count

__all__ = ["normalize_whitespace", "word_count"]

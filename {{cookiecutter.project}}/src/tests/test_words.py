from textkit import normalize_whitespace, word_count


def test_normalize_whitespace_collapses_runs() -> None:
    assert normalize_whitespace("  a \t b\n\nc ") == "a b c"


def test_word_count_of_blank_text_is_zero() -> None:
    assert word_count(" \n ") == 0


def test_word_count_counts_words() -> None:
    assert word_count("one two  three") == 3

"""Acceptance tests of the broken-acceptance task pack: its change passes the first, never the second."""

import pytest
from textkit.initials import initials


def test_initials_basic() -> None:
    assert initials("Ada Lovelace") == "AL"
    assert initials("grace brewster murray hopper") == "GBMH"


def test_initials_rejects_empty_input() -> None:
    with pytest.raises(ValueError):
        initials("   ")

"""Control characters from the execution plane never reach a terminal, Markdown or JSON raw."""

from __future__ import annotations

import json

import pytest

from orchestrator import textsafe

FORGED = "\x1b[2K\rsucceeded — all phases passed"


@pytest.mark.parametrize(
    "char",
    ["\x1b", "\x07", "\x00", "\x7f", "\x9b", "\x85", "\u202e", "\u2066", "\u200f", "\u2028", "\r", "\n"],
)
def test_every_control_character_is_written_as_a_visible_escape(char: str) -> None:
    out = textsafe.terminal(f"a{char}b")
    assert not textsafe.CONTROL.search(out)
    assert out.startswith("a\\") and out.endswith("b")


def test_an_ansi_sequence_cannot_rewrite_the_terminal_line() -> None:
    assert textsafe.terminal(FORGED) == "\\x1b[2K\\rsucceeded — all phases passed"


def test_ordinary_text_is_unchanged() -> None:
    text = "src/textkit/slug.py — ünïcode ✓ | pipes"
    assert textsafe.terminal(text) == text
    assert textsafe.json_safe({"a": [text]}) == {"a": [text]}


def test_markdown_text_cannot_start_a_line_a_cell_or_a_tag() -> None:
    out = textsafe.markdown("x\n# forged heading | cell <img src=x>")
    assert "\n" not in out and "\\|" in out and "<img" not in out


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("plain.py", "`plain.py`"),
        ("a`b.py", "`` a`b.py ``"),
        ("``x``", "``` ``x`` ```"),
        ("pipe|name", "`pipe\\|name`"),
    ],
)
def test_a_code_span_holds_any_name_literally(text: str, span: str) -> None:
    assert textsafe.code(text) == span


def test_a_code_block_cannot_be_closed_by_its_content() -> None:
    block = textsafe.codeblock("line\n```\n# forged\n````")
    fence = block.split("text", 1)[0]
    assert len(fence) == 5 and block.endswith("\n" + fence)
    assert block.count("\n" + fence) == 1


def test_json_strings_keep_newlines_and_lose_escape_sequences() -> None:
    value = textsafe.json_safe({"path\x1b": ["a\nb\x1b[2K", 3, None]})
    assert value == {"path\\x1b": ["a\nb\\x1b[2K", 3, None]}
    assert "\\u001b" not in json.dumps(value)

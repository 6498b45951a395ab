"""Text the execution plane influences, made safe for the three places people read it.

A file name, a command's output, a proxy target or a reason can hold control
characters: an ANSI sequence that rewrites the terminal (`ESC[2K` then a forged
`succeeded` line), a bidi override (U+202E) that shows a name backwards, or a line
break that forges a line in SUMMARY.md. Every such string is escaped before it
reaches a sink:

- `terminal(text)`: one line, every control character shown as `\\xNN` / `\\uNNNN`;
- the Markdown filters (`markdown`, `code`, `codeblock`), used by the Jinja templates,
  and `finalize`, applied by them to every interpolated value;
- `json_safe(value)`: every string of a JSON document (line breaks and tabs kept;
  the JSON encoder escapes them).

Escaping is one way: a string without control characters is returned unchanged, so
ordinary evidence stays byte-identical.
"""

from __future__ import annotations

import re
from typing import Any

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]")
"""C0, DEL, C1 (CSI `\\x9b` among them), bidi marks, embeddings, overrides and isolates, line and paragraph
separators, and the BOM. ESC is C0: escaping it leaves an ANSI sequence as inert text."""
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if char in NAMED:
        return NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str, keep: str = "") -> str:
    """`text` with every control character except those in `keep` written as a visible escape."""
    if not CONTROL.search(text):
        return text
    return CONTROL.sub(lambda m: m.group() if m.group() in keep else _escaped(m.group()), text)


def terminal(text: object) -> str:
    """One line for a terminal: nothing in it can move the cursor, recolour or reorder the line."""
    return escape(str(text))


def finalize(value: Any) -> Any:
    """Jinja `finalize`: every interpolated string has its control characters escaped (line breaks kept)."""
    return escape(value, keep="\n") if isinstance(value, str) else value


def markdown(value: object) -> str:
    """Inline Markdown text (a table cell, a list item): one line, no pipe, no HTML tag."""
    return escape(str(value)).replace("|", "\\|").replace("<", "&lt;")


def code(value: object) -> str:
    """An inline code span holding `value` literally, whatever backticks it contains (table-safe)."""
    text = escape(str(value)).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def codeblock(value: object, lang: str = "text") -> str:
    """A fenced block holding `value` literally: its fence is longer than any backtick run inside."""
    text = escape(str(value), keep="\n\t").rstrip("\n")
    longest = max((len(run) for run in re.findall("`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def json_safe(value: Any) -> Any:
    """A copy of a JSON value whose strings (keys too) have their control characters escaped."""
    if isinstance(value, str):
        return escape(value, keep="\n\t")
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    return value


def urlpath(value: object) -> str:
    """A run-relative path as a Markdown link target: percent-encoded, so it cannot close the link."""
    from urllib.parse import quote

    return quote(escape(str(value)), safe="/._-")


FILTERS = {"markdown": markdown, "cell": markdown, "code": code, "codeblock": codeblock, "urlpath": urlpath}
"""Jinja filters for the Markdown templates; `cell` is the older name of `markdown`."""

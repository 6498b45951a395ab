"""What a page's source says, with positions: start tags, ids, and the URLs it refers to."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

REF_ATTRS: dict[str, tuple[str, ...]] = {
    "a": ("href",),
    "area": ("href",),
    "link": ("href",),
    "img": ("src",),
    "script": ("src",),
    "source": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "iframe": ("src",),
    "embed": ("src",),
    "track": ("src",),
    "input": ("src",),
}


@dataclass(frozen=True)
class Tag:
    name: str
    attrs: tuple[tuple[str, str], ...]
    line: int
    column: int

    def key(self) -> tuple[str, frozenset[tuple[str, str]]]:
        return self.name, frozenset(self.attrs)


@dataclass(frozen=True)
class Ref:
    """One URL a page refers to: `<img src>`, `<a href>`, `srcset` entries…"""

    tag: str
    attr: str
    url: str
    line: int
    column: int


@dataclass(frozen=True)
class Source:
    tags: tuple[Tag, ...]
    ids: frozenset[str]
    refs: tuple[Ref, ...]
    lines: tuple[str, ...]

    def locate(self, name: str, attrs: list[tuple[str, str]], index: int) -> tuple[int, int]:
        """Line and column of the index-th start tag with this name and these attributes; (0, 0) if none."""
        key = (name, frozenset((k, v or "") for k, v in attrs))
        same = [t for t in self.tags if t.key() == key]
        if 0 <= index < len(same):
            return same[index].line, same[index].column
        return (same[0].line, same[0].column) if same else (0, 0)

    def line_of(self, needle: str) -> tuple[int, int]:
        """First line and column where needle occurs in the source; (0, 0) if nowhere."""
        for number, text in enumerate(self.lines, start=1):
            if needle and (at := text.find(needle)) >= 0:
                return number, at + 1
        return 0, 0


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[Tag] = []
        self.ids: set[str] = set()
        self.refs: list[Ref] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line, offset = self.getpos()
        clean = tuple((k, v or "") for k, v in attrs)
        self.tags.append(Tag(tag, clean, line, offset + 1))
        values = dict(clean)
        for key in ("id",) + (("name",) if tag == "a" else ()):
            if values.get(key):
                self.ids.add(values[key])
        rel = values.get("rel", "").lower().split()
        for attr in REF_ATTRS.get(tag, ()):
            if attr in values and not (tag == "link" and {"preconnect", "dns-prefetch"} & set(rel)):
                self.refs.append(Ref(tag, attr, values[attr].strip(), line, offset + 1))
        if "srcset" in values:
            for part in values["srcset"].split(","):
                if url := part.strip().split(" ")[0]:
                    self.refs.append(Ref(tag, "srcset", url, line, offset + 1))

    handle_startendtag = handle_starttag


def parse(text: str) -> Source:
    collector = _Collector()
    collector.feed(text)
    collector.close()
    return Source(
        tuple(collector.tags), frozenset(collector.ids), tuple(collector.refs), tuple(text.splitlines())
    )

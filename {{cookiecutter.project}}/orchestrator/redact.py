"""Redaction of everything persisted: known secret values, plus a real secret scanner.

Three layers, because each misses what the others catch:
1. exact values known to be secret: every parent-environment variable whose *name*
   looks secret, and every value that detect-secrets flags whatever its name;
2. detect-secrets line scanning (all its plugins, YAML keyword mode, which also
   reads `NAME=value` lines), masking the whole match of regex-based detectors;
3. `NAME=value` / `NAME: value` assignments whose name looks secret, and PEM
   private-key blocks, which the line scanner sees only one line at a time.

The same scanner answers `scan_text_for_secrets`, which the safety phase uses on task
packs and the review uses on diffs, so "what counts as a secret" is defined once.
"""

from __future__ import annotations

import base64
import bisect
import codecs
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

SECRET_NAME = re.compile(
    r"(KEY|TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|CREDENTIAL|PRIVATE|SESSION|AUTH|COOKIE|SIGNATURE|CERT|PAT$)",
    re.IGNORECASE,
)
"""Variable names whose values are treated as secrets (substring match)."""
MASK = "[REDACTED]"
MIN_SECRET_LEN = 6
IGNORED_TYPES = frozenset({"Public IP (ipv4)"})
"""Detector types that flag facts, not secrets; masking them would only destroy evidence."""
SCAN_FILENAME = "output.yaml"
"""detect-secrets picks its keyword rules by file type; YAML mode also reads `KEY=value` lines."""
PREFILTER = re.compile(
    r"[A-Za-z0-9+/=_\-.~]{16,}|://[^/\s]*@|pass|secret|key|token|auth|cred|private|bearer|api", re.IGNORECASE
)
"""Lines that cannot hold a secret any detector knows are not scanned (speed: logs are long)."""
ASSIGNMENT = re.compile(
    r"(?P<name>(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{0,40}(?:KEY|TOKEN|SECRET|PASSW(?:OR)?D|PASSPHRASE|CREDENTIAL|AUTH)"
    r"[A-Za-z0-9_.-]{0,40})"
    r"(?P<sep>[\"']?\s*[=:]\s*)(?P<quote>[\"']?)(?P<value>[^\s\"',;]{6,})",
    re.IGNORECASE,
)
"""Bounded name parts keep this linear on pathological input (one 200 kB line of letters)."""
PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----.*?(-----END \1PRIVATE KEY( BLOCK)?-----|\Z)", re.DOTALL
)


FILE_FILTERS = (
    "detect_secrets.filters.common.is_invalid_file",
    "detect_secrets.filters.heuristic.is_non_text_file",
    "detect_secrets.filters.heuristic.is_lock_file",
    "detect_secrets.filters.heuristic.is_swagger_file",
)
"""detect-secrets filters that skip a whole file by its name (or its absence on disk). The lines scanned
here are text in hand, not files: every line is scanned, whatever file it came from."""
UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"]')
"""Characters a unified diff header cannot carry; the file name only picks detector rules by its extension."""


ScanDiff = Callable[[str], Iterator[Any]]
Settings = Callable[[], AbstractContextManager[Any]]


@lru_cache(maxsize=1)
def _detect_secrets() -> tuple[ScanDiff, Settings, dict[str, Any]]:
    """Imported lazily: detect-secrets takes ~0.15 s to import, and most commands never scan."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.scan import scan_diff
    from detect_secrets.settings import default_settings

    return scan_diff, default_settings, get_mapping_from_secret_type_to_class()


def _as_patch(lines: list[tuple[int, str]], filename: str) -> str:
    """`lines` as a patch adding each at its own line number to `filename`: detect-secrets' public way to
    scan lines of a named file (the name picks its keyword rules) without the file being on disk."""
    name = UNSAFE_NAME.sub("_", filename) or "_"
    hunks = "".join(f"@@ -0,0 +{number},1 @@\n+{text}\n" for number, text in lines)
    return f"--- /dev/null\n+++ b/{name}\n{hunks}"


@dataclass(frozen=True)
class Finding:
    line: int
    type: str
    value: str


PLAIN_WORD = re.compile(r"[a-z][a-z_-]*:?")
"""An assignment value that is a lowercase word (`secrets: allow: ...`, `password: required`), not a
secret."""
KEYWORD_BENIGN = re.compile(
    r"[a-z][a-z_-]*|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|.*\s.*|.*\[REDACTED\].*", re.DOTALL
)
"""Values after a secret keyword that are not credentials: a plain lowercase word (`secrets: forbidden`,
`password: required`), a variable reference (`$TOKEN`, `${TOKEN}`), prose, or an already masked value."""


def _scan_lines(lines: list[tuple[int, str]], filename: str) -> Iterator[Finding]:
    if not lines:
        return
    scan_diff, settings, _ = _detect_secrets()
    with settings() as active:
        active.disable_filters(*FILE_FILTERS)
        for secret in scan_diff(_as_patch(lines, filename)):
            value = str(secret.secret_value or "")
            if secret.type in IGNORED_TYPES:
                continue
            if secret.type == "Secret Keyword" and KEYWORD_BENIGN.fullmatch(value.strip()):
                continue
            yield Finding(int(secret.line_number), str(secret.type), value)


def scan_text_for_secrets(text: str, filename: str) -> list[tuple[int, str]]:
    """(line number, detector type) for every secret detect-secrets finds in `text`.

    `filename` picks the detector rules (a `.yml` file gets YAML keyword rules).
    PEM private keys are reported too, whatever the file type.
    """
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1)]
    found = {(f.line, f.type) for f in _scan_lines(lines, filename)}
    for match in PEM_BLOCK.finditer(text):
        found.add((text.count("\n", 0, match.start()) + 1, "Private Key"))
    return sorted(found)


ENTROPY_TYPES = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})


def scan_strings(lines: list[str], *, entropy: bool = True) -> list[tuple[int, str]]:
    """(0-based index, detector type) for each string detect-secrets flags, scanned on its own.

    Uses detect-secrets' public ad-hoc API (`scan_line` under `default_settings`). Without
    `entropy`, only detectors that recognise a secret's shape or keyword count: a file name
    that is a content hash (`main.3f9a8b7c.js`) is not a finding.
    """
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    found: set[tuple[int, str]] = set()
    with default_settings():
        for index, line in enumerate(lines):
            if not PREFILTER.search(line):
                continue
            for secret in scan_line(line):
                kind = str(secret.type)
                value = str(secret.secret_value or "")
                if kind in IGNORED_TYPES or (not entropy and kind in ENTROPY_TYPES):
                    continue
                if kind == "Secret Keyword" and KEYWORD_BENIGN.fullmatch(value.strip()):
                    continue
                found.add((index, kind))
    return sorted(found)


def looks_secret(value: str) -> bool:
    """True when detect-secrets flags the value on its own (bare or quoted), or it is a PEM key."""
    if len(value) < MIN_SECRET_LEN:
        return False
    if PEM_BLOCK.search(value):
        return True
    parts = [p for p in value[:8192].splitlines() if p.strip()]
    lines = [(i, text) for i, part in enumerate(parts) for text in (part, f'"{part}"')]
    return any(True for _ in _scan_lines(lines, "value.txt"))


def _is_plain_path(value: str) -> bool:
    return value.startswith("/") and " " not in value and os.path.exists(value)


@lru_cache(maxsize=16)
def _secret_values(items: frozenset[tuple[str, str]]) -> tuple[str, ...]:
    found = set()
    for name, value in items:
        if len(value) < MIN_SECRET_LEN or _is_plain_path(value):
            continue
        if SECRET_NAME.search(name) or looks_secret(value):
            found.add(value)
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


def secret_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values of `environ` that are secrets: by name pattern, or by what detect-secrets says."""
    return _secret_values(frozenset(environ.items()))


def _regex_spans(line: str, finding_type: str) -> list[tuple[int, int]]:
    """Whole matches of the detector's own patterns (some report only a prefix as the value)."""
    _, _, mapping = _detect_secrets()
    plugin = mapping.get(finding_type)
    spans: list[tuple[int, int]] = []
    for pattern in getattr(plugin, "denylist", ()) or ():
        spans.extend(m.span() for m in pattern.finditer(line))
    return spans


def _mask_spans(line: str, spans: Iterable[tuple[int, int]]) -> str:
    out: list[str] = []
    last = 0
    for start, end in sorted(spans):
        start = max(start, last)
        if start >= end:
            continue
        out.append(line[last:start])
        out.append(MASK)
        last = end
    out.append(line[last:])
    return "".join(out)


MEMO_TEXT_CHARS = 4096
"""Texts up to this size are memoised by `redact_line_secrets` (2,048 of them: at most ~8 MB)."""


def redact_line_secrets(text: str) -> str:
    """Layers 2 and 3 over a whole text: scanner findings and secret-named assignments.

    A pure function of the text (the scanner's settings are fixed per process), so short texts are
    memoised: the manifest is redacted on every save, and most of its strings do not change."""
    return _redact_memo(text) if len(text) <= MEMO_TEXT_CHARS else _redact_line_secrets(text)


@lru_cache(maxsize=2048)
def _redact_memo(text: str) -> str:
    return _redact_line_secrets(text)


def _redact_line_secrets(text: str) -> str:
    text = PEM_BLOCK.sub(MASK, text)
    lines = text.split("\n")
    candidates = [(i + 1, line) for i, line in enumerate(lines) if PREFILTER.search(line)]
    if not candidates:
        return text
    by_line: dict[int, list[Finding]] = {}
    for finding in _scan_lines(candidates, SCAN_FILENAME):
        by_line.setdefault(finding.line, []).append(finding)
    for number, line in candidates:
        spans: list[tuple[int, int]] = []
        for finding in by_line.get(number, []):
            regex = _regex_spans(line, finding.type)
            if regex:
                spans.extend(regex)
            elif finding.value and len(finding.value) >= 4 and finding.value in line:
                start = 0
                while (at := line.find(finding.value, start)) >= 0:
                    spans.append((at, at + len(finding.value)))
                    start = at + len(finding.value)
            else:
                spans.append((0, len(line)))
        for match in ASSIGNMENT.finditer(line):
            value = match.group("value")
            if (
                not value.isdigit()
                and MASK not in value
                and not PLAIN_WORD.fullmatch(value)
                and value.lower() not in ("none", "null", "true", "false")
            ):
                spans.append(match.span("value"))
        if spans:
            lines[number - 1] = _mask_spans(line, spans)
    return "\n".join(lines)


FREE_TEXT = frozenset(
    {
        "reason",
        "excerpt",
        "message",
        "summary",
        "target",
        "path",
        "file",
        "detail",
        "error",
        "title",
        "command",
        "run",
        "last_message",
    }
)
"""JSON keys whose strings are free text the execution plane can influence: scanned like a log."""


# --- known values, in the encodings an exfiltration would use ---------------------------

ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
"""Lower-casing that keeps every offset (str.lower() may change a string's length)."""
RUN = re.compile(r"(?m)(?:^[+-](?=\S))?(\S+)")
"""A run of non-space characters; a diff line's `+`/`-` marker is not part of it."""


def _base64_forms(data: bytes) -> set[str]:
    """The base64 text of `data` wherever it starts in a longer byte stream (three alignments)."""
    forms = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode("ascii")
        start, stop = -(-shift * 8 // 6), (shift + len(data)) * 8 // 6
        forms.add(encoded[start:stop])
    return forms | {f.replace("+", "-").replace("/", "_") for f in forms}


def encodings(value: str) -> set[str]:
    """`value` as an exfiltration would carry it: as is, rot13, reversed, hex, base64, percent-encoded.

    Compared with the text ignoring ASCII case and whitespace (a value split across lines).
    """
    data = value.encode("utf-8")
    forms = {
        value,
        codecs.encode(value, "rot13"),
        value[::-1],
        data.hex(),
        urllib.parse.quote(value, safe=""),
        *_base64_forms(data),
    }
    compact = {re.sub(r"\s+", "", form).translate(ASCII_LOWER) for form in forms}
    return {form for form in compact if len(form) >= MIN_SECRET_LEN}


def mask_known(text: str, forms: Iterable[str]) -> str:
    """Masks every occurrence of `forms` (compact, lower-case) in `text`, even split by whitespace or
    diff line markers; each masked piece becomes MASK and the text keeps its lines."""
    runs = [m.span(1) for m in RUN.finditer(text)]
    if not runs:
        return text
    compact = "".join(text[a:b] for a, b in runs).translate(ASCII_LOWER)
    offsets, total = [], 0
    for a, b in runs:
        offsets.append(total)
        total += b - a
    spans: list[tuple[int, int]] = []
    for form in forms:
        at = compact.find(form)
        while at >= 0:
            end = at + len(form)
            index = bisect.bisect_right(offsets, at) - 1
            while index < len(runs) and offsets[index] < end:
                a, _ = runs[index]
                lo, hi = max(at, offsets[index]), min(end, offsets[index] + runs[index][1] - a)
                spans.append((a + lo - offsets[index], a + hi - offsets[index]))
                index += 1
            at = compact.find(form, end)
    return _mask_spans(text, spans) if spans else text


@dataclass
class Redactor:
    """Masks secrets in text before it is persisted; `values` are the exact known secrets.

    A known value is also masked rot13-, hex-, base64- or percent-encoded, reversed, in any
    ASCII case, and split across lines or by spaces (`encodings`)."""

    values: list[str] = field(default_factory=list)
    scan: bool = True
    forms: frozenset[str] = field(init=False, repr=False)
    _ordered: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.forms = frozenset(form for value in self.values for form in encodings(value))
        self._ordered = tuple(sorted(self.forms, key=lambda f: (-len(f), f)))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> Redactor:
        env = os.environ if environ is None else environ
        found = {*secret_values(env), *(v for v in extra if len(v) >= MIN_SECRET_LEN)}
        return cls(sorted(found, key=lambda v: (-len(v), v)))

    def redact(self, text: str) -> str:
        text = self.redact_known(text)
        return redact_line_secrets(text) if self.scan else text

    def redact_known(self, text: str) -> str:
        """Only the known values (and their encodings), without the scanner: for digests and ids."""
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return mask_known(text, self._ordered) if self._ordered else text

    def redact_json(self, value: Any, key: str = "") -> Any:
        """A copy of a JSON document with every string redacted: free text (`FREE_TEXT` keys) fully,
        every other string (digests, ids, times) for known values only, so a digest is never masked."""
        if isinstance(value, str):
            return self.redact(value) if key in FREE_TEXT else self.redact_known(value)
        if isinstance(value, list):
            return [self.redact_json(item, key) for item in value]
        if isinstance(value, dict):
            return {self.redact_known(k): self.redact_json(v, k) for k, v in value.items()}
        return value

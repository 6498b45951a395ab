"""Redaction of everything persisted: known secret values, plus a secret scanner.

(Initial version: exact values only. The safety work extends this with
detect-secrets line scanning.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL|PRIVATE|SESSION|AUTH|COOKIE)", re.I)
MASK = "[REDACTED]"
MIN_SECRET_LEN = 6


@dataclass
class Redactor:
    values: list[str] = field(default_factory=list)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> Redactor:
        env = os.environ if environ is None else environ
        found = [v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LEN]
        return cls(sorted({*found, *extra}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

"""Phase logs (`logs/<phase>.log`): each command, its exit code, duration and output.

Output is capped per command and the cap is written down next to it. Every line
goes through redaction before it reaches the disk, so a log never holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.redact import Redactor

LOG_OUTPUT_CAP = 64 * 1024
"""Bytes of one command's output kept in a log; the rest is dropped and the cap recorded."""


@dataclass
class PhaseLog:
    path: Path
    redactor: Redactor

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)

    def write(self, text: str) -> None:
        """Appends redacted text; each call is one write so lines from a crash are not torn."""
        clean = self.redactor.redact(text)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(clean if clean.endswith("\n") else clean + "\n")

    def live(self, text: str) -> None:
        """One line of progress on the terminal (`[<phase>] text`): redacted, control characters escaped.

        Not written to the log file; the phase's own records stay as they are."""
        clean = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                        for c in self.redactor.redact(text).rstrip("\n"))  # fmt: skip
        print(f"[{self.path.stem}] {clean}", flush=True)

    def note(self, message: str) -> None:
        self.write(f"# {message}")

    def command(
        self,
        command: str,
        exit_code: int | None,
        duration: float,
        output: str,
        output_bytes: int,
        *,
        note: str = "",
    ) -> None:
        shown = output
        capped = ""
        encoded = output.encode("utf-8", "replace")
        if len(encoded) > LOG_OUTPUT_CAP:
            shown = encoded[-LOG_OUTPUT_CAP:].decode("utf-8", "replace")
            capped = f"; log keeps the last {LOG_OUTPUT_CAP} bytes (cap)"
        lines = [
            f"$ {command}",
            shown.rstrip("\n"),
            f"[exit {exit_code} after {duration:.3f}s; output {output_bytes} bytes{capped}{'; ' + note if note else ''}]",
        ]
        self.write("\n".join(line for line in lines if line) + "\n")

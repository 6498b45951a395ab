"""Phase logs (`logs/<phase>.log`): each command, its exit code, duration and output.

Output is capped per command and the cap is written down next to it. Every line
goes through redaction before it reaches the disk, so a log never holds a secret.

`live` is the terminal's view of the same phase, as it happens: one line at a
time, redacted, control characters escaped (the jail's output never drives the
terminal), prefixed with the phase; coloured only on a terminal without
`NO_COLOR`. It never writes to the log on disk.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from orchestrator.redact import Redactor
from orchestrator.textsafe import escape, terminal

LOG_OUTPUT_CAP = 64 * 1024
"""Bytes of one command's output kept in a log; the rest is dropped and the cap recorded."""
LIVE_LINE_CAP = 2000
"""Lines one phase shows on the terminal; the rest is only in its log."""
LIVE_CHARS = 400
"""Characters of one line shown on the terminal."""
_TERMINAL = threading.Lock()
"""One line at a time on the terminal (the heartbeat runs in its own thread)."""


def use_color(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if "NO_COLOR" in environ:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def live_line(phase: str, text: str, *, color: bool) -> str:
    prefix = f"[{phase}]"
    if color:
        prefix = f"\x1b[2;36m{prefix}\x1b[0m"
    return f"{prefix} {text}"


@dataclass
class PhaseLog:
    path: Path
    redactor: Redactor
    phase: str = ""
    """The prefix of live lines; the log's file name (`execute` for logs/execute.log) by default."""
    stream: TextIO | None = None
    """Where live lines go; sys.stdout (as it is when the line is written) by default."""
    last_live: float = field(default_factory=time.monotonic, init=False)
    live_lines: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)
        self.phase = self.phase or self.path.stem

    def live(self, text: str) -> None:
        """Shows one line of progress on the terminal now; never raises, never touches the log."""
        stream = self.stream or sys.stdout
        with _TERMINAL:
            self.last_live = time.monotonic()
            self.live_lines += 1
            if self.live_lines > LIVE_LINE_CAP:
                if self.live_lines == LIVE_LINE_CAP + 1:
                    text = f"(more output than {LIVE_LINE_CAP} lines: the rest is in {self.path.name})"
                else:
                    return
            shown = self.redactor.redact(text.rstrip("\r\n"))
            if len(shown) > LIVE_CHARS:
                shown = shown[:LIVE_CHARS] + " …"
            line = live_line(self.phase, terminal(shown), color=use_color(stream, os.environ))
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass

    def silent_for(self) -> float:
        return time.monotonic() - self.last_live

    def write(self, text: str) -> None:
        """Appends redacted text, its control characters escaped (a log is read in terminals and committed:
        no escape sequence in it may clear a screen or forge a line); one write per call, never torn."""
        clean = escape(self.redactor.redact(text), keep="\n\t")
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(clean if clean.endswith("\n") else clean + "\n")

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
            f"[exit {exit_code} after {duration:.3f}s; output {output_bytes} bytes{capped}"
            f"{'; ' + note if note else ''}]",
        ]
        self.write("\n".join(line for line in lines if line) + "\n")

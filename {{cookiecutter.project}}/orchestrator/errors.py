"""Errors that end a command with a contract exit code (DESIGN §5).

Every error a user can cause is one of these, so the CLI can print a located,
human message and exit 2 or 3 instead of showing a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3


@dataclass(frozen=True, order=True)
class Problem:
    """One located defect in a user-supplied file: where, which field, what, how to fix."""

    file: str
    line: int
    column: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where}: {self.field}: {self.message}"
        return f"{text} (fix: {self.hint})" if self.hint else text


class OrchestratorError(Exception):
    """Base of the errors the CLI turns into an exit code and a message."""

    exit_code = EXIT_FAILED


class BadInput(OrchestratorError):
    """A task pack, argument or option is wrong; nothing was run or written."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems = sorted(problems or [])
        super().__init__(message)

    def __str__(self) -> str:
        lines = [str(p) for p in self.problems]
        head = super().__str__()
        return "\n".join([head, *lines]) if lines else head


class Refused(OrchestratorError):
    """The safety model refuses to go on (policy, isolation, dirty tree, protected files)."""

    exit_code = EXIT_REFUSED


class Tripped(OrchestratorError):
    """A circuit breaker tripped: names the breaker, its limit and what was measured."""

    exit_code = EXIT_REFUSED

    def __init__(self, breaker: str, limit: float, measured: float, detail: str = "") -> None:
        self.breaker = breaker
        self.limit = limit
        self.measured = measured
        self.detail = detail
        text = f"breaker {breaker} tripped: measured {measured} > limit {limit}"
        super().__init__(f"{text}: {detail}" if detail else text)


class Aborted(OrchestratorError):
    """The run was interrupted (SIGINT or SIGTERM) and finalized as aborted."""

    exit_code = 130

"""One acceptance check, run in the sandbox, judged so that the code under test cannot fake it.

A check's verdict is its exit code against `expect_exit`. When the check is a plain pytest run
(`pytest …`, `py.test …`, `python -m pytest …`), the host also reads pytest's own report:
`--junitxml` is pointed at a named pipe the host holds open and reads. The jail can open the
pipe for writing (a bind the jail cannot unmount, remove or replace) but cannot take back what
pytest wrote into it, and the host reads it as it comes. The verdict then needs the report and
the exit code to agree: a module that registers `atexit(os._exit(0))` turns `1 failed` into
exit 0, and the report still says `failures="1"`, so the check fails and names the disagreement.

What remains (SECURITY.md): code that runs inside the pytest process before the report is
written (a conftest, a plugin, an imported module) can change what pytest itself reports.
Compound shell commands (`cd x && pytest`) keep the exit code only, and say so.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchestrator.model import Status
from orchestrator.phaselog import PhaseLog
from orchestrator.recording import record_execution
from orchestrator.runs import Run
from orchestrator.sandbox import run as sandboxed
from orchestrator.workspace import scratch_dir, spec_for

EXCERPT_LINES = 20
EXCERPT_CHARS = 2000
REPORT_CAP = 16 << 20
"""Bytes of pytest's report the host keeps; a longer report is not trusted."""
SHELL_SYNTAX = re.compile(r"[;&|<>`$(){}\n\\]")
PYTHON = re.compile(r"python(\d+(\.\d+)?)?")
PYTEST_EXITS = (0, 1, 5)
"""pytest's exit codes that a finished session reports on: all passed, some failed, none collected."""


def excerpt(output: str) -> str:
    tail = "\n".join(output.rstrip("\n").splitlines()[-EXCERPT_LINES:])
    return tail[-EXCERPT_CHARS:]


def runs_pytest(command: str) -> bool:
    """True for a single pytest command (no shell syntax): `[VAR=x …] (pytest|py.test|python -m pytest) …`."""
    if SHELL_SYNTAX.search(command):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]
    if not words:
        return False
    program = os.path.basename(words[0])
    return program in ("pytest", "py.test") or (
        bool(PYTHON.fullmatch(program)) and words[1:3] == ["-m", "pytest"]
    )


@dataclass(frozen=True)
class Report:
    tests: int
    failures: int
    errors: int
    skipped: int

    def exit_code(self) -> int:
        """The exit code pytest gives a session with these counts."""
        return 1 if self.failures or self.errors else 5 if self.tests == 0 else 0

    def text(self) -> str:
        return f"{self.tests} tests, {self.failures} failed, {self.errors} errors, {self.skipped} skipped"


def parse_report(data: bytes) -> Report:
    """Counts from a JUnit XML report (pytest's `--junitxml`); ValueError when it is not one report."""
    if len(data) > REPORT_CAP:
        raise ValueError(f"the report is larger than {REPORT_CAP} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("the report declares a DOCTYPE or entities")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"the report is not one XML document ({exc})") from None
    suites = (
        [root]
        if root.tag == "testsuite"
        else list(root.iter("testsuite"))
        if root.tag == "testsuites"
        else []
    )
    if not suites:
        raise ValueError(f"the report's root is <{root.tag}>, not <testsuites> or <testsuite>")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in total:
            try:
                total[key] += int(suite.get(key, "0"))
            except ValueError:
                raise ValueError(f"the report's {key}= is not a number") from None
    return Report(**total)


class ReportPipe:
    """A named pipe for `--junitxml`: the host holds both ends open until the check has ended,
    so the report is read whole however pytest's process ends, and nothing can take it back."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="report-", dir=directory))
        self.path = self.dir / "junit.xml"
        os.mkfifo(self.path, 0o600)
        os.chmod(self.path, 0o622)  # others may write (the jail's uid), only the host reads
        self.reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.writer = os.open(self.path, os.O_WRONLY)
        os.set_blocking(self.reader, True)
        self.data = bytearray()
        self.overflow = False
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while chunk := os.read(self.reader, 1 << 16):
            if len(self.data) + len(chunk) > REPORT_CAP:
                self.overflow = True
            else:
                self.data.extend(chunk)

    def close(self) -> bytes:
        """Everything written into the pipe (call once the check's processes are gone)."""
        os.close(self.writer)
        self.thread.join(timeout=10)
        os.close(self.reader)
        shutil.rmtree(self.dir, ignore_errors=True)
        return bytes(self.data) + (b"\0overflow" if self.overflow else b"")


@contextmanager
def report_pipe(run: Run) -> Iterator[ReportPipe]:
    pipe = ReportPipe(scratch_dir(run).with_name(f"{scratch_dir(run).name}-reports"))
    try:
        yield pipe
    finally:
        if pipe.thread.is_alive() or os.path.exists(pipe.dir):
            pipe.close()


def judge(
    exit_code: int | None, expected: int, report: Report | None, problem: str | None
) -> tuple[bool, str]:
    """(passed, note): the exit code against expect_exit and, for pytest, against its own report."""
    if exit_code != expected:
        return False, ""
    if exit_code not in PYTEST_EXITS:
        return True, ""
    if report is None:
        return False, f"[pytest exited {exit_code} but its report could not be read: {problem}]"
    if report.exit_code() != exit_code:
        return False, (
            f"[pytest's report disagrees with the exit code: the report says {report.text()} "
            f"(exit {report.exit_code()}), the process exited {exit_code}]"
        )
    return True, ""


PYTEST_CONFIGS = (
    ("pytest.ini", ""),
    (".pytest.ini", ""),
    ("pytest.toml", ""),
    (".pytest.toml", ""),
    ("pyproject.toml", "[tool.pytest"),
    ("tox.ini", "[pytest]"),
    ("setup.cfg", "[tool:pytest]"),
)
"""Where pytest looks for its configuration at the repository root (control-plane files),
and what marks it."""


def pytest_config(where: Path) -> Path:
    """The repository root's pytest configuration, pinned with `-c`: a configuration file the change plants
    deeper (a `pyproject.toml` beside the tests, say) is then never read. /dev/null when the root has none."""
    for name, marker in PYTEST_CONFIGS:
        path = where / name
        if (
            path.is_file()
            and not path.is_symlink()
            and marker in path.read_text(encoding="utf-8", errors="replace")
        ):
            return path
    return Path(os.devnull)


def run_check(run: Run, log: PhaseLog, check: dict[str, Any], where: Path) -> dict[str, Any]:
    """Runs one check in `where` and returns its manifest record."""
    spec = spec_for(run, where=where)
    expected = check.get("expect_exit", 0)
    pytest = runs_pytest(check["run"])
    report: Report | None = None
    problem: str | None = None
    if pytest:
        with report_pipe(run) as pipe:
            command = (
                f"{check['run']} --junitxml={shlex.quote(str(pipe.path))} "
                f"-c {shlex.quote(str(pytest_config(where)))} --rootdir={shlex.quote(str(where))}"
            )
            spec = replace(spec, read_paths=(*spec.read_paths, pipe.path))
            result = sandboxed(
                ["/bin/sh", "-c", command],
                spec,
                cwd=where,
                timeout=check.get("timeout_seconds"),
                on_line=log.live,
            )
            data = pipe.close()
        try:
            report = parse_report(data)
        except ValueError as exc:
            problem = str(exc) if data else "pytest wrote no report"
    else:
        result = sandboxed(
            ["/bin/sh", "-c", check["run"]],
            spec,
            cwd=where,
            timeout=check.get("timeout_seconds"),
            on_line=log.live,
        )
    log.command(
        check["run"],
        result.exit_code,
        result.duration,
        result.output,
        result.output_bytes,
        note=f"acceptance {check['id']}",
    )
    record_execution(run, log, "verify", result)
    passed, note = (
        judge(result.exit_code, expected, report, problem) if pytest else (result.exit_code == expected, "")
    )
    status = Status.TRIPPED if result.breaker else (Status.PASSED if passed else Status.FAILED)
    text = log.redactor.redact(excerpt(result.output))
    if note:
        text += f"\n{note}"
        log.note(f"acceptance {check['id']}: {note}")
    if result.breaker:
        text += f"\n[breaker {result.breaker}: limit {result.limit}, measured {result.measured}]"
    record: dict[str, Any] = {
        "id": check["id"],
        "run": check["run"],
        "status": status,
        "exit_code": result.exit_code,
        "expect_exit": expected,
        "duration_seconds": result.duration,
        "excerpt": text,
    }
    if pytest:
        record["report"] = (
            {"kind": "junit", **report.__dict__}
            if report is not None
            else {"kind": "junit", "problem": problem or "unreadable"}
        )
    return record


def run_checks(run: Run, log: PhaseLog, where: Path | None = None) -> list[dict[str, Any]]:
    """Runs every check in `where` (default: the workspace; a failing check does not stop the others)."""
    return [run_check(run, log, check, where or run.workspace) for check in run.task.acceptance]


def failure_text(results: list[dict[str, Any]]) -> str:
    """What an executor is told when acceptance failed, to try again."""
    parts = []
    for item in results:
        if item["status"] != Status.PASSED:
            parts.append(
                f"Acceptance check `{item['id']}` ({item['run']}) {item['status']}: "
                f"exit {item['exit_code']}, expected {item['expect_exit']}.\n{item['excerpt']}"
            )
    return "\n\n".join(parts)

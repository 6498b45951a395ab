"""Live progress: what the executor and acceptance print reaches the terminal as it happens.

Lines are redacted, control characters escaped and prefixed with their phase; a silent
phase shows a heartbeat; colour only on a terminal without NO_COLOR; the logs on disk
stay as they were.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import GIT_ENV, runs_of, write_pack
from orchestrator.phaselog import PhaseLog, live_line, use_color
from orchestrator.pipeline import heartbeat
from orchestrator.redact import Redactor
from orchestrator.textsafe import terminal

SLOW = "echo step-1; sleep 8; echo step-2 > done.txt; echo step-2"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def read_lines_with_times(proc: subprocess.Popen[str]) -> list[tuple[float, str]]:
    seen: list[tuple[float, str]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append((time.monotonic(), line.rstrip("\n")))
    return seen


def arrival(seen: list[tuple[float, str]], text: str) -> float:
    return next(t for t, line in seen if line == text)


def test_executor_output_reaches_nox_stdout_before_the_command_ends(repo: Path) -> None:
    write_pack(
        repo,
        "slow",
        executor={"kind": "shell", "commands": [SLOW]},
        acceptance=[{"id": "done", "run": "cat done.txt"}],
    )
    env = {**os.environ, **GIT_ENV}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nox", "-s", "run", "--", "slow"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    reader: list[list[tuple[float, str]]] = []
    thread = threading.Thread(target=lambda: reader.append(read_lines_with_times(proc)))
    thread.start()
    assert proc.wait(timeout=120) == 0
    thread.join()
    seen = reader[0]
    lines = [line for _, line in seen]
    assert arrival(seen, "[execute] step-2") - arrival(seen, "[execute] step-1") >= 6
    assert "[verify] step-2" in lines  # acceptance output too, with its own phase
    assert not any("\x1b" in line for line in lines)  # a pipe is not a terminal: no colour
    on_disk = (runs_of(repo, "slow")[-1] / "logs" / "execute.log").read_text(encoding="utf-8")
    assert "step-1" in on_disk and "[execute]" not in on_disk


def test_a_live_line_is_redacted_escaped_and_prefixed(tmp_path: Path) -> None:
    secret = "s3cr3t-VALUE-9f8e7d6c5b4a"
    terminal = io.StringIO()
    redactor = Redactor.from_environ({"API_TOKEN": secret})
    log = PhaseLog(tmp_path / "logs" / "execute.log", redactor, stream=terminal)
    log.live(f"token={secret} \x1b[2J\x1b]0;title\x07 done\r\n")
    shown = terminal.getvalue()
    assert shown.startswith("[execute] ") and shown.endswith(" done\n")
    assert secret not in shown
    assert "\x1b" not in shown and "\x07" not in shown and "\\x1b[2J" in shown
    assert (tmp_path / "logs" / "execute.log").read_text(encoding="utf-8") == ""


@pytest.mark.parametrize(
    ("stream", "environ", "expected"),
    [
        (FakeTerminal(), {}, True),
        (FakeTerminal(), {"NO_COLOR": "1"}, False),
        (FakeTerminal(), {"NO_COLOR": ""}, False),
        (io.StringIO(), {}, False),
    ],
    ids=["terminal", "no-color", "no-color-empty", "pipe"],
)
def test_colour_only_on_a_terminal_without_no_color(
    stream: io.StringIO, environ: dict[str, str], expected: bool
) -> None:
    assert use_color(stream, environ) is expected
    assert ("\x1b[" in live_line("verify", "x", color=expected)) is expected


def test_escaping_keeps_printable_text_and_shows_every_control_character() -> None:
    assert terminal("plain ünïcode text") == "plain ünïcode text"
    assert terminal("a\tb\x00c\u202ed\x7f") == "a\\tb\\x00c\\u202ed\\x7f"


def test_a_silent_phase_shows_a_heartbeat_with_its_elapsed_time(tmp_path: Path) -> None:
    terminal = io.StringIO()
    log = PhaseLog(tmp_path / "logs" / "execute.log", Redactor(), stream=terminal)
    with heartbeat(log, every=0.3):
        time.sleep(1.0)
    beats = [line for line in terminal.getvalue().splitlines() if "still running" in line]
    assert len(beats) >= 2
    assert beats[0].startswith("[execute] still running (") and beats[0].endswith("s)")
    assert (tmp_path / "logs" / "execute.log").read_text(encoding="utf-8") == ""


def test_no_heartbeat_while_the_phase_keeps_talking(tmp_path: Path) -> None:
    terminal = io.StringIO()
    log = PhaseLog(tmp_path / "logs" / "execute.log", Redactor(), stream=terminal)
    with heartbeat(log, every=0.5):
        for n in range(10):
            log.live(f"line {n}")
            time.sleep(0.1)
    assert "still running" not in terminal.getvalue()


def test_a_log_on_disk_holds_no_raw_escape_sequence(tmp_path: Path) -> None:
    log = PhaseLog(tmp_path / "logs" / "execute.log", Redactor.from_environ({}))
    log.write("before \x1b]0;title\x07\x1b[2J\rrun 1: succeeded\tafter")
    text = (tmp_path / "logs" / "execute.log").read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b[2J" in text and "\tafter" in text

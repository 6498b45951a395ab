"""ORCH_UNSAFE_NO_ISOLATION=1: the command runs on the host, with no jail, recorded as UNSAFE.

The same supervisor watches it (output, time, kill switch, memory by RSS), and the
declared forwards still listen (on the host's loopback), so agents keep working.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from orchestrator.sandbox.environment import build_env
from orchestrator.sandbox.limits import Level
from orchestrator.sandbox.spec import Execution, LineHook, SandboxSpec
from orchestrator.sandbox.supervisor import Channels, SetupFailed, supervise


def run_unsafe(
    argv: Sequence[str],
    spec: SandboxSpec,
    *,
    cwd: Path | None,
    stdin: bytes | None,
    timeout: float | None,
    on_line: LineHook | None,
    stop_file: Path | None,
) -> Execution:
    from orchestrator.errors import Refused
    from orchestrator.sandbox import INSIDE

    workdir = (cwd or spec.workspace).resolve()
    spec.scratch.mkdir(parents=True, exist_ok=True)
    none_r, none_w = os.pipe()
    os.close(none_w)
    init_r, init_w = os.pipe()
    config = {
        "argv": list(argv),
        "status_fd": init_w,
        "nproc": None,
        "forwards": [{"port": f.port, "socket": str(f.socket)} for f in spec.forwards],
    }
    full = [sys.executable, "-I", "-S", "-c", INSIDE.read_text(encoding="utf-8"), json.dumps(config)]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            full,
            cwd=workdir,
            env=build_env(spec),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(init_w,),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        )
    finally:
        os.close(init_w)
    channels = Channels(bwrap_status=none_r, init_status=init_r)
    try:
        result, _ = supervise(argv, proc, spec, channels, stdin, timeout, start, stop_file, None, on_line)
    except SetupFailed as exc:
        raise Refused(f"the command could not be started: {exc}") from None
    finally:
        os.close(none_r)
        os.close(init_r)
    result.limits_enforced = {"memory": Level.NONE, "processes": Level.NONE, "cpu": Level.NONE}
    return result

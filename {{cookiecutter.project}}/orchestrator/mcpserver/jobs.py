"""Runs a control plane started: each one `python -m orchestrator run` in its own process group.

`start_run` answers at once with the run id (chosen here and handed to the run), and the run
goes on in the background; `cancel_run` sends that one run SIGTERM, which the pipeline turns
into an aborted phase, and the run still finalizes (manifest, summary, evidence, publish).
The global kill switch stays what it is: `ORCH_KILL_SWITCH=1` or `.orchestrator/STOP`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import BadInput, Refused
from orchestrator.runs import new_run_id

LOGS = "mcp"


@dataclass
class Job:
    run_id: str
    task_id: str
    client: str
    process: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Jobs:
    repo: Path
    state_dir: Path
    jobs: dict[str, Job] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def running(self) -> list[Job]:
        with self.lock:
            return [job for job in self.jobs.values() if job.alive]

    def start(self, task_id: str, client: str, max_concurrent: int) -> Job:
        with self.lock:
            live = [job for job in self.jobs.values() if job.alive]
            if len(live) >= max_concurrent:
                raise Refused(
                    f"{len(live)} run(s) already going (policy max_concurrent_runs = {max_concurrent}); "
                    "wait for one to finish (get_run) or cancel one (cancel_run)"
                )
            run_id = new_run_id()
            log_dir = self.state_dir / LOGS
            log_dir.mkdir(parents=True, exist_ok=True)
            with open(log_dir / f"{run_id}.log", "wb") as log:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "orchestrator",
                        "run",
                        task_id,
                        "--run-id",
                        run_id,
                        "--started-by",
                        client,
                    ],
                    cwd=self.repo,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ, "NO_COLOR": "1"},
                )
            job = Job(run_id, task_id, client, process)
            self.jobs[run_id] = job
            return job

    def cancel(self, run_id: str) -> bool:
        """True when the run was going and has been told to stop; False when it had already ended."""
        with self.lock:
            job = self.jobs.get(run_id)
        if job is None:
            raise BadInput(
                f"run {run_id!r} was not started by this server; only its own runs can be cancelled "
                "(the global kill switch stops every run)"
            )
        if not job.alive:
            return False
        try:
            os.kill(job.process.pid, signal.SIGTERM)  # the run's own process; it finalizes and exits
        except ProcessLookupError:
            return False
        return True

    def stop_all(self, timeout: float = 30.0) -> None:
        """Stops every run still going (each finalizes) and waits for them. The server does not call
        this when it shuts down: a client that disconnects leaves its runs to finish on their own."""
        for job in self.running():
            self.cancel(job.run_id)
        for job in list(self.jobs.values()):
            try:
                job.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(job.process.pid, signal.SIGKILL)
                job.process.wait()

"""Every control-plane call, on the record; and a simple per-client rate limit.

Each call appends one JSON line to `.orchestrator/control-plane.jsonl`: the time, the tool,
the client, a digest of the arguments (never the arguments: a proposal may be large, and the
log must not become a copy of what it records) and the outcome.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.clock import utc_now

LOG_FILE = "control-plane.jsonl"
DEFAULT_RATE_PER_MINUTE = 60
WINDOW_SECONDS = 60.0


def arguments_digest(arguments: dict[str, Any]) -> str:
    canonical = json.dumps(arguments, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class AuditLog:
    path: Path

    def record(
        self, tool: str, client: str, arguments: dict[str, Any], outcome: str, detail: str = ""
    ) -> None:
        entry = {
            "time": utc_now(),
            "tool": tool,
            "client": client,
            "arguments": arguments_digest(arguments),
            "outcome": outcome,
            "detail": detail[:500],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps(entry, ensure_ascii=True, sort_keys=True) + "\n")


@dataclass
class RateLimiter:
    """At most `per_minute` calls per client in any sliding minute."""

    per_minute: int = DEFAULT_RATE_PER_MINUTE
    calls: dict[str, deque[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, client: str, now: float | None = None) -> float | None:
        """None when the call may go ahead (and is counted); else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self.lock:
            window = self.calls.setdefault(client, deque())
            while window and now - window[0] >= WINDOW_SECONDS:
                window.popleft()
            if len(window) >= self.per_minute:
                return round(WINDOW_SECONDS - (now - window[0]), 1)
            window.append(now)
            return None

"""Codex's `--json` event stream, read as it arrives: usage counters, agent breakers, live lines.

Pure functions over the parsed events; the codex executor feeds them from the jail's line hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.breakers import check_agent
from orchestrator.errors import Tripped

LIVE_WIDTH = 160
"""Characters of a command or path shown in one live line."""


def _item(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's `item` object, or an empty one."""
    item = event.get("item")
    return item if isinstance(item, dict) else {}


def _count(usage: Mapping[str, Any], name: str) -> int:
    """A token count as codex reports it: a whole number, never negative. Anything else did not come from
    codex (a command can write to codex's output through /proc): the attempt is stopped as tampered."""
    value = usage.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Tripped(
            "agent_events",
            0,
            1,
            f"usage.{name} = {str(value)[:40]!r} is not a token count codex writes: "
            "the agent's event stream was tampered with",
        )
    return value


@dataclass
class Usage:
    """What one attempt consumed, from its `--json` events."""

    turns: int = 0
    commands: int = 0
    file_changes: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    turn_completed: bool = False
    errors: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    activity: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def feed(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        item = _item(event)
        if kind == "turn.started":
            self.turns += 1
        elif kind in ("item.started", "item.completed") and item.get("type") == "command_execution":
            if item.get("id") not in self._seen:
                self._seen.add(str(item.get("id")))
                self.commands += 1
            if kind == "item.completed":
                self.activity.append(f"command `{item.get('command', '')}` exited {item.get('exit_code')}")
        elif kind == "item.completed" and item.get("type") == "file_change":
            self.file_changes += 1
            for change in item.get("changes", []):
                self.activity.append(f"file {change.get('kind', 'change')}: {change.get('path', '')}")
        elif kind == "item.completed" and item.get("type") == "agent_message":
            self.messages.append(str(item.get("text", "")))
        elif kind == "item.completed" and item.get("type") == "error":
            self.errors.append(str(item.get("message", "")))
        elif kind == "turn.completed":
            self.turn_completed = True
            usage = event.get("usage") or {}
            counts = {
                name: _count(usage, name)
                for name in ("input_tokens", "cached_input_tokens", "output_tokens", "total_tokens")
            }
            self.input_tokens += counts["input_tokens"]
            self.cached_input_tokens += counts["cached_input_tokens"]
            self.output_tokens += counts["output_tokens"]
            self.total_tokens += counts["total_tokens"] or counts["input_tokens"] + counts["output_tokens"]
        elif kind == "error":
            self.errors.append(str(event.get("message", "")))
        elif kind == "turn.failed":
            error = event.get("error") or {}
            self.errors.append(str(error.get("message", "") if isinstance(error, dict) else error))

    def counters(self) -> dict[str, int]:
        return {
            "turns": self.turns,
            "commands": self.commands,
            "file_changes": self.file_changes,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }


def check_breakers(
    before: Mapping[str, int], now: Usage, limits: Mapping[str, Any]
) -> tuple[str, int, int] | None:
    """The first agent limit the run (earlier attempts included) has gone past, if any."""
    trip = check_agent(summed(before, now), limits)
    return (trip.name, int(trip.limit), int(trip.measured)) if trip else None


def summed(before: Mapping[str, int], now: Usage) -> dict[str, int]:
    counters = now.counters()
    keys = sorted({*before, *counters})
    return {k: int(before.get(k, 0)) + counters.get(k, 0) for k in keys}


def live_summary(event: Mapping[str, Any], workspace: Path) -> str | None:
    """One line for the terminal about an event worth showing (command, file change, turn), else None."""
    kind = event.get("type")
    item = _item(event)
    prefix = f"{workspace}/"

    def short(text: object) -> str:
        flat = " ".join(str(text).replace(prefix, "").split())
        return flat if len(flat) <= LIVE_WIDTH else flat[: LIVE_WIDTH - 1] + "…"

    if item.get("type") == "command_execution" and kind == "item.started":
        return f"codex: $ {short(item.get('command', ''))}"
    if item.get("type") == "command_execution" and kind == "item.completed":
        return f"codex: command exited {item.get('exit_code')}: {short(item.get('command', ''))}"
    if item.get("type") == "file_change" and kind == "item.completed":
        changes = [f"{c.get('kind', 'change')} {c.get('path', '')}" for c in item.get("changes", [])]
        return f"codex: file {short(', '.join(changes))}"
    if kind == "turn.completed":
        tokens = (event.get("usage") or {}).get("output_tokens", 0)
        return f"codex: turn done ({tokens} output tokens)"
    if kind == "turn.failed":
        error = event.get("error") or {}
        return f"codex: turn failed: {short(error.get('message', '') if isinstance(error, dict) else error)}"
    return None

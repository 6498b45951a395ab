"""A scripted model endpoint on 127.0.0.1 that speaks the Responses streaming API.

The codex executor is tested against the real Codex CLI; only the *model* is
fake. Each POST /v1/responses consumes the next step of a script: a tool call
(`exec_command`, or `apply_patch` as a custom tool call), a final message, or a
failure mode (HTTP error, a stream cut before `response.completed`, a hang).
Every request is recorded so tests can assert what codex sent: the prompt, the
tool outputs it fed back, and the Bearer key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

USAGE = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}


@dataclass(frozen=True)
class Step:
    """One model turn: what the endpoint answers to the next request."""

    kind: str
    """exec | patch | message | http_error | truncated | hang"""
    text: str = ""
    status: int = 0
    usage: dict[str, int] = field(default_factory=lambda: dict(USAGE))


def exec_command(cmd: str) -> Step:
    return Step("exec", cmd)


def apply_patch(patch: str) -> Step:
    return Step("patch", patch)


def message(text: str) -> Step:
    return Step("message", text)


def http_error(status: int = 500, text: str = "scripted failure") -> Step:
    return Step("http_error", text, status=status)


def truncated() -> Step:
    """A stream that sends an item and then ends without `response.completed`."""
    return Step("truncated")


def hang() -> Step:
    """Accept the request and never answer (until the endpoint is stopped)."""
    return Step("hang")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")

    def input_text(self) -> str:
        """Every text the request carries in `input` (prompt turns and tool outputs), joined."""
        return "\n".join(_texts(self.body.get("input", [])))


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in ("text", "output", "content", "input", "arguments"):
                yield from _texts(item)


class ScriptedModel:
    """Serve `steps` in order, one per request; past the end, answer with a final message."""

    def __init__(self, steps: Iterable[Step], *, hang_seconds: float = 120.0) -> None:
        self.steps = list(steps)
        self.requests: list[Received] = []
        self.hang_seconds = hang_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-model", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _next(self, received: Received) -> tuple[int, Step]:
        with self._lock:
            index = len(self.requests)
            self.requests.append(received)
        step = self.steps[index] if index < len(self.steps) else message("done")
        return index, step

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._plain(404, "not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"unparsed": raw.decode("utf-8", "replace")}
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                index, step = model._next(received)
                if step.kind == "http_error":
                    error = {"error": {"message": step.text, "type": "invalid_request_error", "code": None}}
                    self._plain(step.status, json.dumps(error), "application/json")
                    return
                if step.kind == "hang":
                    model._stop.wait(model.hang_seconds)
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                rid = f"resp_{index}"
                self._event({"type": "response.created", "response": {"id": rid}})
                self._event({"type": "response.output_item.done", "item": _item(step, index)})
                if step.kind == "truncated":
                    self.wfile.flush()
                    return
                self._event(
                    {"type": "response.completed", "response": {"id": rid, "usage": _usage(step.usage)}}
                )
                self.wfile.flush()

            def _event(self, payload: dict[str, Any]) -> None:
                frame = f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n"
                self.wfile.write(frame.encode("utf-8"))

            def _plain(self, status: int, text: str, ctype: str = "text/plain") -> None:
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

        return Handler


def _usage(usage: dict[str, int]) -> dict[str, Any]:
    return {
        **usage,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def _item(step: Step, index: int) -> dict[str, Any]:
    call_id = f"call_{index}"
    if step.kind == "exec":
        return {
            "type": "function_call",
            "id": f"fc_{index}",
            "call_id": call_id,
            "name": "exec_command",
            "arguments": json.dumps({"cmd": step.text}),
        }
    if step.kind == "patch":
        return {
            "type": "custom_tool_call",
            "id": f"ctc_{index}",
            "call_id": call_id,
            "name": "apply_patch",
            "input": step.text,
        }
    text = step.text or "partial answer"
    return {
        "type": "message",
        "id": f"msg_{index}",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }

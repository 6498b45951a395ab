"""The model proxy: the one way an agent in the jail reaches its model, with the key kept outside.

It runs in the orchestrator's process (the host side), listens on a unix socket that the
sandbox forwards to 127.0.0.1:<port> inside the jail, and forwards requests to ONE declared
model endpoint (its base URL), adding `Authorization: Bearer <key>` itself. The agent is
pointed at `http://127.0.0.1:<port>/v1` with no key in its environment, so neither it nor
any command it runs can read the key; they can only ask this proxy for model turns.

Only the model API's own paths under `/v1/` are forwarded (`responses`, `models`); any other
path, method or absolute-form URL is refused with 403 and recorded, and nothing is ever sent
to another host. Responses (server-sent events) are streamed through as they arrive. Every
request is recorded (method, path, status, bytes), never its body or the key.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import re
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from orchestrator.egress import printable

LOG = logging.getLogger("orchestrator.modelproxy")
DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""The OpenAI API, where codex's built-in provider sends its turns."""
JAIL_PREFIX = "/v1/"
"""The path prefix the agent uses inside the jail (its base URL is http://127.0.0.1:<port>/v1)."""
ALLOWED = re.compile(r"^(responses(/[A-Za-z0-9_-]{1,100}){0,2}|models(/[A-Za-z0-9._:-]{1,100})?)$")
"""Paths below the base URL the proxy forwards: the Responses API and the model list."""
METHODS = ("GET", "POST")
BODY_LIMIT = 64 * 1024 * 1024
UPSTREAM_TIMEOUT = 300.0
MAX_CONNECTIONS = 16
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "host", "authorization", "content-length", "cookie", "proxy-connection"}
)  # fmt: skip
"""Request headers never passed on: hop-by-hop ones, and credentials the proxy alone sets."""


@dataclass(frozen=True)
class Upstream:
    """The one endpoint requests go to: scheme, host, port and the base path (e.g. `/v1`)."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, base_url: str) -> Upstream:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname or url.username or url.password:
            raise ValueError(f"model endpoint {base_url!r} is not an http(s) URL without credentials")
        return cls(url.scheme, url.hostname, url.port or (443 if url.scheme == "https" else 80),
                   url.path.rstrip("/"))  # fmt: skip

    def connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=UPSTREAM_TIMEOUT,
                                               context=ssl.create_default_context())  # fmt: skip
        return http.client.HTTPConnection(self.host, self.port, timeout=UPSTREAM_TIMEOUT)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    proxy: ModelProxy

    def process_request(self, request: Any, client_address: Any) -> None:
        """One named daemon thread per connection (ThreadingMixIn's, with a name to account for)."""
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name="model-proxy-conn", daemon=True)  # fmt: skip
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request that breaks the handler is the jail's doing: recorded, never a traceback
        on the host's terminal."""
        self.proxy.refuse("?", "?", "a malformed request broke the connection")


@dataclass
class ModelProxy:
    """Holds the key; `forwarded` and `refused` record what it did, in order."""

    socket_path: Path
    base_url: str
    key: str
    forwarded: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    dropped: int = 0
    _server: _Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: list[socket.socket] = field(default_factory=list)
    _slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(MAX_CONNECTIONS)
    )

    def __post_init__(self) -> None:
        self.upstream = Upstream.parse(self.base_url)

    def start(self) -> ModelProxy:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        server = _Server(str(self.socket_path), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="model-proxy", daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and cuts every upstream connection still open (a hung endpoint holds no thread)."""
        with self._lock:
            open_now, self._open = list(self._open), []
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, method: str, path: str, status: int, size: int) -> None:
        with self._lock:
            self.forwarded.append(
                {"method": method, "path": printable(path), "status": status, "bytes": size}
            )

    def refuse(self, method: str, target: str, why: str) -> None:
        with self._lock:
            self.refused.append({"kind": "model", "target": printable(f"{method} {target}"), "reason": why})
        LOG.info("model proxy refused %s %s: %s", printable(method), printable(target), why)

    def target_path(self, method: str, path: str) -> str | None:
        """The upstream path for a jail request, or None (and a record) when it is not forwarded."""
        if method not in METHODS:
            self.refuse(method, path, "method not allowed")
            return None
        if not path.startswith(JAIL_PREFIX):
            self.refuse(
                method, path, "not a path of the model API (absolute URLs and other hosts are refused)"
            )
            return None
        rest, _, query = path[len(JAIL_PREFIX) :].partition("?")
        if not ALLOWED.match(rest) or any(not c.isprintable() for c in query):
            self.refuse(method, path, "not a model API path this proxy forwards")
            return None
        return f"{self.upstream.path}/{rest}" + (f"?{query}" if query else "")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def address_string(self) -> str:
        return "jail"

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()

    def do_CONNECT(self) -> None:
        self._forward()

    def _forward(self) -> None:
        proxy = self.server.proxy
        self.close_connection = True
        if not proxy._slots.acquire(blocking=False):
            with proxy._lock:
                proxy.dropped += 1
            self._plain(503, "model proxy: too many connections")
            return
        try:
            self._forward_one(proxy)
        finally:
            proxy._slots.release()

    def _forward_one(self, proxy: ModelProxy) -> None:
        target = proxy.target_path(self.command, self.path)
        if target is None:
            self._plain(403, "model proxy: only the model API is reachable here")
            return
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            proxy.refuse(self.command, self.path, "chunked request bodies are not forwarded")
            self._plain(411, "model proxy: send a Content-Length")
            return
        raw_length = (self.headers.get("content-length") or "0").strip()
        if not raw_length.isdigit():
            proxy.refuse(self.command, self.path, "a Content-Length that is not a number")
            self._plain(400, "model proxy: bad Content-Length")
            return
        length = int(raw_length)
        if length > BODY_LIMIT:
            proxy.refuse(self.command, self.path, f"body of {length} bytes is over the {BODY_LIMIT} cap")
            self._plain(413, "model proxy: request too large")
            return
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Authorization"] = f"Bearer {proxy.key}"
        headers["Content-Length"] = str(len(body))
        conn = proxy.upstream.connection()
        sock: socket.socket | None = None
        try:
            conn.connect()
            sock = conn.sock  # the response keeps this socket after conn lets go of it
            with proxy._lock:
                proxy._open.append(sock)
            conn.request(self.command, target, body=body, headers=headers)
            response = conn.getresponse()
            size = self._relay(response)
        except (OSError, http.client.HTTPException) as exc:
            proxy.record(self.command, self.path, 502, 0)
            LOG.info("model proxy: upstream failed: %s", type(exc).__name__)
            self._plain(502, f"model proxy: the model endpoint failed ({type(exc).__name__})")
            return
        finally:
            with proxy._lock:
                if sock in proxy._open:
                    proxy._open.remove(sock)
            conn.close()
        proxy.record(self.command, self.path, response.status, size)

    def _relay(self, response: http.client.HTTPResponse) -> int:
        """Streams the answer through as it arrives (SSE frames are flushed one read at a time)."""
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "set-cookie":
                self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        size = 0
        while chunk := response.read1(65536):
            size += len(chunk)
            self.wfile.write(chunk)
            self.wfile.flush()
        return size

    def _plain(self, status: int, text: str) -> None:
        data = (text + "\n").encode("utf-8")
        try:
            self.send_response_only(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

"""The allowlisting egress proxy: the sandbox's only way out, and only to declared hosts.

It runs in the orchestrator's process, outside the sandbox's network namespace, and
listens on a unix socket; a forwarder inside the namespace (sandbox_init) exposes it
as 127.0.0.1:<port>, and HTTP_PROXY / HTTPS_PROXY point there. It speaks the two
forms clients use: `CONNECT host:port` (HTTPS and any TLS) and absolute-form plain
HTTP requests. Everything not declared gets `403` and is recorded, so every denied
attempt that went through the proxy is named in the run's evidence. Names are
resolved here, outside, only for declared hosts: DNS is never reachable inside.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LOG = logging.getLogger("orchestrator.egress")
HEAD_LIMIT = 64 * 1024
CONNECT_TIMEOUT = 10.0
DEFAULT_PORTS = (80, 443)
"""Ports a host declared without one may use."""


@dataclass(frozen=True)
class Allow:
    host: str
    port: int | None

    def permits(self, host: str, port: int) -> bool:
        if self.host != host.lower().rstrip("."):
            return False
        return port == self.port if self.port is not None else port in DEFAULT_PORTS


def parse_allowlist(hosts: Iterable[str]) -> tuple[Allow, ...]:
    """`example.com` (ports 80, 443) or `example.com:8443` / `127.0.0.1:5000` (that port)."""
    out = []
    for entry in hosts:
        host, sep, port = entry.strip().rpartition(":")
        if not sep:
            host, port = entry.strip(), ""
        out.append(Allow(host.lower().rstrip("."), int(port) if port else None))
    return tuple(out)


def split_target(target: str, default_port: int) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or a bare host, as (host, port)."""
    if target.startswith("["):
        inner, _, rest = target[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return inner, int(port) if port.isdigit() else default_port
    host, sep, port = target.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return target, default_port


@dataclass
class EgressProxy:
    """One proxy per sandboxed process; `denied` lists what it refused, in order."""

    socket_path: Path
    allow: tuple[Allow, ...]
    denied: list[dict[str, str]] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    _server: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> EgressProxy:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.socket_path))
        server.listen(64)
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="egress-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._server is not None:
            self._server.close()
        self.socket_path.unlink(missing_ok=True)

    def _serve(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._stop.is_set():
                client.close()
                return
            threading.Thread(target=self._handle, args=(client,), name="egress-conn", daemon=True).start()

    def _deny(self, client: socket.socket, host: str, port: int, why: str) -> None:
        target = f"{host}:{port}"
        with self._lock:
            self.denied.append({"kind": "network", "target": target})
        LOG.info("egress denied %s: %s", target, why)
        body = (f"orchestrator egress proxy: {target} refused: {why}\n").encode()
        head = f"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        try:
            client.sendall(head.encode() + body)
        except OSError:
            pass

    def _handle(self, client: socket.socket) -> None:
        with client:
            client.settimeout(CONNECT_TIMEOUT)
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            request, _, rest = head.partition(b"\r\n\r\n")
            lines = request.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                self._deny(client, "(malformed request)", 0, "not an HTTP proxy request")
                return
            method, target, version = parts
            if method.upper() == "CONNECT":
                host, port = split_target(target, 443)
                tail = rest
            else:
                url = urlsplit(target)
                if url.scheme.lower() != "http" or not url.hostname:
                    self._deny(client, url.hostname or target[:100], url.port or 80, "only absolute http:// URLs and CONNECT")
                    return
                host, port = url.hostname, url.port or 80
                path = url.path or "/"
                if url.query:
                    path += "?" + url.query
                kept = [ln for ln in lines[1:] if not ln.lower().startswith("proxy-")]
                tail = ("\r\n".join([f"{method} {path} {version}", *kept]) + "\r\n\r\n").encode("latin-1") + rest
            if not any(rule.permits(host, port) for rule in self.allow):
                self._deny(client, host, port, "not declared in safety.network.hosts")
                return
            try:
                upstream = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                body = f"orchestrator egress proxy: cannot reach {host}:{port}: {exc}\n".encode()
                try:
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n" + body)
                except OSError:
                    pass
                return
            with self._lock:
                self.allowed.append(f"{host}:{port}")
            with upstream:
                try:
                    if method.upper() == "CONNECT":
                        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    if tail:
                        upstream.sendall(tail)
                except OSError:
                    return
                pump(client, upstream, self._stop)


def pump(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    """Copies both ways until either side closes (half-close is passed on)."""
    a.settimeout(None)
    b.settimeout(None)
    selector = selectors.DefaultSelector()
    selector.register(a, selectors.EVENT_READ, b)
    selector.register(b, selectors.EVENT_READ, a)
    open_sides = 2
    try:
        while open_sides and not stop.is_set():
            for key, _ in selector.select(timeout=0.5):
                source = key.fileobj
                assert isinstance(source, socket.socket)
                try:
                    data = source.recv(65536)
                except OSError:
                    return
                if not data:
                    selector.unregister(source)
                    open_sides -= 1
                    try:
                        key.data.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                try:
                    key.data.sendall(data)
                except OSError:
                    return
    finally:
        selector.close()

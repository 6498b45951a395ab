"""The allowlisting egress proxy: the sandbox's only way out, and only to declared hosts.

It runs in the orchestrator's process, outside the sandbox's network namespace, and
listens on a unix socket; a forwarder inside the namespace exposes it as
127.0.0.1:<port>, and HTTP_PROXY / HTTPS_PROXY point there. It speaks the two forms
clients use: `CONNECT host:port` (HTTPS and any TLS) and absolute-form plain HTTP
requests. Everything not declared gets `403` and is recorded, so every denied attempt
that went through the proxy is named in the run's evidence.

Egress is decided by address, not by name. A declared host name is resolved here,
outside, once per connection; every address it resolves to must be public (not
loopback, private, link-local, unspecified, multicast, reserved or a cloud metadata
address), and the connection goes to that checked address, never to a second lookup.
Loopback and private addresses are reachable only when the pack declares them as a
canonical IPv4 literal (`127.0.0.1:8080`); numeric aliases such as `2130706433`,
`127.1` or `0x7f.1` are refused by validation and never match a rule. Concurrent
connections are capped; what is dropped over the cap is recorded.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
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
MAX_CONNECTIONS = 64
"""Connections the proxy serves at once; one more is closed at once and recorded as dropped."""
DROPPED_TARGET = "(connection cap reached)"
NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?$", re.IGNORECASE)
"""Anything an inet_aton-style parser may read as an address: decimal, octal or hex parts, 1 to 4 of them."""
METADATA = tuple(
    ipaddress.ip_network(n) for n in ("100.100.100.200/32", "fd00:ec2::254/128", "100.64.0.0/10")
)
"""Cloud metadata services (Alibaba, AWS IPv6) and the shared range they live in;
169.254.169.254 is link-local."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def printable(text: str, limit: int = 200) -> str:
    """`text` with every control or non-printable character escaped (`\\x1b`), capped at `limit`."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[:limit])
    return out + ("…" if len(text) > limit else "")


def has_control(text: str) -> bool:
    return any(not c.isprintable() for c in text)


def canonical_ip(host: str) -> IPAddress | None:
    """The address `host` is, when it is written canonically (dotted quad, no leading zeros; or IPv6)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address if str(address) == host.lower() else None


def host_problem(entry: str) -> str | None:
    """Why a declared `host[:port]` cannot be a rule (None when it can): numeric aliases and bad ports."""
    host, sep, port = entry.rpartition(":")
    if not sep:
        host, port = entry, ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return f"port {port!r} is not between 1 and 65535"
    if canonical_ip(host) is None and NUMERIC_HOST.match(host):
        return (
            f"{host!r} is a numeric alias of an address, not a host name; write the address as a canonical "
            "dotted quad (e.g. 127.0.0.1:8080) or use the host's name"
        )
    return None


def public(address: IPAddress) -> bool:
    """Whether a declared host *name* may lead to this address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not public(embedded):
            return False
    if any(address in net for net in METADATA if net.version == address.version):
        return False
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Allow:
    """One declared host: a name (resolved, public addresses only) or a canonical IP literal
    (that address)."""

    host: str
    port: int | None

    @property
    def literal(self) -> IPAddress | None:
        return canonical_ip(self.host)

    def permits(self, host: str, port: int) -> bool:
        if not (port == self.port if self.port is not None else port in DEFAULT_PORTS):
            return False
        literal = self.literal
        if literal is not None:
            return canonical_ip(host) == literal
        return self.host == host.lower().rstrip(".")


def parse_allowlist(hosts: Iterable[str]) -> tuple[Allow, ...]:
    """`example.com` (ports 80, 443) or `example.com:8443` / `127.0.0.1:5000` (that port).

    Entries validation refuses (numeric aliases) never become rules."""
    out = []
    for entry in hosts:
        text = entry.strip()
        if host_problem(text):
            LOG.warning("egress: ignored declared host %s: %s", printable(text), host_problem(text))
            continue
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, ""
        out.append(Allow(host.lower().rstrip("."), int(port) if port else None))
    return tuple(out)


def resolve_checked(rule: Allow, host: str, port: int) -> tuple[list[tuple[str, int]], str]:
    """(addresses to connect to, why refused): a literal rule gives its own address; a name is resolved
    once and refused when any address it resolves to is not public."""
    literal = rule.literal
    if literal is not None:
        return [(str(literal), port)], ""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return [], f"cannot resolve {host}: {exc}"
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    blocked = [a for a in addresses if not public(ipaddress.ip_address(a.split("%")[0]))]
    if blocked:
        return [], (
            f"{host} resolves to non-public address {', '.join(blocked)}; declare a loopback or private "
            "address as an IP literal (e.g. 127.0.0.1:8080) to reach it"
        )
    if not addresses:
        return [], f"{host} resolves to no address"
    return [(a, port) for a in addresses], ""


def connect_checked(addresses: list[tuple[str, int]]) -> socket.socket:
    """Connects to the first checked address that answers (no second lookup)."""
    error: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection(address, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            error = exc
    raise error


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
    """One proxy per sandboxed process.

    `allowed` lists the `host:port` targets it connected to and `denied` what it refused (both in
    order, each once); `dropped` counts connections closed over the MAX_CONNECTIONS cap."""

    socket_path: Path
    allow: tuple[Allow, ...]
    denied: list[dict[str, str]] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    dropped: int = 0
    max_connections: int = MAX_CONNECTIONS
    _server: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: threading.BoundedSemaphore | None = None

    def start(self) -> EgressProxy:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.socket_path))
        server.listen(64)
        self._server = server
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._thread = threading.Thread(target=self._serve, name="egress-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._server is not None:
            self._server.close()
        self.socket_path.unlink(missing_ok=True)

    def _serve(self) -> None:
        assert self._server is not None and self._slots is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._stop.is_set():
                client.close()
                return
            if not self._slots.acquire(blocking=False):
                client.close()
                self._record_drop()
                continue
            threading.Thread(target=self._serve_one, args=(client,), name="egress-conn", daemon=True).start()

    def _record_drop(self) -> None:
        with self._lock:
            self.dropped += 1
            entry = {"kind": "network", "target": DROPPED_TARGET}
            if entry not in self.denied:
                self.denied.append(entry)
        LOG.info("egress dropped a connection over the cap of %d", self.max_connections)

    def _serve_one(self, client: socket.socket) -> None:
        assert self._slots is not None
        try:
            self._handle(client)
        finally:
            self._slots.release()

    def _deny(self, client: socket.socket, host: str, port: int, why: str) -> None:
        target = printable(f"{host}:{port}")
        with self._lock:
            entry = {"kind": "network", "target": target}
            if entry not in self.denied:
                self.denied.append(entry)
        LOG.info("egress denied %s: %s", target, printable(why, 400))
        body = f"orchestrator egress proxy: {target} refused: {printable(why, 400)}\n".encode()
        head = (
            f"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            client.sendall(head.encode() + body)

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
            if has_control(target):
                self._deny(client, target, 0, "the target holds control characters")
                return
            if method.upper() == "CONNECT":
                host, port = split_target(target, 443)
                tail = rest
            else:
                url = urlsplit(target)
                if url.scheme.lower() != "http" or not url.hostname:
                    self._deny(
                        client,
                        url.hostname or target[:100],
                        url.port or 80,
                        "only absolute http:// URLs and CONNECT",
                    )
                    return
                host, port = url.hostname, url.port or 80
                path = url.path or "/"
                if url.query:
                    path += "?" + url.query
                kept = [ln for ln in lines[1:] if not ln.lower().startswith("proxy-")]
                tail = ("\r\n".join([f"{method} {path} {version}", *kept]) + "\r\n\r\n").encode(
                    "latin-1"
                ) + rest
            rule = next((r for r in self.allow if r.permits(host, port)), None)
            if rule is None:
                self._deny(client, host, port, "not declared in safety.network.hosts")
                return
            addresses, why = resolve_checked(rule, host, port)
            if not addresses:
                self._deny(client, host, port, why)
                return
            try:
                upstream = connect_checked(addresses)
            except OSError as exc:
                body = f"orchestrator egress proxy: cannot reach {host}:{port}: {exc}\n".encode()
                with contextlib.suppress(OSError):
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n" + body)
                return
            with self._lock:
                if f"{host}:{port}" not in self.allowed:
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
                    with contextlib.suppress(OSError):
                        key.data.shutdown(socket.SHUT_WR)
                    continue
                try:
                    key.data.sendall(data)
                except OSError:
                    return
    finally:
        selector.close()

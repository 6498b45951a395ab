"""Egress by address, not by name: a declared name reaches only public addresses, loopback and
private ones only as a canonical IP literal; numeric aliases are refused by validation; the proxy
bounds its connections and escapes what it records.

The attacks run end to end through the shell executor and are judged from the host: the loopback
service sees no request and the run does not succeed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import manifest, orchestrator, runs_of, write_pack
from orchestrator.egress import DROPPED_TARGET, EgressProxy, host_problem, parse_allowlist, public
from orchestrator.sandbox import isolation_available

FAST = {"wall_seconds": 30, "phase_wall_seconds": 10}
needs_jail = pytest.mark.skipif(not isolation_available()[0] and not os.environ.get("CI"),
                                reason=f"no isolation here: {isolation_available()[1]}")  # fmt: skip


@pytest.mark.parametrize(
    "alias", ["2130706433", "127.1", "0x7f.1", "0x7f000001", "0177.0.0.1", "127.0.0.01", "10.1"]
)
def test_numeric_aliases_of_an_address_are_not_host_names(alias: str) -> None:
    assert host_problem(alias) is not None
    assert host_problem(f"{alias}:8080") is not None
    assert parse_allowlist([f"{alias}:8080"]) == ()


@pytest.mark.parametrize(
    "entry", ["pypi.org", "example.com:8443", "127.0.0.1:8080", "10.0.0.5:443", "a1.b2.dev"]
)
def test_names_and_canonical_literals_are_accepted(entry: str) -> None:
    assert host_problem(entry) is None


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.100.100.200",
     "100.64.0.1", "224.0.0.1", "::1", "::", "fe80::1", "fd00:ec2::254", "fc00::1", "::ffff:127.0.0.1",
     "2002:7f00:1::1"],
)  # fmt: skip
def test_a_name_may_never_lead_to_a_loopback_private_link_local_or_metadata_address(address: str) -> None:
    assert not public(ipaddress.ip_address(address))


def test_a_public_address_is_reachable_by_name() -> None:
    assert public(ipaddress.ip_address("93.184.216.34"))
    assert public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))


def test_a_literal_rule_matches_only_its_own_canonical_address() -> None:
    (rule,) = parse_allowlist(["127.0.0.1:8080"])
    assert rule.permits("127.0.0.1", 8080)
    assert not rule.permits("2130706433", 8080)
    assert not rule.permits("127.1", 8080)
    assert not rule.permits("localhost", 8080)
    assert not rule.permits("127.0.0.1", 8081)


# --- the proxy itself ----------------------------------------------------------------------------


def proxy_request(proxy: EgressProxy, request: bytes) -> bytes:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(proxy.socket_path))
    sock.sendall(request)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    return data


def test_a_declared_name_resolving_to_loopback_is_refused(tmp_path: Path, listener) -> None:
    port, accepted = listener
    proxy = EgressProxy(tmp_path / "s", parse_allowlist([f"localhost:{port}"])).start()
    try:
        answer = proxy_request(proxy, f"CONNECT localhost:{port} HTTP/1.1\r\n\r\n".encode())
    finally:
        proxy.stop()
    assert answer.startswith(b"HTTP/1.1 403") and b"non-public address 127.0.0.1" in answer
    assert accepted == []
    assert proxy.denied == [{"kind": "network", "target": f"localhost:{port}"}] and proxy.allowed == []


def test_a_declared_loopback_literal_is_reached_and_recorded_as_used(tmp_path: Path, listener) -> None:
    port, accepted = listener
    proxy = EgressProxy(tmp_path / "s", parse_allowlist([f"127.0.0.1:{port}"])).start()
    try:
        answer = proxy_request(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    finally:
        proxy.stop()
    assert answer.startswith(b"HTTP/1.1 200")
    assert accepted == [1]
    assert proxy.allowed == [f"127.0.0.1:{port}"] and proxy.denied == []


def test_a_target_with_control_characters_is_refused_and_recorded_escaped(tmp_path: Path) -> None:
    proxy = EgressProxy(tmp_path / "s", parse_allowlist(["example.com"])).start()
    try:
        answer = proxy_request(proxy, b"CONNECT ex\x1b[2Jample.com:443 HTTP/1.1\r\n\r\n")
    finally:
        proxy.stop()
    assert answer.startswith(b"HTTP/1.1 403")
    (entry,) = proxy.denied
    assert "\x1b" not in entry["target"] and "\\x1b" in entry["target"]


def test_connections_over_the_cap_are_dropped_and_recorded(tmp_path: Path) -> None:
    proxy = EgressProxy(tmp_path / "s", (), max_connections=4).start()
    idle = []
    try:
        for _ in range(12):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(proxy.socket_path))
            idle.append(sock)  # never sends a request: each holds a slot until the head timeout
        deadline = time.monotonic() + 5
        while proxy.dropped < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        serving = [t for t in threading.enumerate() if t.name == "egress-conn"]
        assert len(serving) <= 4
    finally:
        for sock in idle:
            sock.close()
        proxy.stop()
    assert proxy.dropped == 8
    assert {"kind": "network", "target": DROPPED_TARGET} in proxy.denied


# --- end to end: the attacks, judged from the host --------------------------------------------


@pytest.fixture
def web_server_hits() -> Iterator[tuple[int, list[str]]]:
    """A service on the host's loopback that records every request it sees."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"loopback service"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


FETCH = (
    'python3 -c "import urllib.request; '
    "open('got.txt', 'wb').write(urllib.request.urlopen('http://{host}:{port}/', timeout=5).read())\""
)


@needs_jail
@pytest.mark.parametrize("alias", ["2130706433", "127.1", "0x7f.1"])
def test_declaring_a_numeric_alias_is_refused_at_validation_and_reaches_nothing(
    repo: Path, listener, alias: str
) -> None:
    port, accepted = listener
    write_pack(repo, "alias", executor={"kind": "shell", "commands": [FETCH.format(host=alias, port=port)]},
               safety={"network": {"hosts": [f"{alias}:{port}"]}}, limits=FAST)  # fmt: skip
    proc = orchestrator(repo, "run", "alias")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "taskpacks/alias/task.yml:" in out and "safety.network.hosts[0]" in out and "numeric alias" in out
    assert "Traceback" not in out
    assert accepted == []
    assert all(m["status"] != "succeeded" for m in map(_manifest, runs_of(repo, "alias")))


@needs_jail
def test_declaring_localhost_does_not_reach_a_host_loopback_service(repo: Path, web_server_hits) -> None:
    port, hits = web_server_hits
    write_pack(
        repo,
        "by-name",
        executor={"kind": "shell", "commands": [FETCH.format(host="localhost", port=port)]},
        acceptance=[{"id": "fetched", "run": "test -s got.txt"}],
        safety={"network": {"hosts": [f"localhost:{port}"]}},
        limits=FAST,
    )
    proc = orchestrator(repo, "run", "by-name")
    (run_dir,) = runs_of(repo, "by-name")
    data = _manifest(run_dir)
    assert data["status"] != "succeeded", (data["status"], proc.stdout, proc.stderr)
    assert hits == []
    assert {"kind": "network", "target": f"localhost:{port}", "phase": "execute"} in data["safety"]["denied"]


@needs_jail
def test_the_same_service_declared_as_its_ip_literal_is_reached(repo: Path, web_server_hits) -> None:
    port, hits = web_server_hits
    write_pack(
        repo,
        "by-ip",
        executor={"kind": "shell", "commands": [FETCH.format(host="127.0.0.1", port=port)]},
        acceptance=[{"id": "fetched", "run": "test -s got.txt"}],
        safety={"network": {"hosts": [f"127.0.0.1:{port}"]}},
        limits=FAST,
    )
    proc = orchestrator(repo, "run", "by-ip")
    (run_dir,) = runs_of(repo, "by-ip")
    data = _manifest(run_dir)
    assert data["status"] == "succeeded", (data["reason"], proc.stdout, proc.stderr)
    assert hits, "the declared literal must reach the service"


def _manifest(run_dir: Path) -> dict:

    return manifest(run_dir)

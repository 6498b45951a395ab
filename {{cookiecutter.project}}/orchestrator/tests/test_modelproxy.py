"""The model proxy: one endpoint, the key added on the host side, answers streamed, all else refused.

A real proxy on a real unix socket in front of a real HTTP endpoint on 127.0.0.1;
requests are made the way codex makes them from inside the jail.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scripted_model import ScriptedModel, message

from orchestrator.modelproxy import ModelProxy

KEY = "sk-proxy-test-0123456789SECRET"


class UnixHTTPConnection(http.client.HTTPConnection):
    """What the jail-side forwarder does: HTTP to the proxy's unix socket."""

    def __init__(self, path: Path) -> None:
        super().__init__("127.0.0.1", timeout=30)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(str(self.path))
        self.sock = sock


def ask(proxy: ModelProxy, method: str, path: str, body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
    conn = UnixHTTPConnection(proxy.socket_path)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel([message("first"), message("second")]) as scripted:
        yield scripted


@pytest.fixture
def proxy(model: ScriptedModel, tmp_path: Path) -> Iterator[ModelProxy]:
    with ModelProxy(tmp_path / "model.sock", model.base_url, KEY) as running:
        yield running


def test_a_turn_reaches_the_one_endpoint_with_the_key_the_proxy_adds(
    proxy: ModelProxy, model: ScriptedModel
) -> None:
    status, body = ask(proxy, "POST", "/v1/responses", {"model": "m", "input": "hi", "stream": True})
    assert status == 200
    assert b"response.completed" in body and b"first" in body
    assert [r.path for r in model.requests] == ["/v1/responses"]
    assert model.requests[0].authorization == f"Bearer {KEY}"
    assert model.requests[0].body["input"] == "hi"
    assert proxy.forwarded == [{"method": "POST", "path": "/v1/responses", "status": 200, "bytes": len(body)}]


def test_a_key_sent_from_inside_is_replaced_by_the_proxys_own(
    proxy: ModelProxy, model: ScriptedModel
) -> None:
    ask(proxy, "POST", "/v1/responses", {"input": "x"}, {"Authorization": "Bearer chosen-inside"})
    assert model.requests[0].authorization == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/files"),
        ("GET", "/v1/responses/../../admin"),
        ("GET", "http://169.254.169.254/latest/meta-data/"),
        ("POST", "/other/responses"),
        ("DELETE", "/v1/responses"),
    ],
)
def test_anything_but_the_model_api_is_refused_and_recorded(
    proxy: ModelProxy, model: ScriptedModel, method: str, path: str
) -> None:
    status, body = ask(proxy, method, path)
    assert status == 403
    assert model.requests == []
    assert len(proxy.refused) == 1 and proxy.refused[0]["kind"] == "model"
    assert "\x1b" not in proxy.refused[0]["target"]
    assert KEY.encode() not in body


def raw(proxy: ModelProxy, request: bytes) -> bytes:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(proxy.socket_path))
    sock.sendall(request)
    answer = sock.recv(4096)
    sock.close()
    return answer


def test_a_path_with_control_characters_is_refused_and_recorded_escaped(
    proxy: ModelProxy, model: ScriptedModel
) -> None:
    answer = raw(proxy, b"GET /v1/models?x=\x1b[2J HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403")
    assert model.requests == []
    assert "\x1b" not in proxy.refused[0]["target"] and "\\x1b" in proxy.refused[0]["target"]


def test_a_connect_tunnel_to_another_host_is_refused(proxy: ModelProxy, model: ScriptedModel) -> None:
    answer = raw(proxy, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403")
    assert model.requests == [] and proxy.refused


class SlowStream(BaseHTTPRequestHandler):
    """An SSE endpoint that sends one event, waits until released, then sends the last one."""

    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(b"event: one\ndata: {}\n\n")
        self.wfile.flush()
        self.release.wait(20)
        self.wfile.write(b"event: two\ndata: {}\n\n")
        self.wfile.flush()
        self.close_connection = True


def test_server_sent_events_are_streamed_through_as_they_arrive(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with ModelProxy(tmp_path / "m.sock", f"http://127.0.0.1:{server.server_address[1]}/v1", KEY) as proxy:
            conn = UnixHTTPConnection(proxy.socket_path)
            conn.request("POST", "/v1/responses", body=b"{}", headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            first = response.read1(4096)
            assert b"event: one" in first and b"event: two" not in first  # arrived before the rest was sent
            SlowStream.release.set()
            rest = response.read()
            conn.close()
            assert b"event: two" in first + rest
    finally:
        SlowStream.release.set()
        server.shutdown()
        server.server_close()


def proxy_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("model-proxy")]


def test_stopping_cuts_a_hung_upstream_and_leaves_no_thread(tmp_path: Path) -> None:
    SlowStream.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proxy = ModelProxy(
            tmp_path / "m.sock", f"http://127.0.0.1:{server.server_address[1]}/v1", KEY
        ).start()
        conn = UnixHTTPConnection(proxy.socket_path)
        conn.request("POST", "/v1/responses", body=b"{}")
        conn.getresponse().read1(4096)
        assert proxy_threads()
        proxy.stop()
        deadline = time.monotonic() + 5
        while proxy_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy_threads() == []
        conn.close()
    finally:
        SlowStream.release.set()
        server.shutdown()
        server.server_close()


def test_an_endpoint_with_credentials_in_its_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without credentials"):
        ModelProxy(tmp_path / "m.sock", "https://user:pw@example.com/v1", KEY)

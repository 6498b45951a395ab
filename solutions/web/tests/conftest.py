"""Fixtures for the web plugin's tests: a copy of the defect site, the Node tools, the browser."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parent.parent
DATA_SITE = Path(__file__).resolve().parent / "data" / "site"
SARIF_SCHEMA = Path(__file__).resolve().parent / "sarif-schema-2.1.0.json"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

NPM_CI = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace holding site/, a copy of the defect site."""
    shutil.copytree(DATA_SITE, tmp_path / "site")
    return tmp_path


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """The pinned Node tools; installed with `npm ci` (as make bootstrap does) when missing."""
    from webcheck import tools

    if tools.node_module(PLUGIN_DIR, "axe-core/axe.min.js") is None:
        done = subprocess.run(
            NPM_CI, cwd=PLUGIN_DIR, capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            pytest.fail(
                f"`npm ci` in {PLUGIN_DIR} failed (make bootstrap installs these): {done.stderr[-2000:]}"
            )
        tools.node_module.cache_clear()
    return PLUGIN_DIR / "node_modules"


@pytest.fixture(scope="session")
def chromium(node_tools: Path) -> str:
    """The system Chromium; the only reason a browser test may skip is that it is absent."""
    from webcheck import browser

    found = browser.find_chromium()
    if found is None:
        pytest.skip("no browser (install chromium): the a11y, runtime and screenshot checks cannot run here")
    why = browser.unavailable(PLUGIN_DIR)
    assert not why, f"Chromium is installed but the browser checks cannot run: {why}"
    return found


class Trap:
    """An HTTP server on 127.0.0.1 that answers 200 on /ok, 404 elsewhere, and counts every request."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                trap.paths.append(self.path)
                self.send_response(200 if self.path.endswith("/ok") else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_GET
            do_CONNECT = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def trap() -> Iterator[Trap]:
    server = Trap()
    yield server
    server.server.shutdown()
    server.server.server_close()

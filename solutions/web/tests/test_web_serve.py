"""Serving an app with its own command (options serve + url) instead of the static root."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from webcheck import runner, site
from webcheck.model import CheckName, CheckStatus, Options

PLUGIN_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_serve_command_is_checked_against_and_stopped_after(workspace: Path) -> None:
    port = free_port()
    serve = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", "site"]
    options = Options(
        root="site", checks=(CheckName.LINKS,), serve=tuple(serve), url=f"http://127.0.0.1:{port}/"
    )
    pages = site.as_pages(options, ["index.html"])
    outcomes = runner.run_checks(options, workspace, PLUGIN_DIR, pages, None)
    links = next(o for o in outcomes if o.name == CheckName.LINKS)
    assert links.status == CheckStatus.FAILED
    assert [(f.file, f.line, f.column) for f in links.findings if f.rule == "link/broken"] == [
        ("site/index.html", 16, 10)
    ]
    assert not answers(port)


def test_a_serve_command_that_never_answers_is_a_located_error(workspace: Path) -> None:
    port = free_port()
    options = Options(root="site", serve="sleep 30", url=f"http://127.0.0.1:{port}/", serve_timeout_seconds=1)
    with pytest.raises(site.SiteProblem, match=r"options\.url: .* did not answer within 1s"):
        runner.run_checks(options, workspace, PLUGIN_DIR, site.as_pages(options, ["index.html"]), None)


def test_a_serve_command_that_exits_is_a_located_error(workspace: Path) -> None:
    options = Options(
        root="site", serve="false", url=f"http://127.0.0.1:{free_port()}/", serve_timeout_seconds=5
    )
    with pytest.raises(site.SiteProblem, match=r"options\.serve: 'false' exited with 1"):
        runner.run_checks(options, workspace, PLUGIN_DIR, site.as_pages(options, ["index.html"]), None)

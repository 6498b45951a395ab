"""Which pages to check, and serving them on 127.0.0.1: a static server in a thread, or the app's command."""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import os
import shlex
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .model import Options, Page

HTML_SUFFIXES = (".html", ".htm")


class SiteProblem(Exception):
    """The site cannot be checked as configured (no root, server never answered)."""


def all_pages(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in HTML_SUFFIXES and "node_modules" not in p.parts
    )


def select_pages(
    options: Options, root: Path, changed: Sequence[str] | None, deleted: Sequence[str] = ()
) -> list[str]:
    """The pages the options name; else the changed pages; all of them when an asset changed or a page went.

    `changed is None` means "not a run" (the command line): every page.
    """
    pages = all_pages(root) if root.is_dir() else []
    if options.pages:
        return sorted(
            {p for p in pages for pattern in options.pages if fnmatch.fnmatch(p, pattern)}
            | {p for p in options.pages if (root / p).is_file()}
        )
    if changed is None:
        return pages
    prefix = "" if options.root in ("", ".") else options.root.rstrip("/") + "/"
    under = [f[len(prefix) :] for f in changed if f.startswith(prefix)]
    gone = [f for f in deleted if f.startswith(prefix)]
    if gone or any(not f.lower().endswith(HTML_SUFFIXES) for f in under):
        return pages
    return sorted(p for p in under if p in pages)


def as_pages(options: Options, names: Sequence[str]) -> tuple[Page, ...]:
    prefix = "" if options.root in ("", ".") else options.root.rstrip("/") + "/"
    return tuple(Page(name, prefix + name) for name in names)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_server(root: Path) -> Iterator[str]:
    """Serves root on 127.0.0.1 (a free port) in a thread; yields the origin."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@contextlib.contextmanager
def command_server(serve: str | Sequence[str], url: str, timeout: float, cwd: Path) -> Iterator[str]:
    """Starts the app's serve command in its own process group, waits until url answers, stops it after."""
    argv = shlex.split(serve) if isinstance(serve, str) else list(serve)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if proc.poll() is not None:
                raise SiteProblem(
                    f"options.serve: {shlex.join(argv)!r} exited with {proc.returncode} before {url} answered"
                )
            if time.monotonic() > deadline:
                raise SiteProblem(
                    f"options.url: {url} did not answer within {timeout:g}s of starting {shlex.join(argv)!r}"
                )
            time.sleep(0.2)
        yield url.rstrip("/")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serving(options: Options, workspace: Path) -> contextlib.AbstractContextManager[str]:
    if options.serve and options.url:
        return command_server(options.serve, options.url, options.serve_timeout_seconds, workspace)
    root = workspace / options.root
    if not root.is_dir():
        raise SiteProblem(f"options.root: {options.root!r} is not a directory in the workspace")
    return static_server(root)

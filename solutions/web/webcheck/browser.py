"""The browser checks: accessibility (axe-core), runtime health, screenshots, in ONE headless Chromium.

The system's Chromium is driven by Playwright for Python (`executable_path`; Playwright's
own browser download is never used). It runs with `--no-sandbox`: Chromium's sandbox needs
user namespaces, which the orchestrator's jail forbids; the jail is the sandbox. Every
request that does not go to the site's own origin on 127.0.0.1 is aborted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import IMPACTS, NO_BROWSER, CheckName, CheckOutcome, CheckStatus, Finding, Page, Severity
from .source import Source, parse
from .tools import node_module

CHROMIUM_CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
)
AXE = "axe-core/axe.min.js"
VIEWPORT = {"width": 1280, "height": 800}
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--mute-audio",
    # the browser reaches the site on loopback and nothing else, whatever proxy the environment names
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
PAGE_TIMEOUT_MS = 20_000
LOCATE_JS = """(sel) => {
  const el = document.querySelector(sel);
  if (!el) return null;
  const attrs = Array.from(el.attributes).map(a => [a.name, a.value]);
  const sig = e => Array.from(e.attributes).map(a => a.name + '=' + a.value).sort().join('\\u0000');
  const mine = sig(el);
  const same = Array.from(document.getElementsByTagName(el.tagName)).filter(e => sig(e) === mine);
  return {tag: el.tagName.toLowerCase(), attrs: attrs, index: same.indexOf(el)};
}"""
RUNTIME_HELP = "https://developer.chrome.com/docs/devtools/console/"


SOCKET_DIR_MAX = 60
"""Chromium puts a unix socket in TMPDIR; past ~100 bytes of path it aborts ("Socket path too long")."""


def browser_env() -> dict[str, str]:
    """The environment for Chromium: a short TMPDIR when the given one is too long for its socket."""
    env = dict(os.environ)
    if len(env.get("TMPDIR", "/tmp")) > SOCKET_DIR_MAX:
        for base in ("/tmp", "/dev/shm"):
            if os.access(base, os.W_OK):
                env["TMPDIR"] = tempfile.mkdtemp(prefix="web-", dir=base)
                break
    return env


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def unavailable(plugin_dir: Path) -> str:
    """Why no browser check can run here, or "" when they can (axe-core only matters to a11y)."""
    if find_chromium() is None:
        return NO_BROWSER
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no playwright (pip install -r solutions/web/requirements.txt)"
    return ""


AXE_MISSING = "axe-core not installed (run `npm ci` in solutions/web)"


@dataclass
class PageRun:
    page: Page
    source: Source
    findings_a11y: list[Finding] = field(default_factory=list)
    findings_runtime: list[Finding] = field(default_factory=list)
    shot: str = ""


def impact_severity(impact: str | None, fail_on: str) -> Severity:
    rank = IMPACTS.index(impact) if impact in IMPACTS else 0
    return Severity.ERROR if rank >= IMPACTS.index(fail_on) else Severity.WARNING


def a11y_findings(run: PageRun, violations: list[dict[str, Any]], locate: Any, fail_on: str) -> None:
    for violation in violations:
        for node in violation.get("nodes", []):
            target = node.get("target") or []
            selector = target[-1] if target and isinstance(target[-1], str) else " ".join(map(str, target))
            where = locate(selector) if len(target) == 1 and isinstance(target[0], str) else None
            line, column = (
                run.source.locate(where["tag"], where["attrs"], where["index"]) if where else (0, 0)
            )
            impact = node.get("impact") or violation.get("impact") or "minor"
            run.findings_a11y.append(
                Finding(
                    run.page.file,
                    line,
                    column,
                    f"a11y/{violation['id']}",
                    impact_severity(impact, fail_on),
                    f"{violation.get('help', violation['id'])} [impact {impact}] at `{selector}`"
                    f"; see {violation.get('helpUrl', '')}",
                    str(violation.get("helpUrl", "")),
                )
            )


def _runtime(run: PageRun, rule: str, message: str, needle: str = "") -> None:
    line, column = run.source.line_of(needle) if needle else (0, 0)
    run.findings_runtime.append(
        Finding(run.page.file, line, column, rule, Severity.ERROR, message, RUNTIME_HELP)
    )


def console_location(run: PageRun, origin: str, location: dict[str, Any]) -> tuple[str, int, int]:
    """The workspace-relative file and 1-based position a console message came from, if the site's."""
    url = str(location.get("url") or "").split("?")[0].split("#")[0]
    line, column = int(location.get("lineNumber") or 0) + 1, int(location.get("columnNumber") or 0) + 1
    if not url.startswith(origin + "/"):
        return run.page.file, 0, 0
    path = urllib.parse.unquote(url[len(origin) + 1 :])
    if path == run.page.path:
        return run.page.file, line, column
    root = run.page.file[: len(run.page.file) - len(run.page.path)]
    return root + path, line, column


def watch(page: Any, runs: list[PageRun], origin: str) -> None:
    """Records console errors, uncaught exceptions, HTTP errors and failed requests against the page
    being loaded (the last of runs): one tab visits every page in turn."""

    def on_console(message: Any) -> None:
        run = runs[-1]
        if message.type != "error" or message.text.startswith("Failed to load resource"):
            return  # the failed load itself is reported by on_response / on_failed, with its URL
        file, line, column = console_location(run, origin, message.location)
        run.findings_runtime.append(
            Finding(
                file,
                line,
                column,
                "runtime/console-error",
                Severity.ERROR,
                f"console error: {message.text}",
                RUNTIME_HELP,
            )
        )

    def on_pageerror(error: Any) -> None:
        run = runs[-1]
        _runtime(run, "runtime/page-error", f"uncaught exception: {error}")

    def on_response(response: Any) -> None:
        run = runs[-1]
        if response.status >= 400:
            _runtime(
                run,
                "runtime/http-error",
                f"HTTP {response.status} for {response.url}",
                _needle(response.url, origin),
            )

    def on_failed(request: Any) -> None:
        run = runs[-1]
        if request.url.startswith(origin):
            _runtime(
                run,
                "runtime/request-failed",
                f"request failed: {request.url} ({request.failure})",
                _needle(request.url, origin),
            )

    page.on("console", on_console)
    page.on("pageerror", on_pageerror)
    page.on("response", on_response)
    page.on("requestfailed", on_failed)


def _needle(url: str, origin: str) -> str:
    path = url.removeprefix(origin)
    return path.split("?")[0].rsplit("/", 1)[-1] or path


def visit(
    tab: Any,
    run: PageRun,
    origin: str,
    blocked: list[str],
    checks: Sequence[CheckName],
    fail_on: str,
    shots_dir: Path | None,
    load_error: type[Exception],
) -> None:
    """Loads one page in the tab, then runs axe-core on it and takes its screenshot."""
    try:
        tab.goto(f"{origin}/{run.page.path}", wait_until="load", timeout=PAGE_TIMEOUT_MS)
    except load_error as exc:
        _runtime(run, "runtime/load-failed", f"page did not load: {str(exc).splitlines()[0]}")
        return
    for url in blocked:
        _runtime(
            run, "runtime/external-request", f"request outside the site blocked: {url}", _needle(url, origin)
        )
    if CheckName.A11Y in checks:
        result = tab.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        a11y_findings(run, result.get("violations", []), lambda sel: tab.evaluate(LOCATE_JS, sel), fail_on)
    if shots_dir is not None:
        tab.screenshot(path=str(shots_dir / run.page.shot_name), full_page=False)
        run.shot = f"web/{run.page.shot_name}"


def check(
    pages: Sequence[Page],
    workspace: Path,
    plugin_dir: Path,
    origin: str,
    checks: Sequence[CheckName],
    fail_on: str,
    out_dir: Path | None,
) -> list[CheckOutcome]:
    """Loads every page once in one browser; returns the a11y, runtime and screenshot outcomes asked for."""
    why = unavailable(plugin_dir)
    wanted = [c for c in (CheckName.A11Y, CheckName.RUNTIME, CheckName.SCREENSHOTS) if c in checks]
    if why:
        return [CheckOutcome(c, CheckStatus.SKIPPED, why) for c in wanted]
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    axe_file = node_module(plugin_dir, AXE)
    skipped = [CheckOutcome(CheckName.A11Y, CheckStatus.SKIPPED, AXE_MISSING)] if axe_file is None else []
    if skipped:
        checks = [c for c in checks if c != CheckName.A11Y]
        if not [c for c in wanted if c in checks]:
            return skipped
    axe = axe_file.read_text(encoding="utf-8") if axe_file is not None else ""
    runs: list[PageRun] = []
    shots_dir = out_dir / "web" if out_dir is not None and CheckName.SCREENSHOTS in checks else None
    if shots_dir is not None:
        shots_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        try:
            browser = driver.chromium.launch(
                executable_path=find_chromium(), headless=True, args=LAUNCH_ARGS, env=browser_env()
            )
        except PlaywrightError as exc:
            why = f"browser did not start: {str(exc).splitlines()[0]}"
            return [CheckOutcome(c, CheckStatus.SKIPPED, why) for c in wanted]
        try:
            context = browser.new_context(viewport=VIEWPORT, service_workers="block")
            blocked: list[str] = []

            def route(r: Any) -> None:
                if r.request.url.startswith(origin + "/") or r.request.url == origin:
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort("blockedbyclient")

            context.route("**/*", route)
            if CheckName.A11Y in checks:
                context.add_init_script(
                    script=axe
                )  # compiled once per document, before the page's own scripts
            tab = context.new_page()
            watch(tab, runs, origin)
            for page_spec in pages:
                path = workspace / page_spec.file
                text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
                runs.append(PageRun(page_spec, parse(text)))
                blocked.clear()
                visit(tab, runs[-1], origin, blocked, checks, fail_on, shots_dir, PlaywrightError)
            context.close()
        finally:
            browser.close()
    outcomes: list[CheckOutcome] = list(skipped)
    if CheckName.A11Y in checks:
        found = [f for r in runs for f in r.findings_a11y]
        failed = any(f.severity == Severity.ERROR for f in found)
        outcomes.append(
            CheckOutcome(
                CheckName.A11Y,
                CheckStatus.FAILED if failed else CheckStatus.PASSED,
                f"axe-core on {len(runs)} page(s), failing at impact {fail_on} and above",
                tuple(found),
            )
        )
    if CheckName.RUNTIME in checks:
        found = [f for r in runs for f in r.findings_runtime]
        outcomes.append(
            CheckOutcome(
                CheckName.RUNTIME,
                CheckStatus.FAILED if found else CheckStatus.PASSED,
                f"{len(runs)} page(s) loaded",
                tuple(found),
            )
        )
    if CheckName.SCREENSHOTS in checks:
        if shots_dir is None:
            outcomes.append(CheckOutcome(CheckName.SCREENSHOTS, CheckStatus.SKIPPED, "no output directory"))
        else:
            outcomes.append(
                CheckOutcome(
                    CheckName.SCREENSHOTS,
                    CheckStatus.PASSED,
                    f"{sum(bool(r.shot) for r in runs)} screenshot(s)",
                )
            )
    return outcomes

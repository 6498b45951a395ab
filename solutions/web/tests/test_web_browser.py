"""The browser checks in headless Chromium: axe-core violations, runtime health, screenshots, no network."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from webcheck import browser, runner, site
from webcheck.model import NO_BROWSER, CheckName, CheckOutcome, CheckStatus, Options, Severity

PLUGIN_DIR = Path(__file__).resolve().parents[1]
DATA_SITE = Path(__file__).resolve().parent / "data" / "site"

ALL = tuple(CheckName)


def browse(
    workspace: Path, pages: list[str], out: Path | None = None, fail_on: str = "serious"
) -> dict[str, CheckOutcome]:
    options = Options(root="site")
    with site.static_server(workspace / "site") as origin:
        outcomes = browser.check(
            site.as_pages(options, pages), workspace, PLUGIN_DIR, origin, ALL, fail_on, out
        )
    return {str(o.name): o for o in outcomes}


@pytest.fixture(scope="module")
def defect_run(
    tmp_path_factory: pytest.TempPathFactory, chromium: str
) -> tuple[dict[str, CheckOutcome], Path]:
    """One browser pass over the defect site, shared by the tests that read it."""
    base = tmp_path_factory.mktemp("defects")
    shutil.copytree(DATA_SITE, base / "site")
    return browse(base, ["index.html", "page.html", "runtime.html"], out=base / "out"), base / "out"


def where(outcome: CheckOutcome, rule: str) -> list[tuple[str, int, int]]:
    return [(f.file, f.line, f.column) for f in outcome.findings if f.rule == rule]


def test_an_image_without_alt_is_an_axe_violation_at_the_element(defect_run) -> None:  # type: ignore[no-untyped-def]
    a11y = defect_run[0]["a11y"]
    assert a11y.status == CheckStatus.FAILED
    assert where(a11y, "a11y/image-alt") == [("site/index.html", 11, 7)]
    finding = next(f for f in a11y.findings if f.rule == "a11y/image-alt")
    assert "impact critical" in finding.message
    assert "`img`" in finding.message
    assert finding.help_uri.startswith("https://dequeuniversity.com/rules/axe/")


def test_a_field_without_a_label_is_an_axe_violation(defect_run) -> None:  # type: ignore[no-untyped-def]
    assert where(defect_run[0]["a11y"], "a11y/label") == [("site/index.html", 14, 9)]


def test_too_little_contrast_is_an_axe_violation(defect_run) -> None:  # type: ignore[no-untyped-def]
    assert where(defect_run[0]["a11y"], "a11y/color-contrast") == [("site/index.html", 12, 7)]


def test_a_clean_page_has_no_violation(defect_run) -> None:  # type: ignore[no-untyped-def]
    assert not [f for o in defect_run[0].values() for f in o.findings if f.file == "site/page.html"]


def test_a_console_error_is_located_in_the_script_that_logged_it(defect_run) -> None:  # type: ignore[no-untyped-def]
    runtime = defect_run[0]["runtime"]
    assert runtime.status == CheckStatus.FAILED
    assert where(runtime, "runtime/console-error") == [("site/app.js", 1, 9)]


def test_a_failed_request_is_reported_with_its_status(defect_run) -> None:  # type: ignore[no-untyped-def]
    errors = [f for f in defect_run[0]["runtime"].findings if f.rule == "runtime/http-error"]
    assert [(f.file, f.line) for f in errors] == [("site/runtime.html", 11)]
    assert "HTTP 404" in errors[0].message and "/gone.png" in errors[0].message


def test_screenshots_are_real_pngs_of_the_viewport_size(defect_run) -> None:  # type: ignore[no-untyped-def]
    shots = sorted(p.name for p in (defect_run[1] / "web").iterdir())
    assert shots == ["index.png", "page.png", "runtime.png"]
    for name in shots:
        data = (defect_run[1] / "web" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert data[12:16] == b"IHDR"
        assert struct.unpack(">II", data[16:24]) == (browser.VIEWPORT["width"], browser.VIEWPORT["height"])


def test_nothing_outside_the_site_is_reached_even_through_a_proxy(
    workspace: Path, chromium: str, trap: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = f"http://127.0.0.1:{trap.port}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    (workspace / "site" / "leak.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>leak</title>'
        f'<script src="http://127.0.0.1:{trap.port}/other-origin.js"></script>'
        '<script src="http://cdn.example.com/lib.js"></script></head>'
        f'<body><main><h1>Leak</h1><img alt="x" src="https://example.org/p.png"></main></body></html>',
        encoding="utf-8",
    )
    outcomes = browse(workspace, ["leak.html"])
    assert trap.paths == []
    blocked = [f.message for f in outcomes["runtime"].findings if f.rule == "runtime/external-request"]
    assert len(blocked) == 3, blocked


def test_impacts_below_fail_on_impact_are_warnings() -> None:
    assert browser.impact_severity("serious", "critical") == Severity.WARNING
    assert browser.impact_severity("critical", "critical") == Severity.ERROR
    assert browser.impact_severity("minor", "minor") == Severity.ERROR
    assert browser.impact_severity("moderate", "serious") == Severity.WARNING


def test_without_chromium_the_browser_checks_are_skipped_never_passed(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    outcomes = browse(workspace, ["page.html"])
    assert {name: (o.status, o.reason) for name, o in outcomes.items()} == {
        name: (CheckStatus.SKIPPED, NO_BROWSER) for name in ("a11y", "runtime", "screenshots")
    }
    report = runner.build_report(
        Options(require_all=True),
        site.as_pages(Options(), ["page.html"]),
        list(outcomes.values()),
        None,
        "0",
        "t",
    )
    assert report.status == "failed"
    assert {f.rule for f in report.findings} == {"web/check-skipped"}
    lenient = runner.build_report(
        Options(), site.as_pages(Options(), ["page.html"]), list(outcomes.values()), None, "0", "t"
    )
    assert "skipped: no browser (install chromium)" in runner.summary(lenient)


def test_without_axe_core_only_the_a11y_check_is_skipped(
    workspace: Path, chromium: str, tmp_path: Path
) -> None:
    bare_plugin = tmp_path / "plugin-without-node-tools"
    bare_plugin.mkdir()
    with site.static_server(workspace / "site") as origin:
        pages = site.as_pages(Options(root="site"), ["runtime.html"])
        outcomes = browser.check(pages, workspace, bare_plugin, origin, ALL, "serious", None)
    statuses = {str(o.name): (o.status, o.reason) for o in outcomes}
    assert statuses["a11y"] == (CheckStatus.SKIPPED, browser.AXE_MISSING)
    assert statuses["runtime"][0] == CheckStatus.FAILED

"""Links and assets: every internal reference resolves; external ones are checked only when declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from webcheck import links, site
from webcheck.model import CheckStatus, Options, Severity


def run_links(workspace: Path, pages: list[str], hosts: tuple[str, ...] = (), fetch=None):  # type: ignore[no-untyped-def]
    options = Options(root="site", external_hosts=hosts)
    with site.static_server(workspace / "site") as origin:
        return links.check(site.as_pages(options, pages), workspace, links.Resolver(origin), hosts, fetch)


def located(outcome, rule: str) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    return [(f.file, f.line, f.column) for f in outcome.findings if f.rule == rule]


def test_a_link_to_a_missing_page_is_broken_at_its_line_and_column(workspace: Path) -> None:
    outcome = run_links(workspace, ["index.html"])
    assert outcome.status == CheckStatus.FAILED
    assert located(outcome, "link/broken") == [("site/index.html", 16, 10)]


def test_a_link_to_a_missing_anchor_is_reported_and_an_existing_one_is_not(workspace: Path) -> None:
    outcome = run_links(workspace, ["index.html"])
    assert located(outcome, "link/anchor") == [("site/index.html", 17, 10)]
    assert "nowhere" in next(f.message for f in outcome.findings if f.rule == "link/anchor")


def test_a_missing_image_is_a_missing_asset(workspace: Path) -> None:
    outcome = run_links(workspace, ["runtime.html"])
    assert located(outcome, "asset/missing") == [("site/runtime.html", 11, 7)]


def test_stylesheets_scripts_and_images_that_exist_pass(workspace: Path) -> None:
    outcome = run_links(workspace, ["page.html"])
    assert outcome.status == CheckStatus.PASSED
    assert outcome.findings == ()


def test_an_undeclared_external_link_is_listed_unchecked_and_never_requested(workspace: Path) -> None:
    asked: list[str] = []
    outcome = run_links(workspace, ["index.html"], fetch=lambda url: asked.append(url) or (200, b""))
    unchecked = [f for f in outcome.findings if f.rule == "link/unchecked"]
    assert [(f.line, f.severity) for f in unchecked] == [(19, Severity.NOTE)]
    assert "https://example.com/" in unchecked[0].message
    assert asked == []


def test_a_declared_external_host_is_checked(workspace: Path, trap: Any) -> None:
    page = workspace / "site" / "out.html"
    page.write_text(
        f'<a href="http://127.0.0.1:{trap.port}/ok">up</a>\n<a href="http://127.0.0.1:{trap.port}/gone">down</a>\n',
        encoding="utf-8",
    )
    outcome = run_links(workspace, ["out.html"], hosts=("127.0.0.1",))
    assert located(outcome, "link/external-broken") == [("site/out.html", 2, 1)]
    assert sorted(trap.paths) == ["/gone", "/ok"]


def test_pages_are_the_changed_ones_or_all_when_an_asset_changed(workspace: Path) -> None:
    root, options = workspace / "site", Options(root="site")
    assert site.select_pages(options, root, ["site/page.html", "README.md"]) == ["page.html"]
    assert site.select_pages(options, root, ["site/style.css"]) == ["index.html", "page.html", "runtime.html"]
    assert site.select_pages(options, root, [], deleted=["site/old.html"]) == [
        "index.html",
        "page.html",
        "runtime.html",
    ]
    assert site.select_pages(options, root, ["src/app.py"]) == []
    assert site.select_pages(Options(root="site", pages=("p*.html",)), root, []) == ["page.html"]

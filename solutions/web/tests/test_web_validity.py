"""HTML validity with html-validate: each error with file:line:column, under the plugin's own rules."""

from __future__ import annotations

import json
from pathlib import Path

from webcheck import site, validity
from webcheck.model import CheckStatus, Options

PLUGIN_DIR = Path(__file__).resolve().parents[1]


def validate(workspace: Path, pages: list[str], plugin_dir: Path = PLUGIN_DIR):  # type: ignore[no-untyped-def]
    return validity.check(site.as_pages(Options(root="site"), pages), workspace, plugin_dir)


def test_an_image_without_alt_is_an_error_at_its_file_line_and_column(
    workspace: Path, node_tools: Path
) -> None:
    outcome = validate(workspace, ["index.html"])
    assert outcome.status == CheckStatus.FAILED
    found = [(f.file, f.line, f.column) for f in outcome.findings if f.rule == "html/wcag/h37"]
    assert found == [("site/index.html", 11, 8)]


def test_a_valid_page_passes(workspace: Path, node_tools: Path) -> None:
    outcome = validate(workspace, ["page.html"])
    assert (outcome.status, outcome.findings) == (CheckStatus.PASSED, ())


def test_a_config_file_in_the_site_cannot_switch_the_rules_off(workspace: Path, node_tools: Path) -> None:
    config = {"root": True, "rules": {"wcag/h37": "off", "wcag/h32": "off"}}
    (workspace / "site" / ".htmlvalidate.json").write_text(json.dumps(config), encoding="utf-8")
    outcome = validate(workspace, ["index.html"])
    assert "html/wcag/h37" in {f.rule for f in outcome.findings}


def test_without_the_node_tools_the_check_is_skipped_saying_so_never_passed(
    workspace: Path, tmp_path: Path
) -> None:
    empty_plugin = tmp_path / "plugin"
    empty_plugin.mkdir()
    outcome = validate(workspace, ["index.html"], plugin_dir=empty_plugin)
    assert outcome.status == CheckStatus.SKIPPED
    assert "npm ci" in outcome.reason or "node" in outcome.reason

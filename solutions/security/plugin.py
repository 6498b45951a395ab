"""Security solution plugin: SAST, secret scan and dependency audit of what a run changed.

Speaks the plugin protocol (docs/plugins.md): reads a plugin_request/v1 document on stdin,
prints one plugin_result/v1 document between the marker lines, exits 0; writes
`security.sarif` into `$ORCH_PLUGIN_OUT` (the orchestrator copies it into the run
directory). Run as a script, never with -m, so nothing in the workspace is imported.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from secscan import changes as changeset
from secscan import deps, osv, report, sarif, sast, secrets
from secscan.model import Check, Comparison, Finding, Tool, ToolRun, compare
from secscan.options import OptionError, Options, parse

NAME = "security"
VERSION = "0.2.0"
BEGIN = "----- BEGIN plugin_result/v1 -----"
END = "----- END plugin_result/v1 -----"
SARIF_FILE = "security.sarif"
RULES_DIR = Path(__file__).resolve().parent / "rules"
TOOL_CONFIGS = (".bandit", ".semgrepignore", ".semgrep.yml", ".semgrep")
"""Files the change may add that would configure the tools judging it: never copied for them."""


def error_result(summary: str) -> dict[str, Any]:
    return {
        "schema": "plugin_result/v1",
        "name": NAME,
        "version": VERSION,
        "status": "error",
        "summary": summary,
        "findings": [],
        "metrics": {},
    }


def extra_rules(workspace: Path, base: str, paths: tuple[str, ...], root: Path) -> list[Path]:
    """The pack's own semgrep rule files, as they are at the base commit."""
    blobs = changeset.base_blobs(workspace, base, list(paths))
    missing = [p for p in paths if p not in blobs]
    if missing:
        raise OptionError(f"plugin.options.rules: {missing[0]} does not exist at the base commit {base[:12]}")
    out = []
    for index, path in enumerate(paths):
        target = root / f"{index}-{Path(path).name}"
        target.write_bytes(blobs[path])
        out.append(target)
    return out


def sast_runs(
    cs: changeset.ChangeSet, workspace: Path, base: str, options: Options, root: Path
) -> list[ToolRun]:
    kept = changeset.ChangeSet(
        [f for f in cs.files if Path(f.path).name not in TOOL_CONFIGS and not f.binary],
        cs.excluded,
        cs.too_large,
        cs.not_regular,
    )
    tree = root / "sast"
    changeset.materialise(kept, tree)
    rules_root = root / "rules"
    rules_root.mkdir()
    rule_paths = [RULES_DIR, *extra_rules(workspace, base, options.rules, rules_root)]
    return [sast.run_bandit(tree), sast.run_semgrep(tree, rule_paths)]


def deps_run(cs: changeset.ChangeSet, options: Options, hosts: list[str]) -> tuple[ToolRun | None, list[str]]:
    manifests = [f for f in cs.files if deps.is_manifest(f.path) and f.head is not None]
    if not manifests:
        return None, []
    run = ToolRun(Tool.OSV)
    notes: list[str] = []
    base_pins: list[deps.Pin] = []
    head_pins: list[deps.Pin] = []
    for file in manifests:
        for side, data in ((base_pins, file.base), (head_pins, file.head)):
            if data is None:
                continue
            parsed = deps.parse(file.path, data)
            side.extend(parsed.pins)
            if parsed.error and side is head_pins:
                notes.append(parsed.error)
            if parsed.unpinned and side is head_pins:
                notes.append(
                    f"{file.path}: {parsed.unpinned} requirement(s) without an exact pin not audited"
                )
    if not osv.declared(options.osv_url, hosts):
        run.skipped = (
            f"no vulnerability service declared (add {osv.PRESET} or the host of {options.osv_url} "
            "to safety.network.hosts)"
        )
        return run, notes
    try:
        run.base, run.head = osv.audit(options.osv_url, base_pins, head_pins)
    except osv.ServiceError as exc:
        run.skipped = f"vulnerability service unavailable: {exc}"
    run.version = "v1"
    return run, notes


def judge(request: dict[str, Any], options: Options, out_dir: Path | None) -> dict[str, Any]:
    started = time.monotonic()
    workspace = Path(request["workspace"]).resolve()
    base = str(request["base"])
    cs = changeset.collect(
        workspace, base, list(request["changed_files"]), list(options.exclude), options.max_file_bytes
    )
    data = request.get("task", {}).get("data", {})
    hosts = list(data.get("safety", {}).get("network", {}).get("hosts", []))
    runs: list[ToolRun] = []
    notes: list[str] = []
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="security-") as tmp:
        root = Path(tmp)
        if Check.SAST in options.checks:
            clock = time.monotonic()
            runs.extend(sast_runs(cs, workspace, base, options, root))
            timings["seconds_sast"] = round(time.monotonic() - clock, 3)
        if Check.SECRETS in options.checks:
            clock = time.monotonic()
            runs.append(secrets.scan(cs, root / "secrets"))
            timings["seconds_secrets"] = round(time.monotonic() - clock, 3)
        if Check.DEPS in options.checks:
            clock = time.monotonic()
            run, deps_notes = deps_run(cs, options, hosts)
            runs.extend([run] if run else [])
            notes.extend(deps_notes)
            timings["seconds_deps"] = round(time.monotonic() - clock, 3)
    if cs.too_large:
        notes.append(f"{len(cs.too_large)} file(s) larger than max_file_bytes not scanned: {cs.too_large[0]}")
    if cs.not_regular:
        notes.append(
            f"{len(cs.not_regular)} changed path(s) not regular files, not scanned: {cs.not_regular[0]}"
        )
    compared: list[tuple[ToolRun, Comparison]] = []
    for run in runs:
        if options.baseline:
            compared.append((run, compare(run.base, run.head)))
        else:
            compared.append((run, Comparison(sorted(run.head, key=Finding.sort_key), [], [])))
    metrics = {
        "files_changed": len(request["changed_files"]),
        "files_scanned": len(cs.files),
        "files_excluded": len(cs.excluded),
        "files_too_large": len(cs.too_large),
        "lines_added": sum(len(changeset.added_lines(f)) for f in cs.files),
        **timings,
        "seconds_total": round(time.monotonic() - started, 3),
    }
    result = report.build(
        NAME, VERSION, compared, options.fail_on, options.require_all, options.baseline, metrics, notes
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        document = sarif.document(compared, str(request.get("task", {}).get("id", "task")))
        (out_dir / SARIF_FILE).write_text(
            json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
        result["details"]["artifacts"] = [
            {
                "path": SARIF_FILE,
                "kind": "sarif",
                "media_type": "application/sarif+json",
                "title": "Findings (SARIF 2.1.0)",
            }
        ]
    return result


def main() -> int:
    request = json.loads(sys.stdin.read())
    out = os.environ.get("ORCH_PLUGIN_OUT")
    try:
        options = parse(request.get("options") or {})
        result = judge(request, options, Path(out) if out else None)
    except OptionError as exc:
        result = error_result(f"bad plugin options: {exc}")
    for item in result["findings"]:
        print(f"{item['file']}:{item['line']}: {item['severity']}: {item['rule']}: {item['message']}")
    print(BEGIN)
    print(json.dumps(result, sort_keys=True, indent=1))
    print(END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

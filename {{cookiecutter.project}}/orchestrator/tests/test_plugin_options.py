"""Plugin options checked by validate against the plugin's own schema; plugin artifacts and egress.

A plugin names a JSON Schema for its options in plugin.json (`options_schema`) and the
files it writes for the run directory (`artifacts`, written into $ORCH_PLUGIN_OUT); its
egress is the task pack's declared hosts, through the allowlisting proxy.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_plugin import make_run, run_phase, write_plugin

from conftest import git, orchestrator, write_pack
from orchestrator.fsio import read_json

OPTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "level": {"enum": ["low", "high"]},
        "paths": {"type": "array", "items": {"type": "string"}},
    },
}


def probe_with_schema(repo: Path) -> None:
    directory = write_plugin(repo, "emit(result())", options_schema="options.schema.json")
    (directory / "options.schema.json").write_text(json.dumps(OPTIONS_SCHEMA), encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "probe plugin")


def test_validate_reports_a_bad_plugin_option_located_with_exit_2(repo: Path) -> None:
    probe_with_schema(repo)
    write_pack(repo, "opts", plugin={"name": "probe", "options": {"level": "medium", "paths": ["a", 3]}})
    proc = orchestrator(repo, "validate", "opts")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("taskpacks/opts/task.yml:")]
    assert any("plugin.options.level" in ln and "'medium' is not one of" in ln for ln in lines), proc.stderr
    assert any("plugin.options.paths[1]" in ln for ln in lines), proc.stderr


def test_validate_accepts_good_options_and_ignores_a_plugin_that_is_not_there(repo: Path) -> None:
    probe_with_schema(repo)
    write_pack(repo, "good", plugin={"name": "probe", "options": {"level": "high"}})
    write_pack(repo, "absent", plugin={"name": "not-installed", "options": {"anything": 1}})
    proc = orchestrator(repo, "validate", "good", "absent")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_listed_artifacts_are_copied_into_the_run_directory_redacted(repo: Path) -> None:
    secret = "hunter2-" + "q8Zr4xW1" * 3
    body = (
        f'open(os.path.join(os.environ["ORCH_PLUGIN_OUT"], "probe.sarif"), "w").write("token {secret}")\n'
        'os.makedirs(os.path.join(os.environ["ORCH_PLUGIN_OUT"], "probe"))\n'
        'os.symlink("/etc/hostname", os.path.join(os.environ["ORCH_PLUGIN_OUT"], "probe", "x.png"))\n'
        "emit(result(details={'artifacts': [{'path': 'probe.sarif', 'kind': 'sarif'},"
        " {'path': 'probe/x.png', 'kind': 'image'}]}))"
    )
    write_plugin(repo, body)
    run = make_run(repo)
    result = run_phase(run, secrets=(secret,))
    copied = run.dir / "probe.sarif"
    assert copied in result.outputs
    assert secret not in copied.read_text(encoding="utf-8")
    assert not (run.dir / "probe" / "x.png").exists()
    assert read_json(run.dir / "plugin_result.json")["status"] == "passed"


def test_the_plugin_reaches_a_declared_host_and_nothing_else(repo: Path, web_server: int) -> None:
    body = (
        "import urllib.request\n"
        "def get(url):\n"
        "    try:\n        return urllib.request.urlopen(url, timeout=5).read().decode()\n"
        "    except Exception as exc:\n        return f'refused {exc}'\n"
        f"emit(result(details={{'declared': get('http://127.0.0.1:{web_server}/'), "
        "'other': get('http://127.0.0.1:9/')}))"
    )
    write_plugin(repo, body)
    run = make_run(repo, safety={"network": {"hosts": [f"127.0.0.1:{web_server}"]}})
    run_phase(run)
    details = read_json(run.dir / "plugin_result.json")["details"]
    assert details["declared"] == "hello from the declared host"
    assert "403" in details["other"]

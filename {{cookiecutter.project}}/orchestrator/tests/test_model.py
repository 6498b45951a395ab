"""The typed run model: every manifest v1 reads into it and writes back with the same meaning,
the closed schema rejects what v1 never wrote, and facts reach the manifest through the Recorder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import BadInput
from orchestrator.model import (
    Access,
    ChangesRecord,
    EnvironmentRecord,
    FileChange,
    Manifest,
    ModelProxyRecord,
    PhaseRecord,
    PluginRecord,
    PluginStatus,
    ProxyRefusal,
    ReviewRecord,
    Ruling,
    RunStatus,
    StartedBy,
    Status,
)
from orchestrator.recorder import Recorder
from orchestrator.runs import derive_status, load_manifest
from orchestrator.schemas import first_error

MANIFESTS = Path(__file__).parent / "manifests"
"""Manifests written by v1.3.0 (copies of the template's golden v1 runs)."""


def written(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((MANIFESTS / name).read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("name", sorted(p.name for p in MANIFESTS.glob("*.json")))
def test_a_written_manifest_reads_and_writes_back_unchanged(name: str) -> None:
    document = written(name)
    manifest = Manifest.from_json(document)
    assert manifest.to_json() == document
    assert first_error("manifest.v1.json", manifest.to_json()) is None
    assert derive_status(manifest) == (document["status"], document["reason"])


def test_statuses_are_enums_that_compare_equal_to_the_json_strings() -> None:
    manifest = Manifest.from_json(written("golden-tripped.json"))
    assert manifest.status is RunStatus.TRIPPED and manifest.status == "tripped"
    assert all(isinstance(entry.status, Status) for entry in manifest.phases.values())
    assert all(isinstance(d.decision, Ruling) for d in manifest.safety.decisions)


def test_null_and_absent_fields_keep_their_difference() -> None:
    document = written("golden-refused.json")
    manifest = Manifest.from_json(document)
    assert manifest.git.head is None and "head" in manifest.to_json()["git"]
    assert manifest.changes is None and "changes" not in manifest.to_json()
    assert "prepare" not in manifest.phases  # written before the prepare phase existed


def test_an_unknown_top_level_field_is_rejected_where_it_is(tmp_path: Path) -> None:
    document = {**written("golden-plugin.json"), "extra": 1}
    with pytest.raises(ValueError, match=r"^extra: unknown field"):
        Manifest.from_json(document)
    problem = first_error("manifest.v1.json", document)
    assert problem is not None and problem.startswith("(root): ") and "'extra'" in problem
    (tmp_path / "manifest.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(BadInput, match="'extra' was unexpected"):
        load_manifest(tmp_path)


def test_an_unknown_nested_field_is_rejected_at_its_path() -> None:
    document = written("golden-plugin.json")
    document["phases"]["execute"]["extra"] = True
    with pytest.raises(ValueError, match=r"^phases/execute/extra: unknown field"):
        Manifest.from_json(document)
    assert (first_error("manifest.v1.json", document) or "").startswith("phases/execute: ")


def test_every_fact_the_recorder_takes_is_declared_by_the_schema() -> None:
    manifest = Manifest.from_json(written("golden-plugin.json"))
    manifest.phases["prepare"] = PhaseRecord.pending("prepare")
    saved: list[int] = []
    record = Recorder(manifest, lambda: saved.append(1))
    record.reset_decisions()
    record.decide("network", Ruling.ALLOW, "none declared")
    record.decide("network", Ruling.REFUSE, "declared, not allowed")
    assert record.use(Access("network", "pypi.org:443", "prepare"))
    assert not record.use(Access("network", "pypi.org:443", "prepare"))
    record.deny(Access("model", "/v1/files", "execute"))
    record.limits_enforced({"max_memory_mb": "cgroup-v1"})
    record.fingerprint("a" * 64, ["deploy/**"])
    record.unsafe()
    record.executor(
        version="codex-cli 0.1",
        attempts=2,
        usage={"turns": 1},
        health={"turn_completed": True, "last_message": True},
        model_proxy=ModelProxyRecord("http://127.0.0.1:1/v1", 3, [ProxyRefusal("/x", "path")], 0),
    )
    record.changes(ChangesRecord([FileChange("a.py", 1, 0, False)], 1, 1, 0, tree="b" * 40))
    record.tested_tree("b" * 40)
    record.environment(EnvironmentRecord(cache="miss", key="k", setup=["true"], paths=[".venv"]))
    record.plugin(PluginRecord("p", "1", PluginStatus.WARNING, None, False, "r", []))
    record.head(None)
    record.evidence_commit("c" * 40)
    record.pushed()
    record.checkpoint()
    manifest.started_by = StartedBy("mcp", "client")
    manifest.review = ReviewRecord("approve", [], ["scope"])
    document = manifest.to_json()
    assert first_error("manifest.v1.json", document) is None
    assert Manifest.from_json(document) == manifest
    assert [d["decision"] for d in document["safety"]["decisions"]] == ["refuse"]
    assert manifest.prepared_paths() == [".venv"] and saved == [1]

"""The run attestation is an in-toto Statement v1 whose subjects are the run's files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from synthetic_run import make_run, read

from orchestrator import __version__
from orchestrator.evidence import attestation
from orchestrator.evidence import index as evidence
from orchestrator.fsio import sha256_file, write_json
from orchestrator.phases import NAMES as PHASES
from orchestrator.schemas import validator

# The Statement layer, written from the spec text (in-toto/attestation spec/v1/statement.md and
# resource_descriptor.md), independently of the schema the engine ships.
STATEMENT_V1 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["_type", "subject", "predicateType"],
    "properties": {
        "_type": {"const": "https://in-toto.io/Statement/v1"},
        "subject": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["digest"],
                "properties": {
                    "name": {"type": "string"},
                    "digest": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]+$"},
                    },
                    "mediaType": {"type": "string"},
                },
            },
        },
        "predicateType": {"type": "string", "pattern": "^https?://"},
        "predicate": {"type": "object"},
    },
}


@pytest.fixture
def attested(tmp_path: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    s = make_run(tmp_path)
    s.manifest["git"]["head"] = "c" * 40
    s.save()
    evidence.build(s.run_dir, s.manifest)
    return s.run_dir, read(s.run_dir / attestation.FILE), s.manifest


def test_statement_follows_in_toto_statement_v1(attested: tuple[Path, dict, dict]) -> None:
    from jsonschema import Draft202012Validator

    _, statement, _ = attested
    assert not list(Draft202012Validator(STATEMENT_V1).iter_errors(statement))
    assert not list(validator("intoto_statement.v1.json").iter_errors(statement))
    names = [s["name"] for s in statement["subject"]]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9]+", alg) for s in statement["subject"] for alg in s["digest"])


def test_subject_digests_match_the_files_and_include_diff_and_index(
    attested: tuple[Path, dict, dict],
) -> None:
    run_dir, statement, _ = attested
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert {"diff.patch", "manifest.json", "evidence_index.json", "logs/execute.log"} <= set(subjects)
    assert attestation.FILE not in subjects
    for name, digest in subjects.items():
        assert sha256_file(run_dir / name) == digest, name


def test_predicate_names_task_executor_versions_commits_and_phases(attested: tuple[Path, dict, dict]) -> None:
    run_dir, statement, manifest = attested
    assert statement["predicateType"] == attestation.PREDICATE_TYPE
    predicate = statement["predicate"]
    assert predicate["task"]["sha256"] == manifest["task"]["sha256"]
    assert predicate["executor"]["kind"] == "shell"
    assert predicate["orchestrator"]["version"] == __version__
    assert (predicate["git"]["base"], predicate["git"]["head"]) == ("a" * 40, "c" * 40)
    assert [p["name"] for p in predicate["phases"]] == list(PHASES)
    assert predicate["evidence"]["root_digest"] == read(run_dir / evidence.INDEX)["root_digest"]


def test_verify_catches_a_subject_digest_that_does_not_match(attested: tuple[Path, dict, dict]) -> None:
    run_dir, statement, _ = attested
    for subject in statement["subject"]:
        if subject["name"] == "diff.patch":
            subject["digest"]["sha256"] = "0" * 64
    write_json(run_dir / attestation.FILE, statement)
    assert evidence.verify_run(run_dir) == [
        "changed: attestation.intoto.json or diff.patch (subject digest of diff.patch does not match)"
    ]


def test_verify_reports_a_missing_attestation(attested: tuple[Path, dict, dict]) -> None:
    run_dir, _, _ = attested
    (run_dir / attestation.FILE).unlink()
    assert evidence.verify_run(run_dir) == ["missing: attestation.intoto.json"]

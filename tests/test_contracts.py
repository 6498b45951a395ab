"""The v1 contracts are locked: what v1.3.0 wrote must validate and mean the same today.

`golden/v1/` holds documents written by the release as it stood before any later change
(the engine at commit abe7e42, baked and run in a temporary worktree): task packs (the
examples and edge cases), whole run directories of succeeded, failed, refused, tripped,
aborted and review-rejected runs (manifests, review reports, evidence indexes,
attestations, a plugin result), and that release's schemas. Every later v1 release must
validate them, review them to the same verdict, verify their evidence and find them with
the query; its schemas may only grow compatibly.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GENERATED, bake, describe, git, run
from jsonschema import Draft202012Validator

GOLDEN = Path(__file__).parent / "golden" / "v1"
SCHEMAS = GENERATED / "orchestrator" / "schemas"
DOCUMENT_SCHEMAS = {
    "manifest.json": "manifest.v1.json",
    "review_report.json": "review_report.v1.json",
    "evidence_index.json": "evidence_index.v1.json",
    "plugin_result.json": "plugin_result.v1.json",
    "attestation.intoto.json": "intoto_statement.v1.json",
}
QUERY_FIELDS = (
    "task",
    "run_id",
    "run_dir",
    "status",
    "path",
    "sha256",
    "bytes",
    "kind",
    "phase",
    "media_type",
)
"""The fields of a `evidence query --json` row in v1.3.0."""
RUN_STATUSES = {"succeeded", "failed", "refused", "tripped", "aborted"}
NARROWING_BOUNDS = ("minLength", "minItems", "minimum", "exclusiveMinimum", "minProperties")
WIDENING_BOUNDS = ("maxLength", "maxItems", "maximum", "exclusiveMaximum", "maxProperties")


def golden_documents() -> list[tuple[str, str]]:
    found = []
    for path in sorted((GOLDEN / "runs").rglob("*.json")):
        if path.name in DOCUMENT_SCHEMAS:
            found.append((path.relative_to(GOLDEN).as_posix(), DOCUMENT_SCHEMAS[path.name]))
    return found


def golden_runs() -> list[Path]:
    return sorted(p.parent for p in (GOLDEN / "runs").glob("*/*/manifest.json"))


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_golden_set_covers_every_run_outcome_and_document_kind() -> None:
    statuses = {load(run_dir / "manifest.json")["status"] for run_dir in golden_runs()}
    kinds = {Path(doc).name for doc, _ in golden_documents()}
    assert statuses == RUN_STATUSES
    assert kinds == set(DOCUMENT_SCHEMAS)
    verdicts = {load(p)["verdict"] for p in (GOLDEN / "runs").rglob("review_report.json")}
    assert {"approve", "reject"} <= verdicts


@pytest.mark.parametrize(("document", "schema"), golden_documents())
def test_a_golden_document_validates_against_todays_schema(document: str, schema: str) -> None:
    validator = Draft202012Validator(load(SCHEMAS / schema))
    errors = sorted(validator.iter_errors(load(GOLDEN / document)), key=lambda e: list(e.absolute_path))
    assert not errors, f"{document}: {errors[0].message} at {list(errors[0].absolute_path)}"


# --- schemas only grow -------------------------------------------------------------------


def _types(schema: dict[str, Any]) -> set[str] | None:
    value = schema.get("type")
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of `^(a|b|...)$` (or the one body of `^...$`)."""
    body = pattern.removeprefix("^").removesuffix("$")
    if body.startswith("(") and body.endswith(")"):
        inner, depth, parts, current = body[1:-1], 0, [], ""
        for index, char in enumerate(inner):
            escaped = index > 0 and inner[index - 1] == "\\"
            if not escaped and char in "([":
                depth += 1
            elif not escaped and char in ")]":
                depth -= 1
            if char == "|" and depth == 0 and not escaped:
                parts.append(current)
                current = ""
            else:
                current += char
        if depth == 0:
            return [*parts, current]
    return [body]


def _pattern_widens(old: str | None, new: str) -> bool:
    """A new pattern may only add alternatives: the old pattern's body must be one of them."""
    return old is not None and old.removeprefix("^").removesuffix("$") in _alternatives(new)


def narrowings(old: Any, new: Any, where: str = "#") -> Iterator[str]:
    """Every way `new` accepts less than `old` did, as the JSON pointer and what changed."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        if old is not new and old is True and new is not True:
            yield f"{where}: was accepting anything, now restricted"
        return
    old_types, new_types = _types(old), _types(new)
    if old_types is not None and (new_types is not None and not old_types <= new_types):
        yield f"{where}: type narrowed from {sorted(old_types)} to {sorted(new_types)}"
    if old_types is None and new_types is not None:
        yield f"{where}: type {sorted(new_types)} added where any type was accepted"
    if "enum" in old and not set(map(json.dumps, old["enum"])) <= set(
        map(json.dumps, new.get("enum", old["enum"]))
    ):
        lost = sorted(set(map(json.dumps, old["enum"])) - set(map(json.dumps, new["enum"])))
        yield f"{where}: enum lost values {lost}"
    if "enum" in new and "enum" not in old and "const" not in old:
        yield f"{where}: enum added"
    if "const" in new and new.get("const") != old.get("const", new["const"]):
        yield f"{where}: const changed"
    if added := sorted(set(new.get("required", [])) - set(old.get("required", []))):
        yield f"{where}: new required field(s) {added}"
    if (
        "pattern" in new
        and new["pattern"] != old.get("pattern")
        and not _pattern_widens(old.get("pattern"), new["pattern"])
    ):
        yield f"{where}: pattern changed or added ({old.get('pattern')!r} -> {new['pattern']!r})"
    if "format" in new and new["format"] != old.get("format"):
        yield f"{where}: format changed or added ({old.get('format')!r} -> {new['format']!r})"
    for key in NARROWING_BOUNDS:
        if key in new and new[key] > old.get(key, float("-inf")):
            yield f"{where}: {key} raised to {new[key]}"
    for key in WIDENING_BOUNDS:
        if key in new and new[key] < old.get(key, float("inf")):
            yield f"{where}: {key} lowered to {new[key]}"
    for name, sub in old.get("properties", {}).items():
        if name not in new.get("properties", {}):
            yield f"{where}/properties/{name}: field removed"
        else:
            yield from narrowings(sub, new["properties"][name], f"{where}/properties/{name}")
    for key in ("items", "additionalProperties", "propertyNames", "contains", "not"):
        if key in old and key in new:
            if key == "additionalProperties" and new[key] is False:
                continue  # closing is allowed: the golden documents decide (they must still validate)
            yield from narrowings(old[key], new[key], f"{where}/{key}")
    for key in ("$defs", "definitions", "patternProperties"):
        for name, sub in old.get(key, {}).items():
            if name not in new.get(key, {}):
                yield f"{where}/{key}/{name}: removed"
            else:
                yield from narrowings(sub, new[key][name], f"{where}/{key}/{name}")


def golden_schemas() -> list[str]:
    return sorted(p.name for p in (GOLDEN / "schemas").glob("*.json"))


@pytest.mark.parametrize("name", golden_schemas())
def test_a_v1_schema_only_grows_compatibly(name: str) -> None:
    current = SCHEMAS / name
    assert current.is_file(), f"schema {name} was removed"
    problems = list(narrowings(load(GOLDEN / "schemas" / name), load(current)))
    assert not problems, "\n".join(problems)


def test_the_compatibility_check_itself_catches_each_kind_of_narrowing() -> None:
    old = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": ["string", "null"]}, "b": {"enum": [1, 2]}, "c": {"type": "string"}},
    }
    new = {
        "type": "object",
        "required": ["a", "c"],
        "properties": {"a": {"type": "string"}, "b": {"enum": [1]}},
    }
    found = "\n".join(narrowings(old, new))
    for expected in (
        "type narrowed",
        "enum lost values",
        "new required field",
        "properties/c: field removed",
    ):
        assert expected in found
    assert not list(narrowings(old, {**old, "properties": {**old["properties"], "d": {"type": "integer"}}}))
    assert not list(narrowings({"pattern": "^[a-z]+$"}, {"pattern": "^(@[a-z]+|[a-z]+)$"}))
    assert list(narrowings({"pattern": "^[a-z]+$"}, {"pattern": "^[a-y]+$"}))


# --- the same meaning, through today's engine ------------------------------------------


@pytest.fixture(scope="module")
def repo_with_golden_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh bake holding the golden task packs and run directories, as an upgraded repo would."""
    repo = bake(tmp_path_factory.mktemp("golden") / "out")
    for pack in (GOLDEN / "taskpacks").iterdir():
        target = repo / "taskpacks" / pack.name
        if not target.exists():
            shutil.copytree(pack, target)
    shutil.copytree(GOLDEN / "runs", repo / "runs")
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=Golden",
        "-c",
        "user.email=golden@localhost",
        "commit",
        "-q",
        "-m",
        "Golden packs",
    )
    return repo


def test_every_golden_task_pack_validates(repo_with_golden_runs: Path) -> None:
    packs = sorted(p.name for p in (GOLDEN / "taskpacks").iterdir())
    result = run([sys.executable, "-m", "orchestrator", "validate", *packs], repo_with_golden_runs)
    assert result.returncode == 0, describe(result)


REVIEW_AGAIN = """
import json, shutil, sys, tempfile
from pathlib import Path
from orchestrator.phases import review
from orchestrator.taskpack import load_taskpack
run_dir = Path(sys.argv[1])
copy = Path(tempfile.mkdtemp()) / run_dir.name
shutil.copytree(run_dir, copy)
manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
task = load_taskpack(Path.cwd(), manifest["task"]["id"])
report = review.review_run_dir(copy, task.data, manifest["task"]["path"], task.file.read_bytes())
print(json.dumps({"verdict": report["verdict"], "checks": {c["id"]: c["status"] for c in report["checks"]}}))
"""


@pytest.mark.parametrize(
    "report", sorted(p.relative_to(GOLDEN).as_posix() for p in (GOLDEN / "runs").rglob("review_report.json"))
)
def test_reviewing_a_golden_run_again_gives_the_same_verdict(
    repo_with_golden_runs: Path, report: str
) -> None:
    run_dir = repo_with_golden_runs / Path(report).parent
    result = run([sys.executable, "-c", REVIEW_AGAIN, str(run_dir)], repo_with_golden_runs)
    assert result.returncode == 0, describe(result)
    again = json.loads(result.stdout)
    golden = load(GOLDEN / report)
    assert again["verdict"] == golden["verdict"]
    assert {k: v for k, v in again["checks"].items() if v == "fail"} == {
        c["id"]: "fail" for c in golden["checks"] if c["status"] == "fail"
    }


def test_evidence_verify_accepts_every_golden_run(repo_with_golden_runs: Path) -> None:
    result = run([sys.executable, "-m", "orchestrator", "evidence", "verify", "--all"], repo_with_golden_runs)
    assert result.returncode == 0, describe(result)
    assert result.stdout.count("ok") >= len(golden_runs())


def test_evidence_verify_still_detects_a_changed_golden_artifact(
    repo_with_golden_runs: Path, tmp_path: Path
) -> None:
    run_dir = next(p for p in golden_runs() if p.parent.name == "add-slugify")
    copy = tmp_path / "repo"
    shutil.copytree(repo_with_golden_runs, copy, symlinks=True)
    target = copy / run_dir.relative_to(GOLDEN) / "logs" / "execute.log"
    target.write_text(target.read_text(encoding="utf-8") + "tampered\n", encoding="utf-8")
    result = run(
        [sys.executable, "-m", "orchestrator", "evidence", "verify", "--run", str(target.parent.parent)], copy
    )
    assert result.returncode == 1, describe(result)
    assert "logs/execute.log" in result.stdout + result.stderr


def test_the_evidence_query_finds_a_golden_run(repo_with_golden_runs: Path) -> None:
    result = run(
        [sys.executable, "-m", "orchestrator", "evidence", "query", "--task", "golden-tripped", "--json"],
        repo_with_golden_runs,
    )
    assert result.returncode == 0, describe(result)
    rows = json.loads(result.stdout)
    run_ids = {p.name for p in golden_runs() if p.parent.name == "golden-tripped"}
    assert rows and {row["run_id"] for row in rows} == run_ids
    assert {row["status"] for row in rows} == {"tripped"}
    assert set(QUERY_FIELDS) <= set(rows[0]), "a v1 query row lost a field"


# --- the version --------------------------------------------------------------------------


def test_the_engine_prints_a_v1_version_that_the_changelog_records(generated_repo: Path) -> None:
    result = run([sys.executable, "-m", "orchestrator", "--version"], generated_repo)
    assert result.returncode == 0, describe(result)
    version = result.stdout.split()[-1]
    major, minor, _ = (int(part) for part in version.split("."))
    assert (major, minor) >= (1, 3) and major == 1
    changelog = (generated_repo / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{version}]" in changelog or "## [Unreleased]" in changelog


def test_a_new_run_records_the_engine_version_in_its_manifest(repo_with_golden_runs: Path) -> None:
    result = run([sys.executable, "-m", "orchestrator", "run", "edge-minimal"], repo_with_golden_runs)
    manifests = sorted((repo_with_golden_runs / "runs" / "edge-minimal").glob("*/manifest.json"))
    assert manifests, describe(result)
    version = run([sys.executable, "-m", "orchestrator", "--version"], repo_with_golden_runs).stdout.split()[
        -1
    ]
    assert load(manifests[-1])["orchestrator"]["version"] == version

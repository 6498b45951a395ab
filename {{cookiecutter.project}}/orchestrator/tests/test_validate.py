"""`validate`: every defect located (file:line:column, field, what, how), exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT, orchestrator, write_pack
from orchestrator.errors import BadInput
from orchestrator.phaselog import PhaseLog
from orchestrator.phases import validate
from orchestrator.redact import Redactor
from orchestrator.taskpack import MAX_BYTES, check_file, load_many, load_taskpack

CORPUS = Path(__file__).resolve().parent / "corpus" / "malformed"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_corpus_has_at_least_twenty_distinct_cases_and_each_is_described() -> None:
    committed = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    generated = {case for case, e in EXPECTED.items() if e.get("generated")}
    assert committed | generated == set(EXPECTED)
    assert len(EXPECTED) >= 20
    assert len({(CORPUS / c / "task.yml").read_bytes() for c in committed}) == len(committed)


def materialize(case: str, tmp_path: Path) -> Path:
    """The case's task.yml; the oversized one is generated here rather than committed."""
    if not EXPECTED[case].get("generated"):
        return CORPUS / case / "task.yml"
    path = tmp_path / case / "task.yml"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"schema: taskpack/v1\n" + b"# padding\n" * (MAX_BYTES // 10 + 10))
    return path


@pytest.fixture(scope="module")
def corpus_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """`python -m orchestrator validate <case>` once per case, a few at a time (each is a fresh process)."""
    tmp = tmp_path_factory.mktemp("corpus")
    paths = {case: materialize(case, tmp) for case in EXPECTED}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            case: pool.submit(orchestrator, ROOT, "validate", str(path)) for case, path in paths.items()
        }
        return {case: future.result() for case, future in futures.items()}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_malformed_pack_is_rejected_with_its_location_field_and_reason(
    case: str, corpus_results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    expected = EXPECTED[case]
    proc = corpus_results[case]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    located = [line for line in proc.stderr.splitlines() if f"task.yml:{expected['line']}:" in line]
    assert any(expected["field"] in line and expected["message"] in line for line in located), proc.stderr
    assert all("(fix: " in line for line in proc.stderr.splitlines() if "task.yml:" in line), proc.stderr


def test_every_problem_of_every_pack_is_reported_in_one_pass(tmp_path: Path) -> None:
    write_pack(tmp_path, "first", commit=False, title=7, limits={"max_turns": 0})
    write_pack(tmp_path, "second", commit=False, solution="games")
    with pytest.raises(BadInput) as caught:
        load_many(tmp_path, ["first", "second"])
    fields = sorted((Path(p.file).parent.name, p.field) for p in caught.value.problems)
    assert fields == [("first", "limits.max_turns"), ("first", "title"), ("second", "solution")]


def test_load_many_returns_every_pack_when_all_are_valid(tmp_path: Path) -> None:
    write_pack(tmp_path, "one", commit=False)
    write_pack(tmp_path, "two", commit=False)
    assert [p.id for p in load_many(tmp_path, ["one", "two", "one"])] == ["one", "two"]


def test_validate_without_refs_checks_every_pack_and_exits_0() -> None:
    proc = orchestrator(ROOT, "validate")
    assert proc.returncode == 0, proc.stderr
    assert "add-slugify" in proc.stdout and "broken-acceptance" in proc.stdout


def test_validate_reports_good_and_bad_packs_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_pack(tmp_path, "good", commit=False)
    write_pack(tmp_path, "bad", commit=False, scope={"allowed_path": ["src/**"]})
    assert validate.main(tmp_path, []) == 2
    out, err = capsys.readouterr()
    assert "good" in out
    assert "taskpacks/bad/task.yml:" in err and "did you mean 'allowed_paths'?" in err


def test_unknown_ref_suggests_the_closest_task_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pack(tmp_path, "add-slugify", commit=False)
    assert validate.main(tmp_path, ["add-slugfy"]) == 2
    assert "did you mean 'add-slugify'?" in capsys.readouterr().err


def test_validate_of_an_empty_taskpacks_directory_succeeds(tmp_path: Path) -> None:
    assert validate.main(tmp_path, []) == 0


def test_problems_are_sorted_by_line(tmp_path: Path) -> None:
    write_pack(tmp_path, "unsorted", commit=False, title=1, limits={"max_turns": 0}, solution="x")
    with pytest.raises(BadInput) as caught:
        load_taskpack(tmp_path, "unsorted")
    lines = [p.line for p in caught.value.problems]
    assert lines == sorted(lines) and len(lines) == 3


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path: Path) -> None:
    write_pack(tmp_path, "zzz", commit=False, executor={"kind": "shell", "commands": ["x"], "zzzzzz": 1})
    with pytest.raises(BadInput) as caught:
        load_taskpack(tmp_path, "zzz")
    assert "allowed keys here: argv, commands, kind" in str(caught.value)


def phase_run(repo: Path, ref: str, tmp_path: Path) -> tuple[object, PhaseLog]:
    task = load_taskpack(repo, ref)
    run = SimpleNamespace(task=task, repo=repo)
    return run, PhaseLog(tmp_path / "logs" / "validate.log", Redactor.from_environ())


def test_phase_passes_for_an_unchanged_pack(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_pack(repo, "steady", commit=False)
    run, log = phase_run(repo, "steady", tmp_path)
    result = validate.run(run, log)  # type: ignore[arg-type]
    assert result.status == "passed"


def test_phase_fails_when_the_pack_changed_since_the_run_started(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    path = write_pack(repo, "edited", commit=False)
    run, log = phase_run(repo, "edited", tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "solution: web\n", encoding="utf-8")
    result = validate.run(run, log)  # type: ignore[arg-type]
    assert result.status == "failed" and "changed since the run started" in result.reason


def test_phase_fails_and_logs_the_problems_when_the_pack_became_invalid(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    path = write_pack(repo, "broken", commit=False)
    run, log = phase_run(repo, "broken", tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "limits: {max_turns: 0}\n", encoding="utf-8")
    result = validate.run(run, log)  # type: ignore[arg-type]
    assert result.status == "failed" and result.exit_code == 2
    assert "limits.max_turns" in log.path.read_text(encoding="utf-8")


def test_every_truncation_of_a_valid_pack_is_reported_never_raised(tmp_path: Path) -> None:
    source = (ROOT / "taskpacks" / "add-slugify" / "task.yml").read_bytes()
    path = tmp_path / "taskpacks" / "add-slugify" / "task.yml"
    path.parent.mkdir(parents=True)
    for end in range(0, len(source), 5):
        path.write_bytes(source[:end])
        pack, problems = check_file(tmp_path, path)
        assert pack is not None or problems, end
        assert all(p.line >= 1 and p.column >= 1 and p.hint for p in problems), problems

"""The evidence index: its content, verify (changed, missing, unexpected), refresh, query
and the repo index."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic_run import Synthetic, make_run, read

from orchestrator.evidence import index as evidence
from orchestrator.evidence import query as evidence_cli
from orchestrator.evidence import store as evidence_db
from orchestrator.fsio import sha256_file
from orchestrator.phases import evidence as evidence_phase
from orchestrator.phases import review
from orchestrator.schemas import validator

ROOT = Path(__file__).resolve().parents[2]


def finished_run(root: Path, **fields: object) -> Synthetic:
    """A synthetic run through review, indexed by the evidence phase."""
    s = make_run(root, **fields)
    review.review_run_dir(s.run_dir, s.task.data, s.manifest["task"]["path"], s.task.file.read_bytes())
    s.manifest["phases"]["review"].update(status="passed", exit_code=0)
    s.record_outputs("review", [s.run_dir / "review_report.json", s.run_dir / "REVIEW.md"])
    s.manifest["status"] = "succeeded"
    s.save()
    evidence.build(s.run_dir, s.manifest)
    return s


def verify(repo: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = evidence_cli.main(repo, ["verify", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def by_path(run_dir: Path) -> dict[str, dict]:
    return {e["path"]: e for e in read(run_dir / evidence.INDEX)["entries"]}


# --- the index ------------------------------------------------------------------------------


def test_index_lists_every_artifact_with_digest_size_kind_phase_and_media_type(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    index = read(s.run_dir / evidence.INDEX)
    assert not list(validator("evidence_index.v1.json").iter_errors(index))
    entries = by_path(s.run_dir)
    assert set(entries) == {
        "manifest.json",
        "diff.patch",
        "review_report.json",
        "REVIEW.md",
        *(f"logs/{p}.log" for p in ("validate", "safety", "prepare", "execute", "verify", "plugin")),
    }
    log = entries["logs/execute.log"]
    assert (log["kind"], log["phase"], log["media_type"]) == ("log", "execute", "text/plain")
    assert log["sha256"] == sha256_file(s.run_dir / "logs/execute.log")
    assert log["bytes"] == (s.run_dir / "logs/execute.log").stat().st_size
    assert (entries["diff.patch"]["kind"], entries["diff.patch"]["phase"]) == ("diff", "execute")
    assert (entries["REVIEW.md"]["kind"], entries["REVIEW.md"]["media_type"]) == ("review", "text/markdown")
    assert (entries["manifest.json"]["kind"], entries["manifest.json"]["phase"]) == ("manifest", None)


def test_index_is_byte_identical_when_rebuilt(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    first = (s.run_dir / evidence.INDEX).read_bytes()
    os.utime(s.run_dir / "diff.patch", (1, 1))
    evidence.build(s.run_dir, s.manifest)
    assert (s.run_dir / evidence.INDEX).read_bytes() == first


def test_root_digest_is_the_sha256_of_the_compact_sorted_entries(tmp_path: Path) -> None:
    index = read(finished_run(tmp_path).run_dir / evidence.INDEX)
    compact = json.dumps(index["entries"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert index["root_digest"] == hashlib.sha256(compact.encode("utf-8")).hexdigest()


def test_many_files_are_hashed_in_order(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    for i in range(40):
        (s.run_dir / "plugin").mkdir(exist_ok=True)
        (s.run_dir / "plugin" / f"r{i:02d}.sarif").write_bytes(bytes([i]) * (i * 1000))
    evidence.build(s.run_dir, s.manifest)
    entries = by_path(s.run_dir)
    for i in (0, 17, 39):
        item = entries[f"plugin/r{i:02d}.sarif"]
        assert item["sha256"] == sha256_file(s.run_dir / item["path"]) and item["kind"] == "plugin"


# --- verify ---------------------------------------------------------------------------------


def test_verify_passes_on_an_intact_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = finished_run(tmp_path)
    code, out = verify(s.repo, "--run", str(s.run_dir), capsys=capsys)
    assert code == 0, out
    assert out.startswith("ok: runs/add-slug/")


def test_one_changed_byte_in_a_log_fails_verify_naming_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s = finished_run(tmp_path)
    log = s.run_dir / "logs/verify.log"
    data = bytearray(log.read_bytes())
    data[0] ^= 1
    log.write_bytes(bytes(data))
    code, out = verify(s.repo, "--all", capsys=capsys)
    assert code == 1
    assert f"changed: runs/add-slug/{s.manifest['run_id']}/logs/verify.log" in out
    assert out.count("changed:") == 1


def test_missing_file_fails_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = finished_run(tmp_path)
    (s.run_dir / "diff.patch").unlink()
    code, out = verify(s.repo, "--run", str(s.run_dir), capsys=capsys)
    assert code == 1 and f"missing: runs/add-slug/{s.manifest['run_id']}/diff.patch" in out


def test_unexpected_file_fails_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = finished_run(tmp_path)
    (s.run_dir / "logs" / "extra.log").write_text("sneaked in\n")
    code, out = verify(s.repo, "--run", str(s.run_dir), capsys=capsys)
    assert code == 1 and "unexpected: runs/add-slug/" in out and "logs/extra.log" in out


def test_symlink_in_the_run_dir_fails_verify(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    os.symlink("/etc/passwd", s.run_dir / "link")
    assert evidence.verify_run(s.run_dir) == ["unexpected: link (not a regular file)"]


def test_index_edited_to_match_a_tampered_file_is_caught_by_the_attestation(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    log = s.run_dir / "logs/execute.log"
    log.write_text("rewritten history\n")
    index = read(s.run_dir / evidence.INDEX)
    for item in index["entries"]:
        if item["path"] == "logs/execute.log":
            item.update(sha256=sha256_file(log), bytes=log.stat().st_size)
    index["root_digest"] = evidence.root_digest(index["entries"])
    (s.run_dir / evidence.INDEX).write_text(json.dumps(index))
    problems = evidence.verify_run(s.run_dir)
    assert any("logs/execute.log" in p for p in problems)
    assert any(p.startswith("changed: attestation.intoto.json") for p in problems)


def test_run_without_an_index_fails_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = make_run(tmp_path)
    code, out = verify(s.repo, capsys=capsys)
    assert code == 1 and "missing: runs/add-slug/" in out and "evidence_index.json" in out


def test_verify_through_python_m_orchestrator(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    argv = [sys.executable, "-m", "orchestrator", "-C", str(s.repo), "evidence", "verify", "--all"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(argv, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (s.run_dir / "REVIEW.md").write_text("approved!\n")
    bad = subprocess.run(argv, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "REVIEW.md" in bad.stdout


# --- refresh (the phases after evidence) -----------------------------------------------------


def _finish_phase(s: Synthetic, name: str, outputs: list[Path]) -> None:
    """What the pipeline does at the end of a phase: log, record outputs, save, refresh."""
    log = s.run_dir / "logs" / f"{name}.log"
    with log.open("a") as handle:
        handle.write(f"# phase {name} passed\n")
    s.manifest["phases"][name].update(status="passed", exit_code=0)
    s.record_outputs(name, [*outputs, log])
    s.save()
    assert evidence.refresh(s.run(), name)


def test_refresh_after_later_phases_keeps_verify_exact(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    _finish_phase(s, "evidence", [])
    (s.run_dir / "SUMMARY.md").write_text("# summary\n")
    _finish_phase(s, "summarize", [s.run_dir / "SUMMARY.md"])
    s.manifest["git"]["head"] = "b" * 40
    _finish_phase(s, "publish", [s.run_dir / "SUMMARY.md"])
    assert evidence.verify_run(s.run_dir) == []
    assert by_path(s.run_dir)["SUMMARY.md"]["phase"] == "summarize"


def test_refresh_equals_a_full_rebuild(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    (s.run_dir / "SUMMARY.md").write_text("# summary\n")
    _finish_phase(s, "summarize", [s.run_dir / "SUMMARY.md"])
    refreshed = (s.run_dir / evidence.INDEX).read_bytes()
    evidence.build(s.run_dir, s.manifest)
    assert (s.run_dir / evidence.INDEX).read_bytes() == refreshed


def test_refresh_does_not_bless_a_file_changed_behind_the_orchestrator(tmp_path: Path) -> None:
    s = finished_run(tmp_path)
    (s.run_dir / "diff.patch").write_text("tampered\n")
    (s.run_dir / "SUMMARY.md").write_text("# summary\n")
    _finish_phase(s, "summarize", [s.run_dir / "SUMMARY.md"])
    assert [p.split(" ")[:2] for p in evidence.verify_run(s.run_dir)] == [["changed:", "diff.patch"]]


def test_refresh_is_a_no_op_before_the_evidence_phase(tmp_path: Path) -> None:
    s = make_run(tmp_path)
    assert evidence.refresh(s.run(), "review") is False
    assert not (s.run_dir / evidence.INDEX).exists()


def test_evidence_phase_indexes_and_upserts_the_repo_index(tmp_path: Path) -> None:
    from orchestrator.phaselog import PhaseLog
    from orchestrator.redact import Redactor

    s = make_run(tmp_path)
    result = evidence_phase.run(s.run(), PhaseLog(s.run_dir / "logs/evidence.log", Redactor()))
    assert result.status == "passed" and (s.run_dir / evidence.ATTESTATION).is_file()
    with sqlite3.connect(s.repo / evidence_db.DB) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)


# --- query and the repository index -----------------------------------------------------------


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Synthetic, Synthetic]:
    first = finished_run(tmp_path)
    second = finished_run(tmp_path, id="fix-bug", run_id="20250102T000000Z-def456")
    second.manifest["status"] = "failed"
    second.save()
    evidence.build(second.run_dir, second.manifest)
    return first, second


def query_json(repo: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert evidence_cli.main(repo, ["query", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_query_by_task_lists_that_run_and_its_artifacts(
    two_runs: tuple[Synthetic, Synthetic], capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = two_runs
    rows = query_json(first.repo, "--task", "add-slug", capsys=capsys)
    assert {r["run_id"] for r in rows} == {first.manifest["run_id"]}
    assert {"diff.patch", "evidence_index.json", "attestation.intoto.json"} <= {r["path"] for r in rows}
    assert rows[0]["run_dir"] == f"runs/add-slug/{first.manifest['run_id']}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--kind", "diff"], {("add-slug", "diff.patch"), ("fix-bug", "diff.patch")}),
        (
            ["--phase", "review", "--status", "failed"],
            {("fix-bug", "REVIEW.md"), ("fix-bug", "review_report.json")},
        ),
        (
            ["--run", "20250102T000000Z-def456", "--path", "logs/v*.log"],
            {("fix-bug", "logs/validate.log"), ("fix-bug", "logs/verify.log")},
        ),
        (["--run", "runs/add-slug/20250101T000000Z-abc123", "--path", "*.md"], {("add-slug", "REVIEW.md")}),
    ],
)
def test_query_filters(
    two_runs: tuple[Synthetic, Synthetic],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: set[tuple[str, str]],
) -> None:
    rows = query_json(two_runs[0].repo, *args, capsys=capsys)
    assert {(r["task"], r["path"]) for r in rows} == expected


def test_query_table_output_names_each_artifact(
    two_runs: tuple[Synthetic, Synthetic], capsys: pytest.CaptureFixture[str]
) -> None:
    assert evidence_cli.main(two_runs[0].repo, ["query", "--kind", "diff"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[1:]] == [
        "runs/add-slug/20250101T000000Z-abc123/diff.patch",
        "runs/fix-bug/20250102T000000Z-def456/diff.patch",
    ]


def test_query_table_output_starts_with_a_header_row_its_columns_align_under(
    two_runs: tuple[Synthetic, Synthetic], capsys: pytest.CaptureFixture[str]
) -> None:
    assert evidence_cli.main(two_runs[0].repo, ["query", "--kind", "diff"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["ARTIFACT", "STATUS", "PHASE", "KIND", "BYTES", "SHA256"]
    for row in rows:
        assert row.index(row.split()[1]) == header.index("STATUS")
        assert row.split()[3] == "diff"


@pytest.mark.parametrize(
    "args",
    [
        ["query", "--kind", "bogus"],
        ["query", "--path", "/etc/*"],
        ["verify", "--run", "nowhere"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert evidence_cli.main(tmp_path, args) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_repo_index_is_rebuilt_when_missing_or_corrupt(two_runs: tuple[Synthetic, Synthetic]) -> None:
    repo = two_runs[0].repo
    db = repo / evidence_db.DB
    evidence_db.query(repo)
    db.unlink()
    assert len({r["task"] for r in evidence_db.query(repo)}) == 2
    db.write_bytes(b"not a database at all" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert len({r["task"] for r in evidence_db.query(repo)}) == 2


def test_repo_index_follows_runs_incrementally(two_runs: tuple[Synthetic, Synthetic]) -> None:
    first, second = two_runs
    repo = first.repo
    evidence_db.query(repo)
    (first.run_dir / "SUMMARY.md").write_text("# s\n")
    first.manifest["status"] = "tripped"
    first.save()
    evidence.build(first.run_dir, first.manifest)
    with evidence_db.connect(repo) as conn:
        assert evidence_db.sync(repo, conn) == (1, 0)
        assert evidence_db.sync(repo, conn) == (0, 0)
    assert [r["status"] for r in evidence_db.query(repo, path_glob="SUMMARY.md")] == ["tripped"]
    import shutil

    shutil.rmtree(second.run_dir)
    assert {r["task"] for r in evidence_db.query(repo)} == {"add-slug"}


def test_the_streamed_json_follows_a_run_whose_status_changed(two_runs: tuple[Synthetic, Synthetic]) -> None:
    """The JSON objects are made when a run is written: a rewritten manifest rewrites them."""
    first, _ = two_runs
    evidence_db.query(first.repo)
    first.manifest["status"] = "tripped"
    first.save()
    run = evidence_db.rel_run_dir(first.repo, first.run_dir)
    streamed = [json.loads(obj) for obj in evidence_db.query_json(first.repo, run=run)]
    assert streamed and {row["status"] for row in streamed} == {"tripped"}
    assert streamed == evidence_db.query(first.repo, run=run)


def test_the_streamed_json_query_gives_exactly_the_rows_of_the_query(tmp_path: Path) -> None:
    import io

    from orchestrator.evidence import store as evidence_db
    from orchestrator.evidence.query import write_json_array
    from tools import bench

    bench._synthetic_runs(tmp_path, 12, 9)
    for filters in (
        {},
        {"task": "task-07"},
        {"kind": "diff", "status": "failed"},
        {"phase": "execute", "path_glob": "logs/*.log"},
        {"task": "no-such-task"},
    ):
        out = io.StringIO()
        write_json_array(evidence_db.query_json(tmp_path, **filters), out)
        assert json.loads(out.getvalue()) == evidence_db.query(tmp_path, **filters), filters

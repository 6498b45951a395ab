"""The escape guard: what only an escape could change is compared around execute, verify and plugin.

The end-to-end cases play an escape that already happened: under the recorded override
ORCH_UNSAFE_NO_ISOLATION=1 the pack's command can reach the main checkout, as a jail
escape would, and the host must refuse the run and name what changed.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

from conftest import git, manifest, orchestrator, runs_of, write_pack
from orchestrator import fingerprint, guard
from orchestrator.gitops import journal_ref

UNSAFE = {"ORCH_UNSAFE_NO_ISOLATION": "1"}
REPO = 'REPO=$(dirname "$(git rev-parse --path-format=absolute --git-common-dir)")'


def escape_run(
    repo: Path, task_id: str, command: str, **fields: object
) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    write_pack(repo, task_id, executor={"kind": "shell", "commands": [f"{REPO}; {command}"]}, **fields)
    proc = orchestrator(repo, "run", task_id, env=UNSAFE)
    run_dir = runs_of(repo, task_id)[-1]
    return proc, manifest(run_dir), run_dir


def refused_naming(proc: subprocess.CompletedProcess[str], data: dict, *names: str) -> str:
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert data["status"] != "succeeded"
    reason = data["phases"]["execute"]["reason"]
    assert data["phases"]["execute"]["status"] == "refused", reason
    for name in names:
        assert name in reason, reason
    return reason


def test_a_file_planted_in_the_main_checkout_refuses_the_run_naming_it(repo: Path) -> None:
    proc, data, _ = escape_run(repo, "plant", 'echo x > "$REPO/PLANTED.txt"')
    refused_naming(proc, data, "checkout:PLANTED.txt (created)")


def test_an_ignored_env_file_changed_by_an_escape_is_named(repo: Path) -> None:
    (repo / ".env").write_text("TOKEN=abc\n", encoding="utf-8")
    proc, data, _ = escape_run(repo, "dotenv", 'echo more >> "$REPO/.env"')
    refused_naming(proc, data, "checkout:.env (changed)")


def test_an_in_place_rewrite_that_restores_size_and_mtime_is_named(repo: Path) -> None:
    """Same inode, same size, mtime put back: only the change time moves, and the guard reads it."""
    rewrite = (
        'f="$REPO/README.md"; t=$(stat -c %y "$f"); '
        'printf X | dd of="$f" bs=1 seek=0 conv=notrunc status=none; touch -d "$t" "$f"'
    )
    proc, data, _ = escape_run(repo, "inplace", rewrite)
    refused_naming(proc, data, "checkout:README.md (changed)")


def test_an_edited_engine_module_is_named(repo: Path) -> None:
    proc, data, _ = escape_run(repo, "engine", 'echo "# planted" >> "$REPO/orchestrator/phases/review.py"')
    refused_naming(proc, data, "checkout:orchestrator/phases/review.py (changed)")


def test_an_edited_git_info_exclude_is_named_by_file(repo: Path) -> None:
    proc, data, _ = escape_run(repo, "exclude", 'echo "*.secret" >> "$REPO/.git/info/exclude"')
    refused_naming(proc, data, ".git/info:exclude (changed)")


def test_a_planted_hook_and_config_are_named(repo: Path) -> None:
    proc, data, _ = escape_run(
        repo,
        "hooks",
        'printf "#!/bin/sh\\n" > "$REPO/.git/hooks/pre-commit"; '
        'git -C "$REPO" config core.fsmonitor "touch /tmp/x"',
    )
    refused_naming(proc, data, ".git/hooks:pre-commit (created)", ".git/config: (changed)")


def test_a_moved_ref_is_named(repo: Path) -> None:
    proc, data, _ = escape_run(repo, "refmove", 'git -C "$REPO" update-ref refs/heads/planted HEAD')
    refused_naming(proc, data, "ref:refs/heads/planted (created)")


def test_a_user_edit_to_info_exclude_between_runs_is_no_violation(repo: Path) -> None:
    write_pack(repo, "between")
    assert orchestrator(repo, "run", "between").returncode == 0
    with (repo / ".git" / "info" / "exclude").open("a", encoding="utf-8") as handle:
        handle.write("*.local\n")
    proc = orchestrator(repo, "run", "between")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert manifest(runs_of(repo, "between")[-1])["status"] == "succeeded"


def test_a_clean_run_that_compiles_engine_bytecode_records_an_allow_decision_per_guarded_phase(
    repo: Path, run_pack
) -> None:
    assert not list((repo / "orchestrator").rglob("__pycache__"))
    _, data, _ = run_pack("clean", env={"PYTHONDONTWRITEBYTECODE": ""})
    assert list((repo / "orchestrator" / "executors").glob("__pycache__/*.pyc"))
    decisions = {d["id"]: d["decision"] for d in data["safety"]["decisions"]}
    assert decisions["guard.execute"] == "allow" and decisions["guard.verify"] == "allow"


# --- the orchestrator's own changes ------------------------------------------------------


def test_a_journalled_branch_update_is_no_violation_and_an_unjournalled_one_is(repo: Path) -> None:
    before = guard.snapshot(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", "refs/heads/codex/other", head)
    assert guard.differences(before, guard.snapshot(repo), repo) == ["ref:refs/heads/codex/other (created)"]
    journal_ref(repo, "refs/heads/codex/other", head)
    assert guard.differences(before, guard.snapshot(repo), repo) == []


def test_bytecode_the_host_compiles_itself_is_accepted_and_forged_bytecode_is_not(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("VALUE = 1\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", "import mod"], env=env, check=True, cwd=tmp_path)
    pyc = next((tmp_path / "__pycache__").glob("mod.*.pyc"))
    assert guard.legit_bytecode(pyc)
    forged = compile("VALUE = 2\n", str(source), "exec")
    pyc.write_bytes(pyc.read_bytes()[:16] + marshal.dumps(forged))
    assert not guard.legit_bytecode(pyc)


def test_a_published_run_names_its_evidence_commit_when_a_rerun_is_refused(repo: Path, run_pack) -> None:
    _, data, run_dir = run_pack("sealed")
    proc = orchestrator(repo, "verify", "sealed", "--run", str(run_dir.relative_to(repo)))
    assert proc.returncode == 2
    assert data["git"]["evidence_commit"] is None or "evidence commit" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_pth_file_planted_in_the_interpreter_environment_is_named(
    repo: Path, tmp_path: Path, monkeypatch
) -> None:
    site = tmp_path / "venv" / "lib" / "python3" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.setattr(guard, "interpreter_paths", lambda: {"venv/lib": tmp_path / "venv" / "lib"})
    before = guard.snapshot(repo)
    (site / "evil.pth").write_text("import os\n", encoding="utf-8")
    assert guard.differences(before, guard.snapshot(repo), repo) == [
        "venv/lib:python3/site-packages/evil.pth (created)"
    ]


# --- the listing of the large trees ----------------------------------------------------------


def odd_tree(root: Path) -> None:
    """Names and kinds a listing could get wrong: spaces, a newline, a leading dash, links, a fifo."""
    (root / "pkg" / "sub dir").mkdir(parents=True)
    (root / "pkg" / "sub dir" / "a file.py").write_text("x = 1\n", encoding="utf-8")
    (root / "pkg" / "line\nbreak.txt").write_text("", encoding="utf-8")
    (root / "-dash").write_text("d", encoding="utf-8")
    tool = root / "pkg" / "tool"
    tool.write_text("#!/bin/sh\n", encoding="utf-8")
    tool.chmod(0o755)
    os.symlink("> odd target", root / "pkg" / "link")
    os.symlink("../-dash", root / "pkg" / "dash-link")
    os.mkfifo(root / "pkg" / "fifo")


def test_the_listing_of_a_tree_holds_exactly_what_the_walk_fingerprints(tmp_path: Path) -> None:
    odd_tree(tmp_path)
    listed, walked = fingerprint.Snapshot(), fingerprint.Snapshot()
    fingerprint.list_trees(listed, [("venv/lib", tmp_path, ())])
    fingerprint.walk(walked, "venv/lib", tmp_path)
    assert listed.listing and not listed.entries, "GNU find lists the tree"
    assert listed.all_entries() == walked.entries
    assert listed.count == len(walked.entries)


def test_a_file_rewritten_in_place_in_the_interpreter_environment_is_named(
    repo: Path, tmp_path: Path, monkeypatch
) -> None:
    """Same size, same inode, same directory: only the file's own fingerprint moves."""
    site = tmp_path / "venv" / "lib" / "python3" / "site-packages"
    site.mkdir(parents=True)
    module = site / "trusted.py"
    module.write_text("SAFE = 1\n", encoding="utf-8")
    monkeypatch.setattr(guard, "interpreter_paths", lambda: {"venv/lib": tmp_path / "venv" / "lib"})
    before = guard.snapshot(repo)
    directory = os.stat(site).st_mtime_ns
    with module.open("r+", encoding="utf-8") as handle:
        handle.write("EVIL = 1\n")
    assert os.stat(site).st_mtime_ns == directory
    assert guard.differences(before, guard.snapshot(repo), repo) == [
        "venv/lib:python3/site-packages/trusted.py (changed)"
    ]


def test_without_gnu_find_every_tree_is_walked_and_compared_alike(
    repo: Path, tmp_path: Path, monkeypatch
) -> None:
    odd_tree(tmp_path / "lib")
    monkeypatch.setattr(guard, "interpreter_paths", lambda: {"venv/lib": tmp_path / "lib"})
    listed = guard.snapshot(repo)
    monkeypatch.setattr(fingerprint, "_gnu_find", lambda: None)
    walked = guard.snapshot(repo)
    assert not walked.listing and walked.count == listed.count
    assert guard.differences(listed, walked, repo) == []
    (tmp_path / "lib" / "pkg" / "tool").chmod(0o700)
    assert guard.differences(listed, guard.snapshot(repo), repo) == ["venv/lib:pkg/tool (changed)"]


def test_a_tree_beyond_the_entry_limit_is_said_to_be_not_walked(tmp_path: Path, monkeypatch) -> None:
    odd_tree(tmp_path)
    for n in range(50):
        (tmp_path / "pkg" / f"extra-{n:02d}").write_text("", encoding="utf-8")
    monkeypatch.setattr(fingerprint, "MAX_ENTRIES", 20)
    snap = fingerprint.Snapshot()
    fingerprint.list_trees(snap, [("venv/lib", tmp_path, ())])
    assert snap.truncated == ["venv/lib (more than 20 entries)"]
    assert 0 < snap.count <= 20 and not snap.listing

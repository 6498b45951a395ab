"""The task branch: built on the run's own base, so a pull request shows exactly the run's change."""

from __future__ import annotations

from pathlib import Path

from conftest import base_branch, git, manifest, orchestrator, runs_of, write_pack

FIX = {"kind": "shell", "commands": ["mkdir -p src && echo hello > src/hello.txt"]}
CHECK = [{"id": "hello", "run": "test -f src/hello.txt"}]


def rev(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", ref).strip()


def changed_since_merge_base(repo: Path, branch: str) -> list[str]:
    return git(repo, "diff", "--name-only", f"{base_branch()}...{branch}").split()


def commit_unrelated(repo: Path) -> None:
    (repo / "UNRELATED.md").write_text("someone else's work\n", encoding="utf-8")
    git(repo, "add", "UNRELATED.md")
    git(repo, "commit", "-q", "-m", "unrelated work on the base branch")


def test_a_refused_first_run_then_a_run_after_the_base_moved_diffs_only_the_change(repo: Path) -> None:
    write_pack(repo, "greet", commit=False, executor=FIX, acceptance=CHECK)
    refused = orchestrator(repo, "run", "greet")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    first = runs_of(repo, "greet")[-1]
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add pack greet")
    commit_unrelated(repo)
    proc = orchestrator(repo, "run", "greet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(repo, "merge-base", base_branch(), "codex/greet").strip() == rev(repo, base_branch())
    changed = changed_since_merge_base(repo, "codex/greet")
    assert [p for p in changed if not p.startswith("runs/greet/")] == ["src/hello.txt"]
    assert f"runs/greet/{first.name}/manifest.json" in changed  # the refused run's evidence is still there


def test_the_change_commit_sits_directly_on_the_runs_base(repo: Path) -> None:
    write_pack(repo, "greet", executor=FIX, acceptance=CHECK)
    assert orchestrator(repo, "run", "greet").returncode == 0
    commit_unrelated(repo)
    assert orchestrator(repo, "run", "greet").returncode == 0
    data = manifest(runs_of(repo, "greet")[-1])
    assert data["git"]["base"] == rev(repo, base_branch())
    assert rev(repo, f"{data['git']['head']}^") == data["git"]["base"]
    changed = git(repo, "diff", "--name-only", data["git"]["base"], data["git"]["head"]).split()
    assert changed == ["src/hello.txt"]


def test_earlier_runs_stay_reachable_from_the_branch(repo: Path) -> None:
    write_pack(repo, "greet", executor=FIX, acceptance=CHECK)
    assert orchestrator(repo, "run", "greet").returncode == 0
    earlier = manifest(runs_of(repo, "greet")[-1])["git"]["evidence_commit"]
    commit_unrelated(repo)
    assert orchestrator(repo, "run", "greet").returncode == 0
    assert git(repo, "rev-list", "--parents", "-n", "1", "codex/greet").split()[2:] == [earlier]
    git(repo, "merge-base", "--is-ancestor", earlier, "codex/greet")  # raises when it is not


def test_a_refused_rerun_keeps_the_published_change_and_the_base(repo: Path) -> None:
    write_pack(repo, "greet", executor=FIX, acceptance=CHECK)
    assert orchestrator(repo, "run", "greet").returncode == 0
    before = git(repo, "merge-base", base_branch(), "codex/greet").strip()
    (repo / "dirty.txt").write_text("uncommitted\n", encoding="utf-8")
    assert orchestrator(repo, "run", "greet").returncode == 3
    assert manifest(runs_of(repo, "greet")[-1])["status"] == "refused"
    assert git(repo, "merge-base", base_branch(), "codex/greet").strip() == before
    assert [p for p in changed_since_merge_base(repo, "codex/greet") if not p.startswith("runs/")] == [
        "src/hello.txt"
    ]


def test_a_refused_run_on_an_older_base_never_moves_the_branch_back(repo: Path) -> None:
    write_pack(repo, "greet", executor=FIX, acceptance=CHECK)
    old_base = rev(repo, base_branch())
    git(repo, "branch", "old-base", old_base)
    commit_unrelated(repo)
    assert orchestrator(repo, "run", "greet").returncode == 0
    new_base = rev(repo, base_branch())
    (repo / "dirty.txt").write_text("uncommitted\n", encoding="utf-8")
    assert orchestrator(repo, "run", "greet", env={"BASE_BRANCH": "old-base"}).returncode == 3
    git(repo, "merge-base", "--is-ancestor", new_base, "codex/greet")
    assert git(repo, "merge-base", base_branch(), "codex/greet").strip() == new_base

"""What is tested is what is published: each attack runs end to end and is judged from the host.

The attacks are changes that passed review before: a hidden conftest, a gitlink, an attribute
that rewrites the published blob, and links to control-plane files. None may end `succeeded`,
and the task branch must never carry what was not tested.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import git, manifest, orchestrator, runs_of, write_pack
from orchestrator import freshcheckout, tested

SCOPE = {"allowed_paths": ["src/**"]}
FAILING_TEST = "printf 'def test_it():\\n    assert False\\n' > src/tests/test_hidden.py"
FORGING_CONFTEST = (
    "printf 'import pytest\\n@pytest.hookimpl(hookwrapper=True)\\n"
    "def pytest_runtest_makereport(item, call):\\n"
    '    outcome = yield\\n    outcome.get_result().outcome = "passed"\\n\' > src/tests/conftest.py'
)


def attack(
    repo: Path, task_id: str, commands: list[str], check: str = "true"
) -> tuple[subprocess.CompletedProcess[str], dict, str]:
    write_pack(
        repo,
        task_id,
        executor={"kind": "shell", "commands": commands},
        scope=SCOPE,
        acceptance=[{"id": "check", "run": check}],
    )
    proc = orchestrator(repo, "run", task_id)
    data = manifest(runs_of(repo, task_id)[-1])
    assert data["status"] != "succeeded", data["reason"]
    assert proc.returncode == 3, proc.stdout + proc.stderr
    return proc, data, data["phases"]["execute"]["reason"]


def branch_files(repo: Path, task_id: str) -> str:
    return git(repo, "ls-tree", "-r", "--full-tree", f"codex/{task_id}")


def test_a_planted_gitignore_hiding_a_conftest_is_refused_and_the_conftest_never_published(
    repo: Path,
) -> None:
    commands = [FAILING_TEST, FORGING_CONFTEST, "printf 'conftest.py\\n' > src/tests/.gitignore"]
    _, _, reason = attack(
        repo, "hidden-conftest", commands, "python -m pytest -q -p no:cacheprovider src/tests"
    )
    assert "src/tests/.gitignore" in reason
    listing = branch_files(repo, "hidden-conftest")
    assert "src/tests/conftest.py" not in listing and "test_hidden.py" not in listing


def test_a_nested_git_repository_is_refused_and_no_gitlink_is_published(repo: Path) -> None:
    nested = (
        "mkdir -p src/vendor && cd src/vendor && git init -q && echo x > f && git add f && "
        "git -c user.name=a -c user.email=a@localhost commit -qm x"
    )
    _, _, reason = attack(repo, "gitlink", [nested])
    assert "src/vendor" in reason
    listing = branch_files(repo, "gitlink")
    assert "160000" not in listing and "src/vendor" not in listing


def test_a_planted_gitattributes_with_ident_is_refused(repo: Path) -> None:
    commands = ["printf '*.txt ident\\n' > src/.gitattributes", "printf '$Id: forged $\\n' > src/id.txt"]
    _, _, reason = attack(repo, "ident", commands, "grep -q forged src/id.txt")
    assert "src/.gitattributes" in reason


def test_in_scope_links_to_the_noxfile_and_to_git_are_refused_by_name(repo: Path) -> None:
    commands = ["ln -s ../noxfile.py src/nox.py", "ln -s ../.git src/g", "ln -s .. src/root"]
    _, _, reason = attack(repo, "links", commands)
    assert (
        "src/nox.py -> ../noxfile.py" in reason
        and "src/g -> ../.git" in reason
        and "src/root -> .." in reason
    )


def test_acceptance_that_rewrites_a_tested_file_fails_verify_by_name(repo: Path) -> None:
    write_pack(
        repo,
        "rewrites",
        executor={"kind": "shell", "commands": ["echo one > src/out.txt"]},
        scope=SCOPE,
        acceptance=[{"id": "check", "run": "echo two > src/out.txt"}],
    )
    proc = orchestrator(repo, "run", "rewrites")
    data = manifest(runs_of(repo, "rewrites")[-1])
    assert proc.returncode == 3 and data["status"] != "succeeded"
    assert "src/out.txt" in data["phases"]["verify"]["reason"]
    assert "src/out.txt" not in branch_files(repo, "rewrites")


def test_acceptance_that_rewrites_a_tested_file_keeping_size_and_mtime_fails_verify(repo: Path) -> None:
    """The fresh checkout trusts an unchanged lstat; a rewrite that puts size and mtime back
    still moves the change time."""
    write_pack(
        repo,
        "sametimes",
        executor={"kind": "shell", "commands": ["echo one > src/out.txt"]},
        scope=SCOPE,
        acceptance=[
            {
                "id": "check",
                "run": 't=$(stat -c %y src/out.txt); echo owt > src/out.txt; touch -d "$t" src/out.txt',
            }
        ],
    )
    proc = orchestrator(repo, "run", "sametimes")
    data = manifest(runs_of(repo, "sametimes")[-1])
    assert proc.returncode == 3 and data["status"] != "succeeded"
    assert "src/out.txt" in data["phases"]["verify"]["reason"]
    assert "src/out.txt" not in branch_files(repo, "sametimes")


# --- the properties behind them ------------------------------------------------------------------


def test_acceptance_runs_on_the_change_tree_not_on_ignored_workspace_files(repo: Path) -> None:
    write_pack(
        repo,
        "ignored",
        executor={
            "kind": "shell",
            "commands": ["echo hi > src/ok.txt", "mkdir -p build && echo x > build/seen"],
        },
        scope=SCOPE,
        acceptance=[{"id": "check", "run": "test -f src/ok.txt && test ! -e build/seen"}],
    )
    proc = orchestrator(repo, "run", "ignored")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = manifest(runs_of(repo, "ignored")[-1])
    assert data["changes"]["tested_tree"] == data["changes"]["tree"]


def test_published_blobs_are_the_tested_bytes_even_under_committed_attributes(repo: Path) -> None:
    (repo / ".gitattributes").write_text("*.txt ident\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "attributes")
    write_pack(
        repo,
        "bytes",
        executor={"kind": "shell", "commands": ["printf '$Id: kept $\\n' > src/id.txt"]},
        scope=SCOPE,
        acceptance=[{"id": "check", "run": "grep -q 'Id: kept' src/id.txt"}],
    )
    proc = orchestrator(repo, "run", "bytes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(repo, "cat-file", "blob", "codex/bytes~1:src/id.txt") == "$Id: kept $\n"


def test_a_link_target_is_resolved_against_the_link_directory() -> None:
    assert tested.link_target("src/a", "../noxfile.py") == "noxfile.py"
    assert tested.link_target("src/a", "..") == ""
    assert tested.link_target("src/a", "../../etc") is None
    assert tested.link_target("src/a", "/etc/passwd") is None


def test_a_path_with_a_newline_is_refused_not_crashed(repo: Path) -> None:
    _, _, reason = attack(repo, "newline", ["touch 'src/a\nb.py'"])
    assert "paths with control characters" in reason and "a\\nb.py" in reason


def test_a_file_replaced_by_a_directory_is_an_ordinary_change(repo: Path) -> None:
    write_pack(
        repo,
        "redir",
        executor={
            "kind": "shell",
            "commands": [
                "rm src/textkit/words.py && mkdir src/textkit/words.py "
                "&& echo x > src/textkit/words.py/inner.txt"
            ],
        },
        scope=SCOPE,
        acceptance=[{"id": "check", "run": "test -f src/textkit/words.py/inner.txt"}],
    )
    proc = orchestrator(repo, "run", "redir")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "src/textkit/words.py/inner.txt" in git(repo, "ls-tree", "-r", "--name-only", "codex/redir~1")


def test_an_untouched_checkout_is_its_tree_without_hashing_it_again(
    repo: Path, tmp_path: Path, monkeypatch
) -> None:
    head, tree = git(repo, "rev-parse", "HEAD").strip(), git(repo, "rev-parse", "HEAD^{tree}").strip()
    checkout = freshcheckout.checkout(repo, head, tree, tmp_path / "tested", 60)

    def no_hashing(*args: object) -> str:
        raise AssertionError("an untouched checkout is not hashed again")

    monkeypatch.setattr(freshcheckout, "build_tree", no_hashing)
    assert freshcheckout.tree_after_checks(repo, checkout, tree, 60) == (tree, [])


def test_a_file_rewritten_with_its_size_and_times_kept_is_still_named(repo: Path, tmp_path: Path) -> None:
    """Only the change time, which no jailed process can set, tells this rewrite apart."""
    import os

    head, tree = git(repo, "rev-parse", "HEAD").strip(), git(repo, "rev-parse", "HEAD^{tree}").strip()
    checkout = freshcheckout.checkout(repo, head, tree, tmp_path / "tested", 60)
    target = checkout / "noxfile.py"
    before = target.stat()
    data = target.read_bytes()
    with target.open("r+b") as handle:
        handle.write(bytes([data[0] ^ 1]))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    now, changed = freshcheckout.tree_after_checks(repo, checkout, tree, 60)
    assert now != tree and changed == ["noxfile.py"]


def test_a_mode_change_in_the_checkout_is_named(repo: Path, tmp_path: Path) -> None:
    head, tree = git(repo, "rev-parse", "HEAD").strip(), git(repo, "rev-parse", "HEAD^{tree}").strip()
    checkout = freshcheckout.checkout(repo, head, tree, tmp_path / "tested", 60)
    target = checkout / "noxfile.py"
    target.chmod(target.stat().st_mode ^ 0o111)
    assert freshcheckout.tree_after_checks(repo, checkout, tree, 60)[1] == ["noxfile.py"]

"""The review's reading of diff.patch, on patches produced by real git: paths, line numbers, odd files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator import diffparse

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True).stdout.decode()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, diffparse.FileDiff]:
    repo = tmp_path_factory.mktemp("diff")
    git(repo, "init", "-q")
    (repo / "a.txt").write_text("one\ntwo\nthree\n")
    (repo / "del.txt").write_text("gone\n")
    (repo / "sp ace.txt").write_text("x\n")
    (repo / "old.txt").write_text("same\n" * 5)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    (repo / "a.txt").write_text("one\nTWO\nthree\nfour\n")
    (repo / "del.txt").unlink()
    (repo / "sp ace.txt").write_text("y\n")
    (repo / "b.bin").write_bytes(b"\x00\x01binary")
    (repo / "ü.txt").write_text("z\n")
    (repo / "old.txt").rename(repo / "new.txt")
    os.symlink("../../etc/passwd", repo / "link")
    git(repo, "add", "-A")
    patch = git(repo, "diff", "--cached", "--binary", "--full-index", "-M", "HEAD")
    return {f.path: f for f in diffparse.parse(patch)}


def test_every_touched_path_is_found_including_both_sides_of_a_rename(
    files: dict[str, diffparse.FileDiff],
) -> None:
    paths = diffparse.changed_paths(list(files.values()))
    assert paths == sorted(["a.txt", "b.bin", "del.txt", "link", "new.txt", "old.txt", "sp ace.txt", "ü.txt"])


def test_added_lines_carry_new_file_line_numbers_and_removed_lines_old_ones(
    files: dict[str, diffparse.FileDiff],
) -> None:
    assert files["a.txt"].added == [(2, "TWO"), (4, "four")]
    assert files["a.txt"].removed == [(2, "two")]


def test_deletion_is_known_by_its_old_path(files: dict[str, diffparse.FileDiff]) -> None:
    deleted = files["del.txt"]
    assert (deleted.old_path, deleted.new_path, deleted.removed) == ("del.txt", None, [(1, "gone")])


def test_binary_file_has_no_lines(files: dict[str, diffparse.FileDiff]) -> None:
    assert files["b.bin"].binary and not files["b.bin"].added


def test_quoted_unicode_path_is_unquoted(files: dict[str, diffparse.FileDiff]) -> None:
    assert files["ü.txt"].added == [(1, "z")]


def test_symlink_target_is_its_added_line(files: dict[str, diffparse.FileDiff]) -> None:
    assert files["link"].symlink and files["link"].added == [(1, "../../etc/passwd")]


def test_a_removed_line_that_looks_like_a_header_stays_a_line() -> None:
    patch = "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1,2 +1,1 @@\n--- a/y\n keep\n"
    [item] = diffparse.parse(patch)
    assert (item.path, item.removed, item.added) == ("x", [(1, "-- a/y")], [])


def test_a_path_holding_a_space_and_b_slash_is_read_from_the_two_header_halves() -> None:
    patch = (
        "diff --git a/z b/q.bin b/z b/q.bin\nnew file mode 100644\nindex 0000000..1111111\n"
        "Binary files /dev/null and b/z b/q.bin differ\n"
    )
    [item] = diffparse.parse(patch)
    assert (item.old_path, item.new_path, item.binary) == (None, "z b/q.bin", True)


def test_mode_changes_no_newline_markers_and_crlf_lines() -> None:
    patch = (
        "diff --git a/m.sh b/m.sh\nold mode 100644\nnew mode 100755\n"
        "diff --git a/n.txt b/n.txt\nindex 1..2 100644\n--- a/n.txt\n+++ b/n.txt\n@@ -1 +1 @@\n"
        "-a\r\n\\ No newline at end of file\n+b\r\n\\ No newline at end of file\n"
    )
    mode, text = diffparse.parse(patch)
    assert (mode.path, mode.added, mode.removed, mode.symlink) == ("m.sh", [], [], False)
    assert (text.removed, text.added) == ([(1, "a")], [(1, "b")])


def test_a_retargeted_symlink_is_a_symlink() -> None:
    patch = (
        "diff --git a/l b/l\nindex 1111111..2222222 120000\n--- a/l\n+++ b/l\n@@ -1 +1 @@\n-t\n"
        "\\ No newline at end of file\n+../../x\n\\ No newline at end of file\n"
    )
    [item] = diffparse.parse(patch)
    assert item.symlink and item.added == [(1, "../../x")]


def test_an_empty_diff_has_no_files() -> None:
    assert diffparse.parse("") == []


def test_a_hunk_shorter_than_its_header_is_an_error() -> None:
    with pytest.raises(diffparse.DiffError):
        diffparse.parse("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-a\n")


def test_paths_holding_a_space_and_b_slash_keep_their_lines() -> None:
    patch = (
        "diff --git a/w b/y b/z b/w b/y b/z\nnew file mode 100644\nindex 0000000..1111111\n"
        "--- /dev/null\n+++ b/w b/y b/z\t\n@@ -0,0 +1 @@\n+new\n"
        "diff --git a/src.txt b/n b/r.txt\nsimilarity index 90%\nrename from src.txt\nrename to n b/r.txt\n"
        "index 1111111..2222222 100644\n--- a/src.txt\n+++ b/n b/r.txt\t\n@@ -1 +1,2 @@\n one\n+two\n"
        'diff --git "a/\\303\\274 b/x" "b/\\303\\274 b/x"\ndeleted file mode 100644\nindex 1111111..0000000\n'
        '--- "a/\\303\\274 b/x"\t\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n'
    )
    added, renamed, deleted = diffparse.parse(patch)
    assert (added.old_path, added.new_path, added.added) == (None, "w b/y b/z", [(1, "new")])
    assert (renamed.old_path, renamed.new_path, renamed.added) == ("src.txt", "n b/r.txt", [(2, "two")])
    assert (deleted.old_path, deleted.new_path, deleted.removed) == ("ü b/x", None, [(1, "gone")])

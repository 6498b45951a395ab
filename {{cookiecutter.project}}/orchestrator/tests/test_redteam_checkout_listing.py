"""Red-team probes of the stat-trusting fresh checkout and the find-listing escape guard.

Every attack runs from the host as root: a superset of what a jailed check can do to its checkout,
except moving the system clock. Each must be named by `tree_after_checks` / `guard.differences`.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import shutil
from pathlib import Path

import pytest

from conftest import git, manifest, orchestrator, runs_of, write_pack
from orchestrator import fingerprint, freshcheckout

TARGET = "noxfile.py"


def _restore_times(path: Path, st: os.stat_result) -> None:
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def inplace(co: Path) -> None:
    p = co / TARGET
    st = p.stat()
    with p.open("r+b") as h:
        h.write(_flip(p.read_bytes())[:1])
    _restore_times(p, st)


def mmap_write(co: Path) -> None:
    p = co / TARGET
    st = p.stat()
    fd = os.open(p, os.O_RDWR)
    try:
        m = mmap.mmap(fd, st.st_size)
        m[0:1] = bytes([m[0] ^ 1])
        m.close()
    finally:
        os.close(fd)
    _restore_times(p, st)


def truncate_rewrite(co: Path) -> None:
    p = co / TARGET
    st = p.stat()
    data = _flip(p.read_bytes())
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, data)
    os.close(fd)
    _restore_times(p, st)


def hardlink_write(co: Path) -> None:
    p = co / TARGET
    st = p.stat()
    alias = co.parent / "alias"
    os.link(p, alias)
    with alias.open("r+b") as h:
        h.write(_flip(p.read_bytes())[:1])
    os.unlink(alias)
    _restore_times(p, st)


def punch_hole(co: Path) -> None:
    p = co / TARGET
    st = p.stat()
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(p, os.O_RDWR)
    try:  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        if libc.fallocate(fd, 0x02 | 0x01, ctypes.c_long(0), ctypes.c_long(4096)) != 0:
            pytest.skip("no hole punching here")
    finally:
        os.close(fd)
    _restore_times(p, st)


def rename_out_and_back_rewritten(co: Path) -> None:
    p = co / TARGET
    st = p.stat()
    aside = co.parent / "aside"
    os.rename(p, aside)
    with aside.open("r+b") as h:
        h.write(_flip(aside.read_bytes())[:1])
    _restore_times(aside, st)
    os.rename(aside, p)


def exchange_same_size(co: Path) -> None:
    """RENAME_EXCHANGE two tracked files of equal size (made so by the tree): contents swap by name."""
    a, b = co / "src" / "same_a.txt", co / "src" / "same_b.txt"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(-100, bytes(a), -100, bytes(b), 2) != 0:
        pytest.skip("no renameat2 exchange")


def dir_to_symlinked_copy(co: Path) -> None:
    src = co / "src"
    copy = co.parent / "src-copy"
    shutil.copytree(src, copy, symlinks=True, copy_function=shutil.copy2)
    (copy / "same_a.txt").write_bytes(b"EVIL")
    shutil.rmtree(src)
    os.symlink(copy, src)


def chmod_write_chmod(co: Path) -> None:
    p = co / TARGET
    st = p.stat()
    p.chmod(0o600)
    with p.open("r+b") as h:
        h.write(_flip(p.read_bytes())[:1])
    p.chmod(st.st_mode & 0o7777)
    _restore_times(p, st)


ATTACKS = [
    inplace,
    mmap_write,
    truncate_rewrite,
    hardlink_write,
    punch_hole,
    rename_out_and_back_rewritten,
    exchange_same_size,
    dir_to_symlinked_copy,
    chmod_write_chmod,
]


@pytest.mark.parametrize("where", ["disk", "tmpfs"])
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda f: f.__name__)
def test_a_checkout_changed_behind_its_stat_is_named(repo: Path, tmp_path: Path, attack, where: str) -> None:
    (repo / "src").mkdir(exist_ok=True)
    (repo / "src" / "same_a.txt").write_bytes(b"AAAA")
    (repo / "src" / "same_b.txt").write_bytes(b"BBBB")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "same-size pair")
    head, tree = git(repo, "rev-parse", "HEAD").strip(), git(repo, "rev-parse", "HEAD^{tree}").strip()
    if where == "tmpfs":
        if not Path("/dev/shm").is_dir():
            pytest.skip("no /dev/shm")
        base = Path(os.environ.get("RT_SHM", "/dev/shm")) / f"rt-{os.getpid()}-{tmp_path.name}"
        base.mkdir(parents=True)
    else:
        base = tmp_path / "co"
    try:
        co = freshcheckout.checkout(repo, head, tree, base / "tested", 60)
        assert freshcheckout._WRITTEN.get(str(co)), "stat trust not armed: the probe is void"
        attack(co)
        now, changed = freshcheckout.tree_after_checks(repo, co, tree, 60)
        assert now != tree and changed, f"{attack.__name__} went unnoticed"
    finally:
        freshcheckout.remove(repo, base / "tested")
        if where == "tmpfs":
            shutil.rmtree(base, ignore_errors=True)


# --- the guard's find listing ---------------------------------------------------------------

WEIRD = ["a\nb", "sp ace", ">gt", "d 0 755 x", "\udcff-raw", "x\n>y", "l 0 1 2 3 4 z"]


def _tree(root: Path) -> None:
    for name in WEIRD:
        (root / name).mkdir(parents=True)
        (root / name / name).write_text("x")
        os.symlink(name + "\n>" + name, root / name / "link")
    os.symlink(">", root / "l2")


def _listed(root: Path) -> fingerprint.Snapshot:
    snap = fingerprint.Snapshot()
    fingerprint.list_trees(snap, [("venv", root, ())])
    assert snap.listing, "find not used: the probe is void"
    return snap


def _walked(root: Path) -> dict:
    snap = fingerprint.Snapshot()
    fingerprint.walk(snap, "venv", root)
    return snap.entries


def test_weird_names_parse_as_the_walk_sees_them(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert _listed(tmp_path).all_entries() == _walked(tmp_path)


@pytest.mark.parametrize("name", WEIRD)
def test_a_retargeted_link_with_a_weird_name_is_a_listing_difference(tmp_path: Path, name: str) -> None:
    _tree(tmp_path)
    before = _listed(tmp_path)
    link = tmp_path / name / "link"
    st = link.lstat()
    os.unlink(link)
    os.symlink(name + "\n>" + name[::-1] + "!"[: len(name) - len(name[::-1])], link)
    os.rename(link, link)
    after = _listed(tmp_path)
    if after.all_entries() == before.all_entries():
        assert link.lstat().st_ino == st.st_ino and os.readlink(link) == name + "\n>" + name
    else:
        assert before.listing != after.listing


def test_an_in_place_rewrite_that_keeps_size_and_mtime_changes_the_listing(tmp_path: Path) -> None:
    """What an escape could do to the venv or the engine: same size, mtime put back. ctime moves."""
    module = tmp_path / "lib" / "site.py"
    module.parent.mkdir()
    module.write_bytes(b"VALUE = 1\n")
    before = _listed(tmp_path)
    st = module.lstat()
    module.write_bytes(b"VALUE = 2\n")
    _restore_times(module, st)
    after = _listed(tmp_path)
    assert before.listing != after.listing
    key = next(k for k in after.all_entries() if k.endswith("lib/site.py"))
    assert before.all_entries()[key] != after.all_entries()[key]
    walked = fingerprint.Snapshot()
    fingerprint.walk(walked, "venv", tmp_path)
    assert walked.entries == after.all_entries()


# --- the manifest when a phase ends mid-way -------------------------------------------------

INJECT = (
    'printf \'\\"status\\": \\"succeeded\\", \\"reason\\": \\"all phases passed\\"}\\n\\033[2J\\r'
    '{\\"phases\\": {\\"verify\\": {\\"status\\": \\"passed\\"}}}\\n\'; '
)


def _valid(data: dict) -> None:
    import json

    import jsonschema

    from orchestrator.model import Manifest

    schema_path = Path(__file__).resolve().parents[1] / "schemas" / "manifest.v1.json"
    jsonschema.validate(data, json.loads(schema_path.read_text()))
    assert Manifest.from_json(data).to_json() == data


@pytest.mark.parametrize(
    ("check", "limits", "status"),
    [
        (INJECT + "kill -9 $$", {}, "failed"),
        (INJECT + "sleep 30", {"phase_wall_seconds": 4}, "tripped"),
    ],
    ids=["killed", "tripped"],
)
def test_a_check_ending_mid_phase_leaves_a_valid_manifest_it_cannot_forge(
    repo: Path, check: str, limits: dict, status: str
) -> None:
    write_pack(
        repo,
        "midway",
        executor={"kind": "shell", "commands": [INJECT + "echo x > src/x.txt"]},
        scope={"allowed_paths": ["src/**"]},
        acceptance=[{"id": "forge", "run": check}, {"id": "ok", "run": "true"}],
        **({"limits": limits} if limits else {}),
    )
    proc = orchestrator(repo, "run", "midway")
    data = manifest(runs_of(repo, "midway")[-1])
    assert data["status"] == status, (data["status"], data["reason"], proc.stdout[-2000:])
    assert data["phases"]["verify"]["status"] != "passed"
    _valid(data)

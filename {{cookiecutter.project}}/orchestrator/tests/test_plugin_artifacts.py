"""Files a plugin lists in details.artifacts are copied into the run directory, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.plugin_artifacts import collect
from orchestrator.redact import Redactor

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
NO_SECRETS = Redactor.from_environ({})


def result(*paths: str) -> dict:
    return {"details": {"artifacts": [{"path": p, "kind": "image"} for p in paths]}}


def setup(tmp_path: Path) -> tuple[Path, Path]:
    out, run_dir = tmp_path / "out", tmp_path / "run"
    (out / "web").mkdir(parents=True)
    run_dir.mkdir()
    return out, run_dir


def test_listed_files_under_the_plugins_own_names_are_copied(tmp_path: Path) -> None:
    out, run_dir = setup(tmp_path)
    (out / "web" / "index.png").write_bytes(PNG)
    (out / "web.sarif").write_text("{}", encoding="utf-8")
    written, refused = collect(result("web/index.png", "web.sarif"), out, run_dir, "web", NO_SECRETS)
    assert (sorted(p.relative_to(run_dir).as_posix() for p in written), refused) == (
        ["web.sarif", "web/index.png"],
        [],
    )
    assert (run_dir / "web" / "index.png").read_bytes() == PNG


def test_paths_outside_the_plugins_names_or_the_run_directory_are_refused(tmp_path: Path) -> None:
    out, run_dir = setup(tmp_path)
    (run_dir / "manifest.json").write_text("{}", encoding="utf-8")
    (out / "manifest.json").write_text('{"forged": true}', encoding="utf-8")
    written, refused = collect(
        result("manifest.json", "../escape.png", "/etc/x.png", "web/../../x.png"),
        out,
        run_dir,
        "web",
        NO_SECRETS,
    )
    assert written == [] and len(refused) == 4
    assert (run_dir / "manifest.json").read_text(encoding="utf-8") == "{}"


def test_a_symlink_or_a_file_that_is_not_what_its_suffix_says_is_refused(tmp_path: Path) -> None:
    out, run_dir = setup(tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    os.symlink(secret, out / "web" / "link.png")
    (out / "web" / "fake.png").write_text("<html>not a picture</html>", encoding="utf-8")
    written, refused = collect(
        result("web/link.png", "web/fake.png", "web/unlisted.png"), out, run_dir, "web", NO_SECRETS
    )
    assert written == [] and len(refused) == 3

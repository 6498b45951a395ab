#!/usr/bin/env python3
# /// script
# requires-python = ">=3.11"
# dependencies = ["nox>=2025.2.9"]
# ///
"""The template's own sessions: tests, lint, demo, bench.

Every session runs in nox's own interpreter (venv_backend "none"): `make` bootstraps
.venv with every pinned tool once, so no session installs anything. Sessions that need
a generated repository bake one from this checkout by its absolute path.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
BUILD = ROOT / "build"
COOKIECUTTER_JSON = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
BENCH_PACKS = 1000

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"


def answers_from(posargs: list[str]) -> dict[str, object]:
    """`key=value` arguments, checked against cookiecutter.json before anything is baked."""
    answers: dict[str, object] = {}
    for arg in posargs:
        key, sep, value = arg.partition("=")
        known = COOKIECUTTER_JSON.get(key)
        if not sep or key.startswith("_") or known is None:
            public = ", ".join(k for k in COOKIECUTTER_JSON if not k.startswith("_"))
            raise SystemExit(f"error: {arg!r}: expected key=value with a key of cookiecutter.json ({public})")
        if isinstance(known, list) and value not in known:
            raise SystemExit(f"error: {key}={value!r}: choose one of {', '.join(known)}")
        answers[key] = value
    return answers


def bake(output_dir: Path, **answers: object) -> Path:
    """Bake this checkout into output_dir/<project>, replacing an earlier bake of the same name.

    The bake happens in a staging directory first, so the result is always a fresh repository
    whose one commit is the template's, and a failed bake leaves the earlier one in place.
    """
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]  # cookiecutter ships no types

    for noisy in ("cookiecutter", "binaryornot"):  # nox logs at debug level otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    output_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=output_dir, prefix=".bake-") as staging,
        tempfile.TemporaryDirectory() as home,
    ):
        config = Path(home) / "config.yaml"
        dirs = {"cookiecutters_dir": f"{home}/templates", "replay_dir": f"{home}/replay"}
        config.write_text(json.dumps(dirs), encoding="utf-8")
        made = Path(
            cookiecutter(
                str(ROOT), no_input=True, extra_context=answers, output_dir=staging, config_file=str(config)
            )
        )
        final = output_dir / made.name
        shutil.rmtree(final, ignore_errors=True)
        made.rename(final)
    return final


def example_packs(repo: Path) -> list[str]:
    return sorted(p.parent.name for p in (repo / "taskpacks").glob("*/task.yml"))


@nox.session(venv_backend="none", default=True)
def tests(session: nox.Session) -> None:
    """The template's test suite: bakes every choice and runs each generated repository's own tools."""
    session.run(sys.executable, "-m", "pytest", *(session.posargs or ["-q"]), external=True)


@nox.session(venv_backend="none", default=False)
def lint(session: nox.Session) -> None:
    """ruff and mypy over the template, then the baked repository's own `lint` session (the engine,
    the solutions and the generated code are only valid baked, with the baked configuration)."""
    session.run(sys.executable, "-m", "ruff", "check", ".", external=True)
    session.run(sys.executable, "-m", "ruff", "format", "--check", ".", external=True)
    session.run(sys.executable, "-m", "mypy", external=True)
    repo = bake(Path(session.create_tmp()).resolve() / "lint", solution="all")
    session.chdir(repo)
    session.run(sys.executable, "-m", "nox", "-s", "lint", external=True)


@nox.session(venv_backend="none", default=False)
def demo(session: nox.Session) -> None:
    """Bake into build/ and run the baked repository's own `make demo`: every example task pack, each
    outcome and its SUMMARY.md, failing unless each ends as it is meant to (the bake's Makefile says how)."""
    answers = answers_from(session.posargs)
    repo = bake(BUILD, **answers)
    session.log(f"baked {repo.relative_to(ROOT)} ({', '.join(session.posargs) or 'default answers'})")
    session.chdir(repo)
    nox_bin = Path(sys.executable).parent / "nox"
    tools = os.environ.get("ORCH_TOOLS_DIR") or str(ROOT / ".tools")
    # The template's .venv already holds every pin the bake needs: skip its bootstrap (-o bootstrap).
    session.run(
        "make", "-o", "bootstrap", "demo", f"NOX={nox_bin}", external=True, env={"ORCH_TOOLS_DIR": tools}
    )


def timed(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, result


def multiply_pack(repo: Path, count: int) -> list[Path]:
    """count copies of the first example pack under new ids: real packs, the real workload."""
    packs = example_packs(repo)
    if not packs:
        raise RuntimeError("the baked repository has no example task pack to copy")
    seed = repo / "taskpacks" / packs[0]
    text = (seed / "task.yml").read_text(encoding="utf-8")
    made = []
    for n in range(count):
        task_id = f"bench-{n:04d}"
        target = repo / "taskpacks" / task_id
        shutil.copytree(seed, target)
        body = re.sub(r"^id:.*$", f"id: {task_id}", text, count=1, flags=re.MULTILINE)
        (target / "task.yml").write_text(body, encoding="utf-8")
        made.append(target / "task.yml")
    return made


@nox.session(venv_backend="none", default=False)
def bench(session: nox.Session) -> None:
    """Bake time, and `validate` over 1,000 task packs against a plain YAML load of the same files."""
    tmp = Path(session.create_tmp()).resolve()
    bake_times = []
    for n in range(5):
        start = time.perf_counter()
        bake(tmp / f"bake-{n}")
        bake_times.append(time.perf_counter() - start)
    repo = bake(tmp / "packs")
    files = multiply_pack(repo, BENCH_PACKS)
    listing = tmp / "packs.txt"
    listing.write_text("\n".join(str(f) for f in files), encoding="utf-8")
    baseline_code = (
        "import sys, yaml\n"
        "loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\n"
        "for path in open(sys.argv[1], encoding='utf-8').read().splitlines():\n"
        "    yaml.load(open(path, encoding='utf-8'), Loader=loader)\n"
    )
    startup, _ = timed([sys.executable, "-c", "pass"], repo)
    baseline, base_run = timed([sys.executable, "-c", baseline_code, str(listing)], repo)
    if base_run.returncode != 0:
        session.error(f"baseline failed: {base_run.stderr.strip()[-400:]}")
    validate, run = timed([sys.executable, "-m", "orchestrator", "validate"], repo)
    if run.returncode != 0:
        session.error(
            f"`python -m orchestrator validate` exited {run.returncode}: {run.stderr.strip()[-400:]}"
        )
    rows = [
        ("bake (median of 5)", statistics.median(bake_times), "cookiecutter + hooks + git init"),
        ("python startup", startup, "included in both rows below"),
        (f"yaml load x {BENCH_PACKS} (baseline)", baseline, "one process, fastest safe loader"),
        (f"orchestrator validate x {BENCH_PACKS}", validate, "one process; target <= 1.0 s"),
    ]
    print(f"\n{'measure':<40} {'seconds':>8}  note")
    for name, seconds, note in rows:
        print(f"{name:<40} {seconds:>8.3f}  {note}")
    print(f"{'validate / baseline':<40} {validate / baseline:>8.2f}x")
    print(f"{'validate per pack':<40} {validate / BENCH_PACKS * 1000:>8.3f}  ms")
    print(f"target (1,000 packs <= 1.0 s): {'met' if validate <= 1.0 else 'NOT met'}")
    if os.environ.get("BENCH_STRICT") and validate > 1.0:
        session.error("validate of 1,000 packs took longer than 1.0 s")


if __name__ == "__main__":
    nox.main()

"""The malformed-pack corpus, run against a baked repository's `python -m orchestrator validate`.

The corpus ships with the generated repository: orchestrator/tests/corpus/malformed/<case>/task.yml,
and expected.json there mapping each case to the line, field and message its error must
carry (`generated` cases are made at test time instead of committed: the oversized file).
Cases are collected from the template's copy, which the bake copies byte for byte, and
run in the baked repository, as a user of it would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import GENERATED, describe, run

CORPUS = Path("orchestrator") / "tests" / "corpus" / "malformed"
EXPECTED = GENERATED / CORPUS / "expected.json"
MINIMUM_CASES = 20
OVERSIZED_BYTES = 4 << 20  # far beyond any sane task pack size limit


def load_cases() -> dict[str, dict]:
    return json.loads(EXPECTED.read_text(encoding="utf-8"))


def case_params() -> list:
    if not EXPECTED.is_file():
        reason = f"no corpus yet: {EXPECTED.relative_to(GENERATED.parent)} does not exist"
        return [pytest.param("", {}, id="no-corpus", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(name, spec, id=name) for name, spec in sorted(load_cases().items())]


@pytest.mark.skipif(
    not EXPECTED.is_file(), reason="no corpus yet (orchestrator/tests/corpus/malformed/expected.json)"
)
def test_corpus_has_enough_distinct_cases() -> None:
    cases = load_cases()
    assert len(cases) >= MINIMUM_CASES
    for name, spec in cases.items():
        if not spec.get("generated"):
            assert (GENERATED / CORPUS / name / "task.yml").is_file(), (
                f"expected.json names {name}, not in the corpus"
            )


def case_path(repo: Path, case: str, spec: dict, tmp_path: Path) -> str:
    if not spec.get("generated"):
        return (CORPUS / case).as_posix()
    pack = tmp_path / case
    pack.mkdir()
    (pack / "task.yml").write_bytes(b"schema: taskpack/v1\n" + b"# padding\n" * (OVERSIZED_BYTES // 10))
    return str(pack)


@pytest.mark.parametrize(("case", "spec"), case_params())
def test_validate_refuses_malformed_pack(generated_repo: Path, tmp_path: Path, case: str, spec: dict) -> None:
    target = case_path(generated_repo, case, spec, tmp_path)
    result = run([sys.executable, "-m", "orchestrator", "validate", target], cwd=generated_repo)
    output = result.stdout + result.stderr
    assert result.returncode == 2, describe(result)
    assert "Traceback" not in output, describe(result)
    located = [line for line in output.splitlines() if f"task.yml:{spec['line']}:" in line]
    assert any(spec["field"] in line and spec["message"] in line for line in located), describe(result)

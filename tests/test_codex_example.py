"""`executor=codex` gives a repository with a codex example pack a user can run, and says how.

The example is carried out by the real Codex CLI (ORCH_CODEX_BIN, or `codex` on PATH)
against a scripted model endpoint; without the CLI that part is skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import bake, describe, git, run

PACK = "taskpacks/codex-initials/task.yml"
INITIALS = '''*** Begin Patch
*** Add File: src/textkit/initials.py
+"""Initials of a name."""
+
+
+def initials(name: str) -> str:
+    """The upper-cased first letter of every word of `name`; ValueError when it is blank."""
+    words = name.split()
+    if not words:
+        raise ValueError("name is empty")
+    return "".join(word[0].upper() for word in words)
*** End Patch
'''


@pytest.fixture(scope="module")
def codex_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("codex") / "out", executor="codex")


def codex_binary() -> str:
    found = os.environ.get("ORCH_CODEX_BIN") or shutil.which("codex")
    if not found:
        pytest.skip("the Codex CLI is not installed here (set ORCH_CODEX_BIN)")
    return found


def orchestrator(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CODEX_API_KEY", "OPENAI_API_KEY")}
    return run([sys.executable, "-m", "orchestrator", *args], cwd=repo, env={**clean, **env})


def test_the_codex_answer_adds_a_codex_example_pack_that_validates(codex_repo: Path) -> None:
    assert (codex_repo / PACK).is_file()
    assert not (codex_repo / "_codex_examples").exists()
    assert git(codex_repo, "status", "--porcelain") == ""
    result = orchestrator(codex_repo, "validate", "codex-initials", env={})
    assert result.returncode == 0, describe(result)


def test_the_shell_answer_has_no_codex_example(generated_repo: Path) -> None:
    assert not (generated_repo / PACK).exists()
    assert not (generated_repo / "_codex_examples").exists()


def test_the_readme_says_how_to_use_codex(codex_repo: Path) -> None:
    readme = (codex_repo / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using Codex", 1)[1].split("\n## ", 1)[0]
    facts = (
        "@openai/codex@0.169.0",
        "CODEX_API_KEY",
        "OPENAI_API_KEY",
        "ORCH_CODEX_BASE_URL",
        "ORCH_CODEX_ENV_KEY",
        "max_tokens",
        "max_turns",
        "outside the jail",
        "codex-initials",
    )
    for fact in facts:
        assert fact in section, fact


def test_the_example_without_a_key_is_refused_at_once_naming_the_variable(codex_repo: Path) -> None:
    result = orchestrator(codex_repo, "run", "codex-initials", env={"ORCH_CODEX_BIN": codex_binary()})
    assert result.returncode == 2, describe(result)
    assert "CODEX_API_KEY" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_the_example_succeeds_when_the_model_writes_the_change(codex_repo: Path) -> None:
    binary = codex_binary()
    sys.path.insert(0, str(codex_repo / "orchestrator" / "tests"))
    try:
        from scripted_model import ScriptedModel, apply_patch, exec_command, message
    finally:
        sys.path.pop(0)
    steps = [exec_command("cat src/tests/test_initials.py"), apply_patch(INITIALS),
             exec_command("python -m pytest -q -p no:cacheprovider src/tests/test_initials.py"),
             message("Added textkit.initials.")]  # fmt: skip
    with ScriptedModel(steps) as model:
        env = {
            "ORCH_CODEX_BIN": binary,
            "ORCH_CODEX_BASE_URL": model.base_url,
            "CODEX_API_KEY": "sk-example-0123456789",
        }
        result = orchestrator(codex_repo, "run", "codex-initials", env=env)
    assert result.returncode == 0, describe(result)
    assert "[execute] codex: file add src/textkit/initials.py" in result.stdout
    assert {r.authorization for r in model.requests} == {"Bearer sk-example-0123456789"}
    assert git(codex_repo, "status", "--porcelain") == ""

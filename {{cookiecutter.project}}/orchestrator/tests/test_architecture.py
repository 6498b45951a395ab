"""The engine's shape: small modules, one phase table, phases that never import phases,
and a noxfile that uses nox only through its public API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orchestrator.phases import NAMES, PHASES, Role

ENGINE = Path(__file__).resolve().parents[1]
REPO = ENGINE.parent
MAX_LINES = 400


def engine_modules() -> list[Path]:
    return sorted(p for p in ENGINE.rglob("*.py") if "tests" not in p.relative_to(ENGINE).parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an engine file imports, as dotted names (`from a import b` gives a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("module", engine_modules(), ids=lambda p: p.relative_to(ENGINE).as_posix())
def test_no_engine_module_is_longer_than_the_limit(module: Path) -> None:
    lines = len(module.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module.relative_to(REPO)} has {lines} lines; split it by concern"


@pytest.mark.parametrize("phase", NAMES)
def test_a_phase_imports_no_other_phase(phase: str) -> None:
    others = {f"orchestrator.phases.{name}" for name in NAMES if name != phase}
    imported = imported_modules(ENGINE / "phases" / f"{phase}.py")
    assert not imported & others, f"phases/{phase}.py imports {sorted(imported & others)}"


def test_every_phase_of_the_table_has_its_module_and_its_nox_session() -> None:
    noxfile = ast.parse((REPO / "noxfile.py").read_text(encoding="utf-8"))
    sessions = {node.name for node in ast.walk(noxfile) if isinstance(node, ast.FunctionDef)}
    for phase in PHASES:
        assert (ENGINE / "phases" / f"{phase.name}.py").is_file(), phase.name
        assert phase.name in sessions, f"noxfile.py has no `{phase.name}` session"


def test_the_table_orders_decisive_phases_before_finalizers_and_publishes_last() -> None:
    roles = [phase.role for phase in PHASES]
    assert roles == sorted(roles, key=[Role.DECISIVE, Role.FINALIZER, Role.PUBLISHER].index)
    assert roles[-1] is Role.PUBLISHER and roles.count(Role.PUBLISHER) == 1


def test_the_noxfile_uses_no_private_nox_attribute() -> None:
    tree = ast.parse((REPO / "noxfile.py").read_text(encoding="utf-8"))
    private = [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
    ]
    assert not private, private


def test_the_noxfile_keeps_no_module_level_state_of_a_run() -> None:
    """The chain's run is found on disk (the task's latest run), not kept in a global between sessions."""
    tree = ast.parse((REPO / "noxfile.py").read_text(encoding="utf-8"))
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Global)]


def test_development_tools_are_not_in_the_engine_package() -> None:
    assert not {"bench.py", "bench_run.py", "schemadoc.py"} & {p.name for p in engine_modules()}
    assert (REPO / "tools" / "bench.py").is_file()

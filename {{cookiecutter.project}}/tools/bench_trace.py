"""Where a run's time goes: `python tools/bench_trace.py OUT.json -- <orchestrator arguments>`.

Run in a repository, it runs that repository's `python -m orchestrator <arguments>` in this process,
with timers wrapped around what the host does besides the work it carries, attributed to the phase
running at the time:

- `import`: modules imported for the first time (outermost imports only, so nothing counts twice);
- `guard snapshot` / `guard compare`: the escape guard's fingerprints and their comparison;
- `fresh checkout` / `tested-tree check`: the checkout of the tested tree and its re-hash afterwards;
- `manifest save`: writing (and redacting) the manifest; `evidence refresh`: re-indexing after a phase;
- `jail run`: one command in the jail, host-side set-up included;
- `proc <name>`: every child process from start to exit (`git <subcommand>`; `bwrap`, or `sh` when
  it enters cgroups first, is one jail).

Nothing in the engine knows about this: the timers are wrapped around its functions from outside,
so a run without the tracer pays nothing. OUT.json holds {phase: {what: [count, seconds]}} and the
heaviest imports; `tools.bench_run` prints it as the overhead breakdown.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import os
import subprocess
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUTSIDE = "(start, finish)"
"""What runs outside every phase: the interpreter's imports, starting and ending the run."""
WRAPPED = (
    ("orchestrator.guard", "snapshot", "guard snapshot"),
    ("orchestrator.guard", "differences", "guard compare"),
    ("orchestrator.freshcheckout", "checkout", "fresh checkout"),
    ("orchestrator.freshcheckout", "tree_after_checks", "tested-tree check"),
    ("orchestrator.runs", "save_manifest", "manifest save"),
    ("orchestrator.sandbox", "run", "jail run (host side and command)"),
    ("orchestrator.evidence.index", "refresh", "evidence refresh"),
)


class Trace:
    def __init__(self) -> None:
        self.phase = OUTSIDE
        self.costs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
        self.imports: dict[str, float] = defaultdict(float)
        self.depth = 0

    def add(self, what: str, seconds: float, phase: str | None = None) -> None:
        cell = self.costs[phase or self.phase][what]
        cell[0] += 1
        cell[1] += seconds

    def timed(self, what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(what, time.perf_counter() - start)

        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper

    def install(self) -> None:
        self._imports()
        self._processes()
        for module, name, what in WRAPPED:
            self._wrap(module, name, self.timed(what, getattr(importlib.import_module(module), name)))
        pipeline = importlib.import_module("orchestrator.pipeline")
        original = pipeline.execute_phase

        def execute_phase(run: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            outer, self.phase = self.phase, name
            start = time.perf_counter()
            try:
                return original(run, name, *args, **kwargs)
            finally:
                self.add("phase (wall)", time.perf_counter() - start)
                self.phase = outer

        self._wrap("orchestrator.pipeline", "execute_phase", execute_phase)

    def _wrap(self, module: str, name: str, replacement: Callable[..., Any]) -> None:
        """Replaces module.name, and every binding of the original that an import already copied."""
        original = getattr(importlib.import_module(module), name)
        for loaded in list(sys.modules.values()):
            if getattr(loaded, name, None) is original:
                setattr(loaded, name, replacement)

    def _imports(self) -> None:
        """Times each module's first execution through a meta path finder placed first: it asks
        the other finders for the spec and wraps the loader (importlib's public finder and loader
        protocols); only outermost imports count, so nothing counts twice."""
        sys.meta_path.insert(0, _TimingFinder(self))

    def _processes(self) -> None:
        """Every child process from start to exit, through a `subprocess.Popen` subclass (the
        engine's `subprocess.run` and `Popen` calls look the class up on the module)."""
        trace = self

        class TracedPopen(subprocess.Popen):  # type: ignore[type-arg]
            def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
                argv = [os.fsdecode(a) for a in ([args] if isinstance(args, str | bytes | Path) else args)]
                name = Path(argv[0]).name if argv else "?"
                if name == "git":
                    sub = [a for a in argv[1:] if not a.startswith("-")]
                    name = f"git {sub[0] if sub else ''}".strip()
                self.trace_mark: tuple[str, str, float] | None = (name, trace.phase, time.perf_counter())
                super().__init__(args, *rest, **kwargs)

            def _ended(self, code: int | None) -> int | None:
                if code is not None and self.trace_mark is not None:
                    name, phase, started = self.trace_mark
                    self.trace_mark = None
                    trace.add(f"proc {name}", time.perf_counter() - started, phase)
                return code

            def poll(self) -> int | None:
                return self._ended(super().poll())

            def wait(self, timeout: float | None = None) -> int:
                code = super().wait(timeout)
                self._ended(code)
                return code

        subprocess.Popen = TracedPopen  # type: ignore[misc]

    def report(self, total: float) -> dict[str, Any]:
        inside = sum(costs["phase (wall)"][1] for costs in self.costs.values() if "phase (wall)" in costs)
        self.costs[OUTSIDE]["phase (wall)"] = [1, total - inside]
        heaviest = sorted(self.imports.items(), key=lambda kv: -kv[1])[:12]
        return {
            "total": total,
            "phases": {phase: dict(costs) for phase, costs in self.costs.items()},
            "imports": dict(heaviest),
        }


class _TimingLoader(importlib.abc.Loader):
    def __init__(self, trace: Trace, name: str, loader: importlib.abc.Loader) -> None:
        self.trace, self.name, self.loader = trace, name, loader

    def __getattr__(self, name: str) -> Any:  # get_data, get_resource_reader, is_package...
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        trace = self.trace
        if trace.depth:
            self.loader.exec_module(module)
            return
        trace.depth += 1
        start = time.perf_counter()
        try:
            self.loader.exec_module(module)
        finally:
            trace.depth -= 1
            elapsed = time.perf_counter() - start
            trace.add("import", elapsed)
            top = self.name if self.name.startswith("orchestrator") else self.name.split(".")[0]
            trace.imports[top] += elapsed


class _TimingFinder(importlib.abc.MetaPathFinder):
    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def find_spec(
        self, fullname: str, path: Any, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _TimingLoader(self.trace, fullname, spec.loader)
            return spec
        return None


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        raise SystemExit(__doc__.splitlines()[0])
    start = time.perf_counter()
    trace = Trace()
    trace.install()
    from orchestrator import cli

    try:
        code = cli.main(argv[2:])
    finally:
        report = trace.report(time.perf_counter() - start)
        Path(argv[0]).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return int(code or 0)


if __name__ == "__main__":
    sys.path[0] = os.getcwd()  # the engine of the repository it runs in, not of this file's
    sys.exit(main(sys.argv[1:]))

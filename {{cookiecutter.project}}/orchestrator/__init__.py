"""Codex Orchestrator engine: task packs in, evidence out.

The shape of the package is the shape of a run: `pipeline` drives the phases of
`phases/` (one module per phase, declared once in `phases.PHASES`) over a task pack
(`taskpack/`), runs the execution plane in `sandbox/` through `executors/`, and
leaves `evidence/` behind.
"""

__version__ = "1.5.0"

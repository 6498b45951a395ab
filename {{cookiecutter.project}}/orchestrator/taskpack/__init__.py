"""Task packs: read `taskpacks/<id>/task.yml`, check it, and say exactly where it is wrong.

The control plane writes task packs by hand, so every defect is reported with the
file, line and column of the YAML node at fault, the field path, what is wrong and
how to fix it, and all defects of all packs are reported at once. Oversized and
non-UTF-8 files are refused before parsing starts.

The parts: `model` (TaskPack and the names of where packs live), `marks` (YAML read
with the line and column of every node, alias bombs refused before expansion),
`problems` (schema errors as located problems), `semantics` (what the schema cannot
check), `defaults` (the schema's defaults filled in) and `loading` (files to packs).
"""

from __future__ import annotations

from orchestrator.taskpack.defaults import apply_defaults
from orchestrator.taskpack.loading import (
    check_file,
    check_refs,
    display_path,
    find_task_ids,
    load_many,
    load_taskpack,
    resolve_ref,
)
from orchestrator.taskpack.marks import MAX_ALIASES, MAX_DEPTH, MAX_NODES, Document, field_path, parse_yaml
from orchestrator.taskpack.model import (
    MAX_BYTES,
    SCHEMA,
    SLUG,
    TASK_FILE,
    TASKPACKS,
    Checked,
    TaskPack,
    declared_hosts,
    declared_providers,
)

__all__ = [
    "MAX_ALIASES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "SCHEMA",
    "SLUG",
    "TASKPACKS",
    "TASK_FILE",
    "Checked",
    "Document",
    "TaskPack",
    "apply_defaults",
    "check_file",
    "check_refs",
    "declared_hosts",
    "declared_providers",
    "display_path",
    "field_path",
    "find_task_ids",
    "load_many",
    "load_taskpack",
    "parse_yaml",
    "resolve_ref",
]

"""The run model: the manifest (`manifest.v1.json`) as typed records, and its statuses as enums.

`Manifest.from_json` reads any manifest v1 ever written and `Manifest.to_json` writes it back
with the same meaning: a field absent in the document is `None` in the record (and stays
absent), except the fields a record lists in `NULLABLE`, which v1 always writes, as null
when unknown. Statuses are `StrEnum`s, so they compare equal to the strings of the JSON.

Two parts stay open dicts, because their keys belong to the executor and grow with it:
`executor.usage` (integer counters named by the executor's event stream: turns, commands,
tokens) and `executor.health` (facts per executor kind; codex: turn_completed, last_message).
Every other section is a record, and the schema is closed to match.
"""

from __future__ import annotations

import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from orchestrator.layout import log_name

SCHEMA = "manifest/v1"


class Status(StrEnum):
    """A phase's status."""

    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    WARNING = "warning"
    REFUSED = "refused"
    TRIPPED = "tripped"
    ABORTED = "aborted"


class RunStatus(StrEnum):
    """A run's status, derived from its phases (`runs.derive_status`)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"
    TRIPPED = "tripped"
    ABORTED = "aborted"


class Ruling(StrEnum):
    """A safety decision."""

    ALLOW = "allow"
    DENY = "deny"
    REFUSE = "refuse"
    UNSAFE = "unsafe"


class PluginStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    WARNING = "warning"
    MISSING = "missing"
    CRASHED = "crashed"


# --- records ------------------------------------------------------------------------------------


@dataclass
class TaskRecord:
    id: str
    path: str
    sha256: str
    title: str | None = None


@dataclass
class GitRecord:
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"head"})
    base_branch: str
    base: str
    head: str | None
    branch: str
    pushed: bool | None = None
    evidence_commit: str | None = None


@dataclass
class ProxyRefusal:
    target: str | None = None
    reason: str | None = None


@dataclass
class ModelProxyRecord:
    """codex: the host-side model proxy, over all attempts of the run."""

    endpoint: str | None = None
    forwarded: int | None = None
    refused: list[ProxyRefusal] | None = None
    dropped: int | None = None


@dataclass
class ExecutorRecord:
    kind: str
    version: str
    attempts: int | None = None
    usage: dict[str, int] | None = None
    health: dict[str, Any] | None = None
    model_proxy: ModelProxyRecord | None = None


@dataclass
class OrchestratorRecord:
    version: str


@dataclass
class Output:
    path: str
    sha256: str


@dataclass
class PhaseError:
    type: str
    message: str


@dataclass
class PhaseRecord:
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"started_at", "ended_at", "exit_code"})
    status: Status
    started_at: str | None
    ended_at: str | None
    exit_code: int | None
    log: str
    outputs: list[Output] = field(default_factory=list)
    reason: str | None = None
    error: PhaseError | None = None

    @classmethod
    def pending(cls, name: str) -> PhaseRecord:
        return cls(Status.PENDING, None, None, None, log_name(name))


@dataclass
class JunitReport:
    kind: str | None = None
    tests: int | None = None
    failures: int | None = None
    errors: int | None = None
    skipped: int | None = None
    problem: str | None = None


@dataclass
class AcceptanceResult:
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"exit_code"})
    id: str
    status: Status
    exit_code: int | None
    duration_seconds: float
    excerpt: str
    run: str | None = None
    expect_exit: int | None = None
    report: JunitReport | None = None


@dataclass
class Decision:
    id: str
    decision: Ruling
    reason: str


@dataclass
class Access:
    """A `safety.used` or `safety.denied` entry: what the sandbox allowed or denied, in which phase."""

    kind: str
    target: str
    phase: str | None = None


@dataclass
class SafetyRecord:
    decisions: list[Decision] = field(default_factory=list)
    denied: list[Access] | None = None
    used: list[Access] | None = None
    limits_enforced: dict[str, str] | None = None
    control_plane: list[str] | None = None
    git_control_sha256: str | None = None


@dataclass
class BreakerRecord:
    name: str
    limit: float
    measured: float
    phase: str | None = None
    detail: str | None = None


@dataclass
class Artifact:
    path: str
    kind: str
    title: str


@dataclass
class PluginRecord:
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"sha256"})
    name: str
    version: str
    status: PluginStatus
    sha256: str | None
    strict: bool | None = None
    reason: str | None = None
    artifacts: list[Artifact] | None = None


@dataclass
class FileChange:
    path: str
    added: int
    deleted: int
    binary: bool | None = None


@dataclass
class ChangesRecord:
    files: list[FileChange]
    files_changed: int
    lines_added: int
    lines_deleted: int
    tree: str | None = None
    tested_tree: str | None = None
    files_truncated: bool | None = None
    diff_truncated: bool | None = None


@dataclass
class EnvironmentRecord:
    cache: str | None = None
    key: str | None = None
    source: str | None = None
    setup: list[str] | None = None
    hosts: list[str] | None = None
    expanded_hosts: list[str] | None = None
    cache_key_files: list[str] | None = None
    paths: list[str] | None = None


@dataclass
class StartedBy:
    via: str | None = None
    client: str | None = None


@dataclass
class ReviewRecord:
    verdict: str
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """The record of one run (`manifest.v1.json`). Only the pipeline (`runs`, `pipeline`) changes it."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"ended_at", "plugin"})
    schema: str
    run_id: str
    task: TaskRecord
    git: GitRecord
    executor: ExecutorRecord
    orchestrator: OrchestratorRecord
    started_at: str
    ended_at: str | None
    status: RunStatus
    reason: str
    phases: dict[str, PhaseRecord]
    acceptance: list[AcceptanceResult]
    safety: SafetyRecord
    breakers: list[BreakerRecord]
    plugin: PluginRecord | None
    unsafe: bool | None = None
    changes: ChangesRecord | None = None
    environment: EnvironmentRecord | None = None
    started_by: StartedBy | None = None
    review: ReviewRecord | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = encode(self)
        return document

    @classmethod
    def from_json(cls, document: Any) -> Manifest:
        """The typed manifest of a v1 document; ValueError (located) for what v1 never wrote."""
        return decode(cls, document)

    def prepared_paths(self) -> list[str]:
        """The ignored paths the prepare phase installed; [] without an environment."""
        return list(self.environment.paths or []) if self.environment else []


# --- the JSON codec -----------------------------------------------------------------------------

R = TypeVar("R")


def encode(value: Any) -> Any:
    """JSON of a record: None fields are left out unless the record lists them in NULLABLE."""
    if is_dataclass(value) and not isinstance(value, type):
        nullable: frozenset[str] = getattr(value, "NULLABLE", frozenset())
        out = {}
        for item in fields(value):
            inner = getattr(value, item.name)
            if inner is not None or item.name in nullable:
                out[item.name] = encode(inner)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def decode(cls: type[R], data: Any, where: str = "") -> R:
    """The record `cls` of a JSON object; unknown and missing fields raise ValueError at their path."""
    if not isinstance(data, dict):
        raise ValueError(f"{where or '(root)'}: expected an object, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {item.name: item for item in fields(cls)}  # type: ignore[arg-type]
    if unknown := sorted(set(data) - set(known)):
        raise ValueError(f"{_at(where, unknown[0])}: unknown field (not part of manifest/v1)")
    values: dict[str, Any] = {}
    for name, item in known.items():
        if name in data:
            values[name] = _value(hints[name], data[name], _at(where, name))
        elif item.default is MISSING and item.default_factory is MISSING:
            raise ValueError(f"{_at(where, name)}: missing (required by manifest/v1)")
    return cls(**values)


def _value(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        (tp,) = [a for a in get_args(tp) if a is not type(None)]
        origin = get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected an array")
        return [_value(get_args(tp)[0], v, f"{where}/{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object")
        return {k: _value(get_args(tp)[1], v, _at(where, k)) for k, v in value.items()}
    if isinstance(tp, type) and is_dataclass(tp):
        return decode(tp, value, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not one of {[m.value for m in tp]}") from None
    return value


def _at(where: str, name: str) -> str:
    return f"{where}/{name}" if where else name

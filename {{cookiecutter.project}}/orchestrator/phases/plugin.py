"""The plugin phase: run the task's solution plugin against the workspace and record what it said.

A plugin is control-plane code (`solutions/<name>/` in the repository, never the
workspace copy, so the change under review cannot rewrite its own reviewer) run
in the execution-plane sandbox with the workspace as its working directory. It
gets a `plugin_request/v1` JSON document on stdin and prints one
`plugin_result/v1` document between two marker lines on stdout; everything else
it prints is log. The protocol is documented in docs/plugins.md.

Outcomes, and what they do to the run:

    passed   plugin ran and said passed                    -> phase passed
    failed   plugin ran and said failed                    -> failed (strict) / warning
    crashed  non-zero exit, breaker, no/invalid result,    -> failed (strict) / warning
             result status "error", broken plugin.json
    missing  no solutions/<name>/plugin.json               -> failed (strict) / warning
    skipped  plugins disabled (ORCH_ENABLE_PLUGINS unset)  -> phase skipped
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchestrator import gitops
from orchestrator.errors import EXIT_FAILED, EXIT_OK, Tripped
from orchestrator.fsio import sha256_file, write_json
from orchestrator.model import Artifact, PluginRecord, PluginStatus, Status
from orchestrator.phaselog import PhaseLog
from orchestrator.plugin_artifacts import OUT_ENV, collect, described, out_dir
from orchestrator.plugin_protocol import (
    DESCRIPTOR,
    NAME,
    Descriptor,
    PluginProblem,
    check_result,
    extract_result,
    load_descriptor,
    redact_tree,
    resolve_argv,
)
from orchestrator.redact import Redactor
from orchestrator.runs import PhaseResult, Run
from orchestrator.sandbox import SandboxSpec
from orchestrator.sandbox import run as sandbox_run
from orchestrator.workspace import (
    changes_tree,
    fresh_checkout,
    record_tested,
    remove_checkout,
    spec_for,
)

ENABLE_HINT = "set ORCH_ENABLE_PLUGINS=1 to run it"
STRICT_HINT = "recorded as a warning; set ORCH_PLUGINS_STRICT=1 to fail the run instead"


class PluginTripped(Exception):
    """A run breaker tripped while the plugin ran: record the plugin as crashed, then trip the run."""

    def __init__(self, outcome: Outcome, error: Tripped) -> None:
        super().__init__(str(error))
        self.outcome = outcome
        self.error = error


@dataclass(frozen=True)
class Outcome:
    """What the plugin phase concluded, before strictness decides what that does to the run."""

    status: str
    """passed | failed | crashed | missing (the manifest's plugin status)."""
    reason: str
    version: str = ""
    result: dict[str, Any] | None = None


# --- pure parts -------------------------------------------------------------------------------------


def outcome_of(result: dict[str, Any], version: str) -> Outcome:
    name, summary, findings = result["name"], result["summary"].strip(), result["findings"]
    count = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
    text = f"plugin {name} {version} {result['status']}: {summary or 'no summary'} ({count})"
    if result["status"] == "error":
        return Outcome("crashed", text, version, result)
    return Outcome(result["status"], text, version, result)


def phase_result(outcome: Outcome, strict: bool, outputs: list[Path]) -> PhaseResult:
    """Strictness decides whether a plugin that did not pass fails the run or only warns."""
    if outcome.status == PluginStatus.PASSED:
        return PhaseResult(Status.PASSED, outcome.reason, EXIT_OK, outputs)
    if strict:
        return PhaseResult(Status.FAILED, f"{outcome.reason} (ORCH_PLUGINS_STRICT=1)", EXIT_FAILED, outputs)
    return PhaseResult(Status.WARNING, f"{outcome.reason} ({STRICT_HINT})", EXIT_OK, outputs)


def parse_name_status(raw: str) -> tuple[list[str], list[str]]:
    """`git diff --name-status -z --no-renames` output -> (changed, deleted)."""
    fields = raw.split("\0")
    changed: list[str] = []
    deleted: list[str] = []
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        if not status or not path:
            continue
        (deleted if status.startswith("D") else changed).append(path)
    return changed, deleted


# --- I/O edges --------------------------------------------------------------------------------------


def changed_files(workspace: Path, base: str, tree: str | None) -> tuple[list[str], list[str]]:
    """Files the run changed: base against the tree the execute phase recorded (the diff the
    summary lists), or against the workspace as it is when no tree was recorded.
    """
    tree = tree or gitops.workspace_tree(workspace)
    return parse_name_status(gitops.git(workspace, "diff", "--name-status", "-z", "--no-renames", base, tree))


def build_request(run: Run, descriptor: Descriptor, changed: list[str], deleted: list[str]) -> dict[str, Any]:
    return {
        "schema": "plugin_request/v1",
        "plugin": {
            "name": descriptor.name,
            "version": descriptor.version,
            "dir": str(descriptor.dir.resolve()),
        },
        "run": {"id": run.id, "dir": str(run.dir.resolve())},
        "task": {"id": run.task.id, "data": run.task.data},
        "workspace": str(run.workspace.resolve()),
        "base": str(run.manifest.git.base),
        "changed_files": changed,
        "deleted_files": deleted,
        "options": dict(run.task.plugin_options or {}),
    }


def plugin_scratch(run: Run) -> Path:
    return run.settings.state_dir / "scratch" / f"{run.task.id}-{run.id}-plugin"


TOOLS_ENV = "ORCH_TOOLS_DIR"
"""Where tools that need an environment of their own live (`.tools/<tool>/bin/<tool>`, e.g. semgrep)."""


def tools_dir(run: Run) -> Path:
    """The repository's `.tools/`, or ORCH_TOOLS_DIR when the caller points elsewhere
    (the template's tests)."""
    return Path(os.environ.get(TOOLS_ENV) or run.repo / ".tools").resolve()


def sandbox_spec(run: Run, descriptor: Descriptor, where: Path | None = None) -> SandboxSpec:
    """The execution-plane sandbox, minus cloud, with a fresh private HOME and an empty out directory.

    The plugin reviews what the executor wrote, so it gets none of the executor's scratch
    (a planted usercustomize.py there would run inside the reviewer). Its egress is the
    task pack's declared hosts (safety.network.hosts), through the same allowlisting proxy:
    none unless declared (a vulnerability service, say). It writes its artifacts into
    $ORCH_PLUGIN_OUT, which the phase copies into the run directory.
    """
    scratch = plugin_scratch(run)
    shutil.rmtree(scratch, ignore_errors=True)
    out_dir(scratch).mkdir(parents=True)
    tools = tools_dir(run)
    env = {
        "ORCH_PLUGIN_DIR": str(descriptor.dir.resolve()),
        "PYTHONNOUSERSITE": "1",
        OUT_ENV: str(out_dir(scratch).resolve()),
        TOOLS_ENV: str(tools),
    }
    spec = spec_for(run, env, where)
    own = descriptor.timeout_seconds < spec.wall_seconds
    return replace(
        spec,
        scratch=scratch,
        wall_seconds=min(spec.wall_seconds, descriptor.timeout_seconds),
        cloud_providers=(),
        read_paths=(*spec.read_paths, descriptor.dir.resolve(), *([tools] if tools.is_dir() else [])),
        wall_name="timeout_seconds" if own else spec.wall_name,
        wall_spent=0.0 if own else spec.wall_spent,
    )


def execute(run: Run, log: PhaseLog, descriptor: Descriptor) -> Outcome:
    """Runs the plugin in the sandbox and turns whatever it did into an Outcome.

    The plugin's own timeout is the plugin's problem (crashed); the run's budgets
    (limits.wall_seconds, phase_wall_seconds, max_output_bytes) trip the run as anywhere else.
    """
    workspace = fresh_checkout(run)  # the tree publish commits, never the raw workspace
    try:
        changed, deleted = changed_files(workspace, str(run.manifest.git.base), changes_tree(run))
        request = {**build_request(run, descriptor, changed, deleted), "workspace": str(workspace.resolve())}
        argv = resolve_argv(descriptor.entry, descriptor.dir)
        spec = sandbox_spec(run, descriptor, workspace)
        log.note(
            f"plugin {descriptor.name} {descriptor.version}: "
            f"{len(changed)} changed, {len(deleted)} deleted file(s)"
        )
        stdin = json.dumps(request, sort_keys=True, default=str).encode("utf-8")
        execution = sandbox_run(argv, spec, cwd=workspace, stdin=stdin)
        record_tested(run, workspace, "plugin")
    finally:
        remove_checkout(run)
    note = (
        f"breaker {execution.breaker}: limit {execution.limit}, measured {execution.measured}"
        if execution.breaker
        else ""
    )
    log.command(
        shlex.join(argv),
        execution.exit_code,
        execution.duration,
        execution.output,
        execution.output_bytes,
        note=note,
    )
    crashed = f"plugin {descriptor.name} {descriptor.version} crashed"
    if execution.breaker == "timeout_seconds":
        return Outcome(
            "crashed",
            f"{crashed}: still running after timeout_seconds={descriptor.timeout_seconds:g}",
            descriptor.version,
        )
    if execution.breaker:
        reason = f"{crashed}: breaker {execution.breaker} tripped (limit {execution.limit:g})"
        raise PluginTripped(
            Outcome("crashed", reason, descriptor.version),
            Tripped(execution.breaker, execution.limit, execution.measured, f"plugin {descriptor.name}"),
        )
    if execution.exit_code != 0:
        last = next((ln.strip() for ln in reversed(execution.output.splitlines()) if ln.strip()), "no output")
        return Outcome("crashed", f"{crashed}: exit {execution.exit_code}: {last[:300]}", descriptor.version)
    try:
        result = extract_result(execution.output)
        check_result(result, descriptor)
    except PluginProblem as problem:
        return Outcome("crashed", f"{crashed}: {problem}", descriptor.version)
    return outcome_of(redact_tree(result, log.redactor), descriptor.version)


def record(
    run: Run, outcome: Outcome, strict: bool, digest: str | None, redactor: Redactor
) -> tuple[Outcome, PluginRecord]:
    """The manifest's plugin entry; the reason may quote plugin output, so it is redacted."""
    outcome = replace(outcome, reason=redactor.redact(outcome.reason))
    entry = PluginRecord(
        name=run.task.plugin_name or "",
        version=outcome.version,
        status=PluginStatus(outcome.status),
        sha256=digest,
        strict=strict,
        reason=outcome.reason,
    )
    return outcome, entry


def run(run: Run, log: PhaseLog) -> PhaseResult:
    """The plugin phase (see the module docstring for the outcome table)."""
    name = run.task.plugin_name
    strict = run.settings.plugins_strict
    result_path = run.layout.plugin_result
    result_path.unlink(missing_ok=True)
    if not name:
        run.record.plugin(None)
        log.note("the task pack names no plugin")
        return PhaseResult(Status.SKIPPED, "the task pack names no plugin")
    if not run.settings.plugins_enabled:
        reason = f"plugin {name} not run: plugins are disabled ({ENABLE_HINT})"
        entry = PluginRecord(name, "", PluginStatus.SKIPPED, None, strict, reason)
        log.note(reason)
        return PhaseResult(Status.SKIPPED, reason, plugin=entry)

    plugin_dir = run.repo / "solutions" / name
    outputs: list[Path] = []
    if not NAME.match(name):
        outcome = Outcome(
            "missing", f"plugin {name!r} is missing: not a valid name (lowercase letters, digits and -)"
        )
    elif not (plugin_dir / DESCRIPTOR).is_file():
        outcome = Outcome(
            "missing", f"plugin {name} is missing: no solutions/{name}/{DESCRIPTOR} in the repository"
        )
    else:
        try:
            descriptor = load_descriptor(plugin_dir, name)
        except PluginProblem as problem:
            outcome = Outcome("crashed", f"plugin {name} crashed: {problem}")
        else:
            try:
                outcome = execute(run, log, descriptor)
            except PluginTripped as tripped:
                run.record.plugin(record(run, tripped.outcome, strict, None, log.redactor)[1])
                raise tripped.error from None
    digest = None
    if outcome.result is not None:
        write_json(result_path, outcome.result)
        digest = sha256_file(result_path)
        outputs.append(result_path)
        copied, refused = collect(outcome.result, out_dir(plugin_scratch(run)), run.dir, name, log.redactor)
        outputs.extend(copied)
        for reason in refused:
            log.note(f"plugin artifact refused: {reason}")
    outcome, entry = record(run, outcome, strict, digest, log.redactor)
    if outcome.result is not None:
        artifacts = described(outcome.result, [run.rel(p) for p in copied])
        entry.artifacts = [Artifact(a["path"], a["kind"], a["title"]) for a in artifacts]
    log.note(f"{outcome.status}: {outcome.reason}")
    return replace(phase_result(outcome, strict, outputs), plugin=entry)

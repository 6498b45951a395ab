"""The one narrow way facts learnt during a phase reach the run's manifest.

Phases and the helpers they call read `run.manifest` and never assign into it. What they
learn while they run (a safety decision, what the sandbox allowed or denied, an executor
attempt, the change, acceptance results, the prepared environment, a plugin outcome, where
publish committed) goes through `run.record`, a `Recorder` the run owns for the pipeline:
each method takes a typed record and applies it to the manifest the pipeline saves, so
whatever ends a phase, what it learnt so far is recorded. `checkpoint()` saves at once,
for the facts that must be on disk during a phase (execute saves after each attempt, so
an interrupt leaves a complete manifest).
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.model import (
    AcceptanceResult,
    Access,
    ChangesRecord,
    Decision,
    EnvironmentRecord,
    Manifest,
    ModelProxyRecord,
    PluginRecord,
    Ruling,
)


class Recorder:
    def __init__(self, manifest: Manifest, save: Callable[[], None]) -> None:
        self._manifest = manifest
        self._save = save

    def checkpoint(self) -> None:
        """Saves the manifest now (it is saved after every phase anyway)."""
        self._save()

    # --- safety ---------------------------------------------------------------------------------

    def reset_decisions(self) -> None:
        """The safety phase takes every decision afresh."""
        safety = self._manifest.safety
        safety.decisions = []
        if safety.denied is None:
            safety.denied = []

    def decide(self, decision_id: str, ruling: Ruling, reason: str) -> Decision:
        """A decision replaces an earlier one of the same id."""
        entry = Decision(decision_id, ruling, reason)
        decisions = self._manifest.safety.decisions
        decisions[:] = [d for d in decisions if d.id != decision_id]
        decisions.append(entry)
        return entry

    def use(self, entry: Access) -> bool:
        """What the sandbox allowed and the run used; False when it was recorded already."""
        safety = self._manifest.safety
        used = safety.used if safety.used is not None else []
        safety.used = used
        if entry in used:
            return False
        used.append(entry)
        return True

    def deny(self, entry: Access) -> bool:
        """What the sandbox (or the model proxy) denied; False when it was recorded already."""
        safety = self._manifest.safety
        denied = safety.denied if safety.denied is not None else []
        safety.denied = denied
        if entry in denied:
            return False
        denied.append(entry)
        return True

    def limits_enforced(self, limits: dict[str, str]) -> None:
        safety = self._manifest.safety
        safety.limits_enforced = {**(safety.limits_enforced or {}), **limits}

    def fingerprint(self, git_control_sha256: str, control_plane: list[str] | None) -> None:
        """The repository's git control files' digest, and its own control-plane globs (if any)."""
        self._manifest.safety.git_control_sha256 = git_control_sha256
        if control_plane:
            self._manifest.safety.control_plane = list(control_plane)

    def unsafe(self) -> None:
        """The run goes without isolation (ORCH_UNSAFE_NO_ISOLATION=1)."""
        self._manifest.unsafe = True

    # --- executor and change --------------------------------------------------------------------

    def executor(
        self,
        *,
        version: str | None = None,
        attempts: int | None = None,
        usage: dict[str, int] | None = None,
        health: dict[str, object] | None = None,
        model_proxy: ModelProxyRecord | None = None,
    ) -> None:
        """What the executor said about itself; None leaves a field as it is."""
        record = self._manifest.executor
        if version is not None:
            record.version = version
        if attempts is not None:
            record.attempts = attempts
        if usage is not None:
            record.usage = dict(usage)
        if health is not None:
            record.health = dict(health)
        if model_proxy is not None:
            record.model_proxy = model_proxy

    def changes(self, changes: ChangesRecord) -> None:
        self._manifest.changes = changes

    def tested_tree(self, tree: str) -> None:
        """The tracked tree of the checkout after checks ran on it (publish compares it with the change)."""
        if self._manifest.changes is None:
            raise RuntimeError("a tested tree without a recorded change")
        self._manifest.changes.tested_tree = tree

    def acceptance(self, results: list[AcceptanceResult]) -> None:
        self._manifest.acceptance = list(results)

    def environment(self, environment: EnvironmentRecord) -> None:
        self._manifest.environment = environment

    def plugin(self, plugin: PluginRecord | None) -> None:
        self._manifest.plugin = plugin

    # --- publish --------------------------------------------------------------------------------

    def head(self, commit: str | None) -> None:
        """The change commit publish made (None: no change was published)."""
        self._manifest.git.head = commit

    def evidence_commit(self, commit: str) -> None:
        self._manifest.git.evidence_commit = commit

    def pushed(self) -> None:
        self._manifest.git.pushed = True

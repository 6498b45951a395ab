"""The names of a run directory's artifacts (`runs/<task-id>/<run-id>/`), in one place.

Every module that writes or reads an artifact of a run takes its name from here; the
names are part of the v1 contract (DESIGN.md §5), so they never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"
LOGS = "logs"
SUMMARY = "SUMMARY.md"
REVIEW_REPORT = "review_report.json"
REVIEW_MARKDOWN = "REVIEW.md"
INDEX = "evidence_index.json"
ATTESTATION = "attestation.intoto.json"
PLUGIN_RESULT = "plugin_result.json"
DIFF = "diff.patch"

SEALS = (INDEX, ATTESTATION)
"""Files the evidence index does not cover because they seal it (the attestation's subjects
include the index)."""


def log_name(phase: str) -> str:
    """A phase's log, relative to the run directory (as the manifest records it)."""
    return f"{LOGS}/{phase}.log"


@dataclass(frozen=True)
class RunLayout:
    """The artifact paths of one run directory."""

    dir: Path

    @property
    def manifest(self) -> Path:
        return self.dir / MANIFEST

    @property
    def logs(self) -> Path:
        return self.dir / LOGS

    def log(self, phase: str) -> Path:
        return self.dir / log_name(phase)

    @property
    def summary(self) -> Path:
        return self.dir / SUMMARY

    @property
    def review_report(self) -> Path:
        return self.dir / REVIEW_REPORT

    @property
    def review_markdown(self) -> Path:
        return self.dir / REVIEW_MARKDOWN

    @property
    def index(self) -> Path:
        return self.dir / INDEX

    @property
    def attestation(self) -> Path:
        return self.dir / ATTESTATION

    @property
    def plugin_result(self) -> Path:
        return self.dir / PLUGIN_RESULT

    @property
    def diff(self) -> Path:
        return self.dir / DIFF

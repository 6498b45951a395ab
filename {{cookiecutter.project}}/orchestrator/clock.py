"""The one timestamp format of manifests, phase records and audit lines: UTC, microseconds, `Z`."""

from __future__ import annotations

from datetime import UTC, datetime

TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> str:
    return datetime.now(UTC).strftime(TIMESTAMP)


def parse_utc(stamp: str) -> datetime:
    """A timestamp this engine wrote, as an aware datetime."""
    return datetime.strptime(stamp, TIMESTAMP).replace(tzinfo=UTC)

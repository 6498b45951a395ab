"""The dependency audit: pinned versions looked up in OSV (`POST /v1/querybatch`, `GET /v1/vulns/<id>`).

The service is reached only when the task pack declares its host (`safety.network.hosts`,
or the `@osv` preset for the public service): the sandbox then routes the plugin's
HTTP(S) through the orchestrator's egress proxy (HTTP(S)_PROXY), which urllib follows.
Undeclared, the audit is skipped with that reason; a service that cannot be reached or
answers nonsense is skipped with the error. Neither is ever a pass.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from secscan.deps import Pin
from secscan.model import Finding, Level, Tool, level_of

DEFAULT_URL = "https://api.osv.dev"
PRESET = "@osv"
BATCH = 1000
TIMEOUT = 30.0
MAX_PAGES = 20


class ServiceError(Exception):
    """The vulnerability service could not answer; the message says why."""


def host_entry(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def declared(base_url: str, hosts: Iterable[str]) -> bool:
    """Whether the pack's declared hosts let the plugin reach `base_url` (host, or host:port)."""
    host, port = host_entry(base_url)
    for entry in hosts:
        entry = entry.strip().lower()
        if entry == PRESET and (host, port) == host_entry(DEFAULT_URL):
            return True
        name, sep, entry_port = entry.rpartition(":")
        if sep and entry_port.isdigit():
            if name == host and int(entry_port) == port:
                return True
        elif entry == host and port in (80, 443):
            return True
    return False


def call(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            value = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ServiceError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceError(f"{url}: {getattr(exc, 'reason', exc)}") from None
    except json.JSONDecodeError:
        raise ServiceError(f"{url}: the answer is not JSON") from None
    if not isinstance(value, dict):
        raise ServiceError(f"{url}: the answer is not a JSON object")
    return value


def query(base_url: str, pins: Sequence[Pin]) -> dict[tuple[str, str, str], list[str]]:
    """(ecosystem, name, version) -> vulnerability ids, through /v1/querybatch (paged)."""
    keys = sorted({(p.ecosystem, p.name, p.version) for p in pins})
    found: dict[tuple[str, str, str], list[str]] = {k: [] for k in keys}
    pending: list[tuple[tuple[str, str, str], str]] = [(k, "") for k in keys]
    for _ in range(MAX_PAGES):
        if not pending:
            break
        following: list[tuple[tuple[str, str, str], str]] = []
        for start in range(0, len(pending), BATCH):
            chunk = pending[start : start + BATCH]
            queries = [
                {"package": {"ecosystem": e, "name": n}, "version": v, **({"page_token": t} if t else {})}
                for (e, n, v), t in chunk
            ]
            results = call(base_url.rstrip("/") + "/v1/querybatch", {"queries": queries}).get("results")
            if not isinstance(results, list) or len(results) != len(chunk):
                raise ServiceError("querybatch: the answer does not hold one result per query")
            for (key, _), result in zip(chunk, results, strict=True):
                for vuln in (result or {}).get("vulns") or []:
                    if isinstance(vuln, dict) and isinstance(vuln.get("id"), str):
                        found[key].append(vuln["id"])
                token = (result or {}).get("next_page_token")
                if token:
                    following.append((key, str(token)))
        pending = following
    return found


def severity_of(vuln: dict[str, Any]) -> Level:
    """GHSA-style `database_specific.severity` (or the first affected entry's); unknown -> warning."""
    places = [vuln.get("database_specific") or {}]
    places += [(a.get("database_specific") or {}) for a in vuln.get("affected") or [] if isinstance(a, dict)]
    for place in places:
        if isinstance(place, dict) and isinstance(place.get("severity"), str):
            return level_of(place["severity"])
    return Level.WARNING


def fixed_versions(vuln: dict[str, Any], name: str) -> list[str]:
    fixed: list[str] = []
    for affected in vuln.get("affected") or []:
        if (affected.get("package") or {}).get("name", "").lower() != name.lower():
            continue
        for version_range in affected.get("ranges") or []:
            fixed.extend(str(e["fixed"]) for e in version_range.get("events") or [] if "fixed" in e)
    return sorted(set(fixed))


def audit(
    base_url: str, base_pins: Sequence[Pin], head_pins: Sequence[Pin]
) -> tuple[list[Finding], list[Finding]]:
    """Findings at the base and at the head: one per vulnerable pin and advisory."""
    ids = query(base_url, [*base_pins, *head_pins])
    details: dict[str, dict[str, Any]] = {}
    for vuln_id in sorted({i for found in ids.values() for i in found}):
        details[vuln_id] = call(base_url.rstrip("/") + "/v1/vulns/" + quote(vuln_id, safe=""))

    def findings(pins: Sequence[Pin]) -> list[Finding]:
        out = []
        for pin in pins:
            for vuln_id in ids.get((pin.ecosystem, pin.name, pin.version), []):
                vuln = details.get(vuln_id, {})
                summary = " ".join(str(vuln.get("summary") or vuln.get("details") or "").split())[:200]
                fixed = fixed_versions(vuln, pin.name)
                hint = f"; fixed in {', '.join(fixed)}" if fixed else "; no fixed version listed"
                out.append(
                    Finding(
                        Tool.OSV,
                        vuln_id,
                        severity_of(vuln),
                        pin.file,
                        pin.line,
                        f"{pin.name} {pin.version} ({pin.ecosystem}) is affected by {vuln_id}: "
                        f"{summary or 'no summary'}{hint}",
                        0,
                        f"{pin.ecosystem}:{pin.name}@{pin.version}",
                        f"https://osv.dev/vulnerability/{quote(vuln_id, safe='')}",
                    )
                )
        return out

    return findings(base_pins), findings(head_pins)

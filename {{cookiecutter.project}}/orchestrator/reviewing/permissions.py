"""The permission judgement: what the pack declared against what the run used and was denied."""

from __future__ import annotations

from typing import Any

from orchestrator.egress import parse_allowlist, split_target
from orchestrator.environment import preset_hosts
from orchestrator.layout import MANIFEST
from orchestrator.reviewing.model import ReviewInputs, check, finding
from orchestrator.taskpack.model import declared_hosts, declared_providers


def check_permissions(inputs: ReviewInputs) -> dict[str, Any]:
    """Judges the pack's declared permissions against what the run did (`safety.used`, `safety.denied`).

    Under-declared: something was denied (or used) that the pack does not declare. Over-declared: a
    declared host no allowed connection matched, or a declared cloud provider never used: a warning.
    Hosts used by setup (the prepare phase) are judged against the environment's hosts; presets
    (`@python`) stand for the hosts they expand to."""
    declared = {
        "network": sorted(declared_hosts(inputs.task)),
        "cloud": sorted(declared_providers(inputs.task)),
    }
    setup_hosts = (inputs.manifest.get("environment") or {}).get("expanded_hosts", [])
    safety = inputs.manifest.get("safety") or {}
    used: dict[str, set[str]] = {"network": set(), "cloud": set()}
    for item in safety.get("used", []):
        if item["kind"] == "network" and item.get("phase") == "prepare":
            if not any(_network_covers(rule, item["target"]) for rule in setup_hosts):
                used["network"].add(item["target"])  # judged below as undeclared
            continue
        used.setdefault(item["kind"], set()).add(item["target"])
    findings = []
    if inputs.manifest.get("unsafe"):
        findings.append(
            finding(
                MANIFEST,
                0,
                "permissions/unsafe-run",
                "the run was NOT isolated (ORCH_UNSAFE_NO_ISOLATION=1); nothing it did was contained",
            )
        )
    for item in safety.get("denied", []):
        where = f" in {item['phase']}" if item.get("phase") else ""
        findings.append(
            finding(
                MANIFEST,
                0,
                f"permissions/denied-{item['kind']}",
                f"{item['kind']} access to {item['target']} was denied{where}: it is not declared",
            )
        )
    for decision in safety.get("decisions", []):
        if decision["decision"] in ("refuse", "unsafe"):
            findings.append(
                finding(
                    MANIFEST,
                    0,
                    f"permissions/{decision['decision']}",
                    f"safety decision {decision['id']}: {decision['reason']}",
                )
            )
    for kind in ("network", "cloud"):
        covers = _network_covers if kind == "network" else _same
        for target in sorted(used.get(kind, set())):
            if not any(covers(rule, target) for rule in declared[kind]):
                findings.append(
                    finding(
                        MANIFEST,
                        0,
                        f"permissions/undeclared-{kind}",
                        f"{kind} {target} was used but is not declared",
                    )
                )
        for rule in declared[kind]:
            if not any(covers(rule, target) for target in used.get(kind, set())):
                findings.append(
                    finding(
                        inputs.task_path,
                        0,
                        f"permissions/over-declared-{kind}",
                        f"{kind} {rule} is declared but was not used; drop it from the pack",
                        "warning",
                    )
                )
    summary = (
        f"network declared {len(declared['network'])}, used {len(used['network'])}, "
        f"cloud declared {len(declared['cloud'])}, denied {len(safety.get('denied', []))}"
        + ("; UNSAFE run" if inputs.manifest.get("unsafe") else "")
    )
    return check("permissions", findings, summary)


def _network_covers(declared: str, used: str) -> bool:
    """Whether a declared host (`example.com`, `127.0.0.1:8080`) is the rule an allowed `host:port`
    went by."""
    host, port = split_target(used, 0)
    rules = parse_allowlist(preset_hosts(declared))
    if port == 0:  # recorded without a port: the host alone decides
        return any(rule.host == host.lower().rstrip(".") for rule in rules)
    return any(rule.permits(host, port) for rule in rules)


def _same(declared: str, used: str) -> bool:
    return declared == used

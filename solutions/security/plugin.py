"""Security solution plugin: flags dangerous Python patterns in the files a run changed.

Speaks the plugin protocol (docs/plugins.md): reads a plugin_request/v1 document on
stdin, prints one plugin_result/v1 document between the marker lines, exits 0.
Standard library only, because it runs in the sandbox with the orchestrator's
interpreter and no network. It parses with `ast` rather than grepping, so a
pattern in a comment or a string is not reported and `from pickle import loads`
is.

Options (task.yml `plugin: options:`):
  fail_on: error | warning | note | never   lowest severity that fails the run (default: error)
  exclude: [glob, ...]                      changed files to leave out (fnmatch on the relative path)
  max_file_bytes: int                       larger files are skipped and counted (default: 1 MiB)
"""

from __future__ import annotations

import ast
import fnmatch
import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import Any

NAME = "security"
VERSION = "0.1.0"
BEGIN = "----- BEGIN plugin_result/v1 -----"
END = "----- END plugin_result/v1 -----"
LEVELS = ("note", "warning", "error")
DEFAULT_MAX_FILE_BYTES = 1 << 20
IP_CANDIDATE = re.compile(
    r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])|(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"
)

UNPICKLERS = {
    "pickle.loads",
    "pickle.load",
    "pickle.Unpickler",
    "cPickle.loads",
    "cPickle.load",
    "dill.loads",
    "dill.load",
    "marshal.loads",
    "marshal.load",
    "shelve.open",
}
SHELL_CALLS = {"os.system", "os.popen"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


def qualified(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """`a.b.c` for a call target, with import aliases undone (`import pickle as p` -> pickle)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def collect_aliases(tree: ast.AST) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def finding(path: str, node: ast.AST, rule: str, severity: str, message: str) -> dict[str, Any]:
    return {
        "file": path,
        "line": getattr(node, "lineno", 0),
        "column": getattr(node, "col_offset", -1) + 1,
        "rule": rule,
        "severity": severity,
        "message": message,
    }


def check_call(path: str, call: ast.Call, aliases: dict[str, str]) -> list[dict[str, Any]]:
    name = qualified(call.func, aliases)
    if name is None:
        return []
    found: list[dict[str, Any]] = []
    if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
        short = name.rsplit(".", 1)[-1]
        found.append(
            finding(
                path,
                call,
                f"py-{short}",
                "error",
                f"{short}() runs arbitrary code; parse the data instead (ast.literal_eval, json)",
            )
        )
    elif name in UNPICKLERS:
        found.append(
            finding(
                path,
                call,
                "py-unsafe-deserialization",
                "error",
                f"{name}() can execute code from its input; use json or a schema-checked format",
            )
        )
    elif name in SHELL_CALLS:
        found.append(
            finding(
                path,
                call,
                "py-shell",
                "error",
                f"{name}() runs a shell command line; use subprocess.run([...]) with an argv list",
            )
        )
    elif name.startswith("subprocess."):
        shell = keyword(call, "shell")
        if isinstance(shell, ast.Constant) and shell.value:
            found.append(
                finding(
                    path,
                    call,
                    "py-shell",
                    "error",
                    f"{name}(shell=True) lets input become shell syntax; pass an argv list",
                )
            )
        elif shell is not None and not isinstance(shell, ast.Constant):
            found.append(
                finding(
                    path,
                    call,
                    "py-shell",
                    "warning",
                    f"{name}(shell=<expression>) may run a shell; pass shell=False and an argv list",
                )
            )
    elif name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.unsafe_load_all"):
        loader = keyword(call, "Loader")
        if loader is None and len(call.args) > 1:
            loader = call.args[1]
        loader_name = (qualified(loader, aliases) or "") if loader is not None else ""
        if "unsafe" in name or loader_name.rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
            shown = f" with {loader_name}" if loader_name else " without a Loader"
            found.append(
                finding(
                    path,
                    call,
                    "py-yaml-load",
                    "error",
                    f"{name}(){shown} can build arbitrary objects; use yaml.safe_load",
                )
            )
    return found


def check_ip(path: str, node: ast.Constant) -> list[dict[str, Any]]:
    found = []
    for match in IP_CANDIDATE.finditer(node.value):
        try:
            address = ipaddress.ip_address(match.group(0))
        except ValueError:
            continue
        if address.is_loopback or address.is_unspecified:
            continue
        found.append(
            finding(
                path,
                node,
                "hardcoded-ip",
                "warning",
                f"hard-coded IP address {address}; read it from configuration",
            )
        )
    return found


def scan_source(path: str, source: str) -> list[dict[str, Any]]:
    """All findings of one Python source; a file that does not parse is itself a finding."""
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", 0) or 0
        return [
            {
                "file": path,
                "line": line,
                "column": 0,
                "rule": "py-syntax",
                "severity": "note",
                "message": f"not scanned: the file does not parse ({getattr(exc, 'msg', exc)})",
            }
        ]
    aliases = collect_aliases(tree)
    found: list[dict[str, Any]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found.extend(check_call(path, node, aliases))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.extend(check_ip(path, node))
    return found


def is_python(path: Path, head: bytes) -> bool:
    return path.suffix in (".py", ".pyw") or (head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0])


def option_error(message: str) -> dict[str, Any]:
    return {
        "schema": "plugin_result/v1",
        "name": NAME,
        "version": VERSION,
        "status": "error",
        "summary": f"bad plugin options: {message}",
        "findings": [],
        "metrics": {},
    }


def scan(request: dict[str, Any]) -> dict[str, Any]:
    options = request.get("options") or {}
    fail_on = options.get("fail_on", "error")
    if fail_on not in (*LEVELS, "never"):
        return option_error(f"fail_on must be one of error, warning, note, never (got {fail_on!r})")
    exclude = options.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(g, str) for g in exclude):
        return option_error("exclude must be a list of glob strings")
    max_bytes = options.get("max_file_bytes", DEFAULT_MAX_FILE_BYTES)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        return option_error("max_file_bytes must be a positive integer")

    workspace = Path(request["workspace"]).resolve()
    findings: list[dict[str, Any]] = []
    metrics = {"files_changed": len(request["changed_files"]), "files_scanned": 0, "files_skipped": 0}
    for rel in request["changed_files"]:
        if any(fnmatch.fnmatch(rel, glob) for glob in exclude):
            metrics["files_skipped"] += 1
            continue
        path = (workspace / rel).resolve()
        if not path.is_relative_to(workspace) or not path.is_file():
            metrics["files_skipped"] += 1
            continue
        if path.stat().st_size > max_bytes:
            metrics["files_skipped"] += 1
            print(f"skipped {rel}: larger than max_file_bytes={max_bytes}")
            continue
        data = path.read_bytes()
        if not is_python(path, data[:200]):
            continue
        metrics["files_scanned"] += 1
        findings.extend(scan_source(rel, data.decode("utf-8", "replace")))

    findings.sort(key=lambda f: (f["file"], f["line"], f["column"], f["rule"]))
    for level in LEVELS:
        metrics[level] = sum(1 for f in findings if f["severity"] == level)
    threshold = len(LEVELS) if fail_on == "never" else LEVELS.index(fail_on)
    failing = [f for f in findings if LEVELS.index(f["severity"]) >= threshold]
    status = "failed" if failing else "passed"
    counts = ", ".join(f"{metrics[level]} {level}" for level in reversed(LEVELS))
    summary = f"{counts} in {metrics['files_scanned']} Python file(s)"
    if failing:
        first = failing[0]
        summary += f"; first at or above {fail_on}: {first['file']}:{first['line']} {first['rule']}"
    return {
        "schema": "plugin_result/v1",
        "name": NAME,
        "version": VERSION,
        "status": status,
        "summary": summary,
        "findings": findings,
        "metrics": metrics,
    }


def main() -> int:
    request = json.loads(sys.stdin.read())
    result = scan(request)
    for f in result["findings"]:
        print(f"{f['file']}:{f['line']}:{f['column']}: {f['severity']}: {f['rule']}: {f['message']}")
    print(BEGIN)
    print(json.dumps(result, sort_keys=True, indent=1))
    print(END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

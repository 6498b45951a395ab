"""Pinned dependencies of the manifests a change touched, for the vulnerability lookup.

Parsers for requirements*.txt, pyproject.toml ([project] and [tool.poetry]), poetry.lock,
uv.lock and package-lock.json (v1, v2, v3). Only exact pins are looked up: a range has
no single version to judge and is counted as unpinned.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

MANIFESTS = ("requirements*.txt", "pyproject.toml", "poetry.lock", "uv.lock", "package-lock.json")


@dataclass(frozen=True)
class Pin:
    ecosystem: str
    """OSV ecosystem: PyPI or npm."""
    name: str
    version: str
    file: str
    line: int


@dataclass(frozen=True)
class Parsed:
    pins: list[Pin]
    unpinned: int
    error: str = ""


def is_manifest(path: str) -> bool:
    name = PurePosixPath(path).name
    return any(fnmatchcase(name, pattern) for pattern in MANIFESTS)


def line_of(text: str, needle: str) -> int:
    """First line mentioning `needle` (1-based), 0 when not found."""
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.search(line):
            return number
    return 0


def exact_version(requirement: Requirement) -> str | None:
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def pypi_requirements(lines: list[tuple[int, str]], file: str) -> Parsed:
    pins: list[Pin] = []
    unpinned = 0
    for number, raw in lines:
        text = raw.split(" #", 1)[0].strip()
        if not text or text.startswith(("#", "-", "git+", "http:", "https:", "file:")):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            unpinned += 1
            continue
        version = exact_version(requirement)
        if version is None:
            unpinned += 1
            continue
        pins.append(Pin("PyPI", canonicalize_name(requirement.name), version, file, number))
    return Parsed(pins, unpinned)


def requirements_txt(text: str, file: str) -> Parsed:
    """Logical lines (backslash continuations joined), each with the number of its first line."""
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        logical.append((start, buffer + line))
        buffer = ""
    if buffer:
        logical.append((start, buffer))
    return pypi_requirements([(n, re.sub(r"\s--hash[= ]\S+", "", t)) for n, t in logical], file)


def pyproject(text: str, file: str) -> Parsed:
    data = tomllib.loads(text)
    project = data.get("project", {})
    strings = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        strings.extend(group)
    for group in data.get("dependency-groups", {}).values():
        strings.extend(s for s in group if isinstance(s, str))
    parsed = pypi_requirements([(line_of(text, s), s) for s in strings if isinstance(s, str)], file)
    pins, unpinned = list(parsed.pins), parsed.unpinned
    poetry = data.get("tool", {}).get("poetry", {})
    tables = [
        poetry.get("dependencies", {}),
        *(g.get("dependencies", {}) for g in poetry.get("group", {}).values()),
    ]
    for table in tables:
        for name, spec in table.items():
            if name == "python":
                continue
            version = spec.get("version") if isinstance(spec, dict) else spec
            if isinstance(version, str) and re.fullmatch(r"=?=?\s*\d[\w.+!-]*", version.strip()):
                pins.append(
                    Pin(
                        "PyPI",
                        canonicalize_name(name),
                        version.strip().lstrip("= "),
                        file,
                        line_of(text, name),
                    )
                )
            else:
                unpinned += 1
    return Parsed(pins, unpinned)


def toml_lock(text: str, file: str) -> Parsed:
    """poetry.lock and uv.lock: [[package]] tables with name and version (the project itself skipped)."""
    data = tomllib.loads(text)
    pins: list[Pin] = []
    lines = text.splitlines()
    starts = [n for n, line in enumerate(lines, 1) if line.strip() == "[[package]]"]
    for index, package in enumerate(data.get("package", [])):
        source = package.get("source", {})
        if isinstance(source, dict) and ({"editable", "virtual"} & source.keys()):
            continue
        name, version = package.get("name"), package.get("version")
        if isinstance(name, str) and isinstance(version, str):
            line = starts[index] + 1 if index < len(starts) else 0
            pins.append(Pin("PyPI", canonicalize_name(name), version, file, line))
    return Parsed(pins, 0)


def package_lock(text: str, file: str) -> Parsed:
    data = json.loads(text)
    pins: list[Pin] = []
    packages: dict[str, Any] = data.get("packages") or {}
    if packages:
        for key, entry in packages.items():
            if not key or not isinstance(entry, dict) or entry.get("link"):
                continue
            name = entry.get("name") or key.rsplit("node_modules/", 1)[-1]
            version = entry.get("version")
            if isinstance(version, str):
                pins.append(Pin("npm", name, version, file, line_of(text, f'"{key}"')))
        return Parsed(pins, 0)

    def walk(dependencies: dict[str, Any]) -> None:
        for name, entry in dependencies.items():
            if isinstance(entry, dict) and isinstance(entry.get("version"), str):
                pins.append(Pin("npm", name, entry["version"], file, line_of(text, f'"{name}"')))
                walk(entry.get("dependencies") or {})

    walk(data.get("dependencies") or {})
    return Parsed(pins, 0)


def parse(path: str, data: bytes) -> Parsed:
    """The pins of one manifest; a file that does not parse is reported, not guessed at."""
    name = PurePosixPath(path).name
    try:
        text = data.decode("utf-8")
        if name == "pyproject.toml":
            return pyproject(text, path)
        if name in ("poetry.lock", "uv.lock"):
            return toml_lock(text, path)
        if name == "package-lock.json":
            return package_lock(text, path)
        return requirements_txt(text, path)
    except (
        UnicodeDecodeError,
        tomllib.TOMLDecodeError,
        json.JSONDecodeError,
        AttributeError,
        TypeError,
    ) as exc:
        return Parsed([], 0, f"{path}: not parsed ({type(exc).__name__}: {exc})")

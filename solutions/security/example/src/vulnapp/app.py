"""The user directory: an in-memory SQLite table behind a WSGI search endpoint."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import yaml

USERS = [
    ("alice", "alice@example.test", "admin"),
    ("bob", "bob@example.test", "user"),
    ("carol", "carol@example.test", "user"),
]


def make_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (name TEXT, email TEXT, role TEXT)")
    db.executemany("INSERT INTO users VALUES (?, ?, ?)", USERS)
    return db


def search_users(db: sqlite3.Connection, name: str) -> list[dict[str, str]]:
    """Users whose name is exactly `name`."""
    cursor = db.cursor()
    cursor.execute(f"SELECT name, email, role FROM users WHERE name = '{name}'")
    return [{"name": n, "email": e, "role": r} for n, e, r in cursor.fetchall()]


def load_settings(text: str) -> dict[str, Any]:
    """Settings uploaded by an administrator, as YAML."""
    value = yaml.load(text, Loader=yaml.Loader)
    return value if isinstance(value, dict) else {}


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """GET /search?name=<name> -> the matching users as JSON."""
    if environ.get("PATH_INFO") != "/search":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    name = parse_qs(environ.get("QUERY_STRING", "")).get("name", [""])[0]
    body = json.dumps(search_users(make_db(), name)).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

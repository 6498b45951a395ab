"""vulnapp does its job for honest input. All pass after the fix; before it, a quote breaks the SQL."""

import json
from urllib.parse import urlencode

from vulnapp import application, load_settings, make_db, search_users


def call(path: str, query: dict[str, str]) -> tuple[str, list[dict[str, str]]]:
    status: list[str] = []
    body = b"".join(
        application(
            {"PATH_INFO": path, "QUERY_STRING": urlencode(query)}, lambda s, _headers: status.append(s)
        )
    )
    return status[0], json.loads(body) if status[0].startswith("200") else []


def test_search_finds_the_named_user() -> None:
    assert search_users(make_db(), "bob") == [{"name": "bob", "email": "bob@example.test", "role": "user"}]


def test_search_finds_nobody_for_an_unknown_name() -> None:
    assert search_users(make_db(), "mallory") == []


def test_search_endpoint_answers_json() -> None:
    status, users = call("/search", {"name": "alice"})
    assert status == "200 OK"
    assert [u["name"] for u in users] == ["alice"]


def test_a_name_with_a_quote_is_just_a_name() -> None:
    assert search_users(make_db(), "o'brien") == []


def test_settings_load_plain_yaml() -> None:
    assert load_settings("theme: dark\npage_size: 20\n") == {"theme": "dark", "page_size": 20}

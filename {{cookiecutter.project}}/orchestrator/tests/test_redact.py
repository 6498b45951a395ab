"""Redaction: exact known values, detect-secrets scanning, and what must stay readable."""

from __future__ import annotations

import pytest

from orchestrator.redact import MASK, Redactor, looks_secret, scan_text_for_secrets, secret_values

GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" + "K1l2M3n4O5p6Q7r8"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # pragma: allowlist secret


def test_values_of_secret_named_variables_are_known_secrets() -> None:
    values = secret_values({"DEPLOY_PASSWORD": "correct-horse-battery", "EDITOR": "vim-editor"})
    assert values == ("correct-horse-battery",)


def test_a_secret_value_under_an_innocent_name_is_found_by_the_scanner() -> None:
    assert secret_values({"SOMETHING": GITHUB}) == (GITHUB,)


def test_paths_short_values_and_plain_settings_are_not_secrets() -> None:
    env = {
        "AUTH_DIR": "/tmp",
        "API_KEY": "1",
        "LANG": "C.UTF-8",
        "PATH": "/usr/bin:/bin",
        "TERM": "xterm-256color",
    }
    assert secret_values(env) == ()


def test_the_scanner_recognises_tokens_on_their_own() -> None:
    assert looks_secret(GITHUB)
    assert looks_secret("AKIAIOSFODNN7EXAMPLE")
    assert not looks_secret("hello world")
    assert not looks_secret("en_US.UTF-8")


def test_known_values_are_masked_wherever_they_appear() -> None:
    redactor = Redactor.from_environ({"SERVICE_TOKEN": "s3rv1ce-t0ken-value"})
    assert redactor.redact("before s3rv1ce-t0ken-value after") == f"before {MASK} after"


@pytest.mark.parametrize(
    "line",
    [
        f"token: {GITHUB}",
        "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        f"aws_secret_access_key = {AWS_SECRET}",
        'password = "hunter2-but-longer"',  # pragma: allowlist secret
        "MY_API_TOKEN=abcdef123456",  # pragma: allowlist secret
        "curl https://deploy:pa55w0rd@example.com/x",  # pragma: allowlist secret
    ],
)
def test_scanned_secrets_are_masked_in_unknown_text(line: str) -> None:
    redacted = Redactor().redact(line)
    assert MASK in redacted
    for secret in (
        GITHUB,
        "AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET,
        "hunter2-but-longer",
        "abcdef123456",
        "pa55w0rd",
    ):
        assert secret not in redacted


def test_a_private_key_block_is_masked_whole() -> None:
    text = (
        "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\nAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\nafter"
    )
    assert Redactor().redact(text) == f"before\n{MASK}\nafter"


@pytest.mark.parametrize(
    "line",
    [
        "tests/test_calc.py::test_doubles PASSED                                 [100%]",
        "commit 3a7bd3e2360a3d29eea436fcfb7e44c735d117c4",
        "sha256 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
        "max_tokens: 200000",
        "[exit 0 after 0.012s; output 10 bytes]",
        "token: None",
    ],
)
def test_ordinary_output_stays_readable(line: str) -> None:
    assert Redactor().redact(line) == line


def test_scan_text_reports_line_and_type_without_the_value() -> None:
    text = "title: x\nnotes: fine\napi_key: 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo'\n"
    found = scan_text_for_secrets(text, "task.yml")
    assert found and {line for line, _ in found} == {3}
    assert all("Zm9v" not in kind for _, kind in found)


def test_scan_text_finds_nothing_in_an_ordinary_task_pack() -> None:
    text = (
        "schema: taskpack/v1\nid: add-slugify\ntitle: Add a slugify helper\nobjective: Write it.\n"
        "safety:\n  secrets: forbidden\n  password: ${DEPLOY_PASSWORD}\n"
    )
    assert scan_text_for_secrets(text, "task.yml") == []


def test_scan_text_still_finds_a_keyword_with_a_real_value() -> None:
    assert scan_text_for_secrets("password: hunter2-xyz\n", "task.yml") == [(1, "Secret Keyword")]


# --- the safety log's own words, and encoded known values ----------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "secrets: allow: no secret found in the task pack or its context files",
        "secrets: refuse: the task pack holds what looks like a secret",
        "password: required",
        "secrets: forbidden",
    ],
)
def test_a_decision_about_secrets_is_not_itself_masked(line: str) -> None:
    assert Redactor().redact(line) == line


KNOWN = "tok0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "encoded",
    [
        KNOWN.upper(),
        KNOWN[::-1],
        "gbx0123456789nopqrs0123456789nopqrs",
        KNOWN.encode().hex(),
        "dG9rMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    ],
)
def test_a_known_value_is_masked_in_the_encodings_an_exfiltration_uses(encoded: str) -> None:
    out = Redactor([KNOWN], scan=False).redact(f"data: {encoded} end")
    assert MASK in out and encoded not in out


def test_a_known_value_split_across_diff_lines_is_masked_piece_by_piece() -> None:
    text = "".join(f"+{KNOWN[i : i + 5]}\n" for i in range(0, len(KNOWN), 5))
    out = Redactor([KNOWN], scan=False).redact(text)
    assert out == f"+{MASK}\n" * 7


def test_a_base64_known_value_inside_a_longer_stream_is_masked() -> None:
    import base64

    stream = base64.b64encode(b"xy" + KNOWN.encode() + b"tail").decode()
    out = Redactor([KNOWN], scan=False).redact(stream)
    assert MASK in out
    assert base64.b64encode(KNOWN.encode())[4:20].decode() not in out


def test_json_documents_keep_their_digests_and_lose_known_values() -> None:
    digest = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    doc = {"sha256": digest, "files": [{"path": f"src/{KNOWN}.txt"}], "reason": f"token = {GITHUB}"}
    out = Redactor([KNOWN]).redact_json(doc)
    assert out == {"sha256": digest, "files": [{"path": f"src/{MASK}.txt"}], "reason": f"token = {MASK}"}

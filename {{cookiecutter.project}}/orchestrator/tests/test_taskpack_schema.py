"""The taskpack/v1 schema: documented, defaulted, and the loader's data matches what it promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conftest import ROOT, write_pack
from orchestrator.errors import BadInput
from orchestrator.schemas import HERE, load
from orchestrator.taskpack import find_task_ids, load_taskpack
from tools.schemadoc import render

LIMIT_DEFAULTS = {
    "wall_seconds": 600,
    "phase_wall_seconds": 300,
    "max_attempts": 1,
    "max_repeated_failures": 2,
    "max_changed_files": 50,
    "max_diff_lines": 2000,
    "max_change_bytes": 16777216,
    "max_output_bytes": 1048576,
    "max_turns": 20,
    "max_commands": 100,
    "max_tokens": 200000,
    "max_processes": 256,
    "max_memory_mb": 4096,
}


def fields(schema: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every named field of the schema, with its dotted path."""
    out: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(schema, dict):
        return out
    for name, sub in schema.get("properties", {}).items():
        if isinstance(sub, dict):
            out.append((f"{path}{name}", sub))
            out.extend(fields(sub, f"{path}{name}."))
            out.extend(fields(sub.get("items"), f"{path}{name}[]."))
    return out


def test_schema_is_a_valid_2020_12_schema_with_a_versioned_id() -> None:
    schema = load("taskpack.v1.json")
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == "taskpack/v1"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_field_is_described() -> None:
    undocumented = [path for path, sub in fields(load("taskpack.v1.json")) if not sub.get("description")]
    assert undocumented == []


def test_the_design_field_names_are_all_present() -> None:
    names = {path for path, _ in fields(load("taskpack.v1.json"))}
    expected = {
        "schema",
        "id",
        "title",
        "objective",
        "solution",
        "executor",
        "executor.kind",
        "executor.commands",
        "executor.prompt",
        "executor.model",
        "executor.argv",
        "scope",
        "scope.allowed_paths",
        "acceptance",
        "acceptance[].id",
        "acceptance[].run",
        "acceptance[].expect_exit",
        "safety",
        "safety.network",
        "safety.network.hosts",
        "safety.cloud",
        "safety.cloud.providers",
        "safety.secrets",
        "limits",
        "limits.wall_seconds",
        "limits.max_attempts",
        "limits.max_changed_files",
        "limits.max_diff_lines",
        "limits.max_output_bytes",
        "plugin",
    }
    assert expected <= names


def test_limit_defaults_live_in_the_schema() -> None:
    limits = load("taskpack.v1.json")["properties"]["limits"]["properties"]
    assert {name: sub["default"] for name, sub in limits.items()} == LIMIT_DEFAULTS
    assert all(sub["type"] == "integer" and sub["minimum"] == 1 for sub in limits.values())


def test_secrets_accepts_only_forbidden() -> None:
    assert load("taskpack.v1.json")["properties"]["safety"]["properties"]["secrets"]["const"] == "forbidden"


def test_every_object_refuses_unknown_keys() -> None:
    objects = [
        (p, s) for p, s in fields(load("taskpack.v1.json")) if "properties" in s and p != "plugin.options"
    ]
    assert objects
    assert [p for p, s in objects if s.get("additionalProperties") is not False] == []


def test_reference_page_is_the_one_generated_from_the_schema() -> None:
    committed = (HERE / "taskpack.v1.md").read_text(encoding="utf-8")
    assert committed == render(load("taskpack.v1.json")), "run: python -m tools.schemadoc"


def test_reference_page_lists_every_field() -> None:
    page = render(load("taskpack.v1.json"))
    missing = [path for path, _ in fields(load("taskpack.v1.json")) if f"`{path}`" not in page]
    assert missing == []


def test_defaults_are_applied_to_a_minimal_pack(tmp_path: Path) -> None:
    write_pack(tmp_path, "minimal", commit=False)
    pack = load_taskpack(tmp_path, "minimal")
    assert pack.limits == LIMIT_DEFAULTS
    assert pack.safety == {"network": {"hosts": []}, "cloud": {"providers": []}, "secrets": "forbidden"}
    assert pack.acceptance[0]["expect_exit"] == 0
    assert pack.data["solution"] == "generic"
    assert pack.scope["forbidden_paths"] == []
    assert pack.plugin_name is None and pack.plugin_options == {} and pack.context == []


def test_declared_values_win_over_defaults(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        "declared",
        commit=False,
        limits={"wall_seconds": 30},
        acceptance=[{"id": "a", "run": "false", "expect_exit": 1}],
    )
    pack = load_taskpack(tmp_path, "declared")
    assert pack.limits["wall_seconds"] == 30 and pack.limits["max_attempts"] == 1
    assert pack.acceptance[0]["expect_exit"] == 1


def test_command_executor_defaults_prompt_via_stdin_but_shell_gets_no_such_key(tmp_path: Path) -> None:
    write_pack(tmp_path, "agent", commit=False, executor={"kind": "command", "argv": ["my-agent"]})
    write_pack(tmp_path, "plain", commit=False)
    assert load_taskpack(tmp_path, "agent").executor["prompt_via"] == "stdin"
    assert "prompt_via" not in load_taskpack(tmp_path, "plain").executor


def test_plugin_as_a_name_or_a_mapping(tmp_path: Path) -> None:
    write_pack(tmp_path, "named", commit=False, plugin="security")
    write_pack(tmp_path, "mapped", commit=False, plugin={"name": "web", "options": {"pages": ["index.html"]}})
    named, mapped = load_taskpack(tmp_path, "named"), load_taskpack(tmp_path, "mapped")
    assert (named.plugin_name, named.plugin_options) == ("security", {})
    assert (mapped.plugin_name, mapped.plugin_options) == ("web", {"pages": ["index.html"]})


def test_a_plugin_that_is_not_installed_still_validates(tmp_path: Path) -> None:
    write_pack(tmp_path, "ghost", commit=False, plugin="no-such-solution")
    assert load_taskpack(tmp_path, "ghost").plugin_name == "no-such-solution"


def test_codex_pack_with_provider_is_valid(tmp_path: Path) -> None:
    provider = {"name": "local", "base_url": "http://127.0.0.1:8080/v1", "env_key": "LOCAL_API_KEY"}
    write_pack(
        tmp_path,
        "agentic",
        commit=False,
        executor={
            "kind": "codex",
            "model": "gpt-5.5",
            "prompt": "{{ task.objective }}",
            "provider": provider,
        },
    )
    pack = load_taskpack(tmp_path, "agentic")
    assert pack.executor["provider"]["wire_api"] == "responses"


def test_context_files_that_exist_are_accepted(tmp_path: Path) -> None:
    notes = tmp_path / "taskpacks" / "cited" / "notes.md"
    notes.parent.mkdir(parents=True)
    notes.write_text("background\n", encoding="utf-8")
    write_pack(tmp_path, "cited", commit=False, context=["taskpacks/cited/notes.md"])
    assert load_taskpack(tmp_path, "cited").context == ["taskpacks/cited/notes.md"]


def test_context_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("secret\n", encoding="utf-8")
    repo = tmp_path / "repo"
    (repo / "taskpacks").mkdir(parents=True)
    (repo / "link.md").symlink_to(outside)
    write_pack(repo, "sneaky", commit=False, context=["link.md"])
    with pytest.raises(BadInput) as caught:
        load_taskpack(repo, "sneaky")
    assert "outside the repository" in str(caught.value)


def test_prompt_with_broken_jinja_is_reported(tmp_path: Path) -> None:
    write_pack(tmp_path, "jinja", commit=False, executor={"kind": "codex", "prompt": "{{ task.objective "})
    with pytest.raises(BadInput) as caught:
        load_taskpack(tmp_path, "jinja")
    assert "executor.prompt" in str(caught.value)


def test_prompt_via_arg_needs_a_placeholder(tmp_path: Path) -> None:
    write_pack(
        tmp_path, "noarg", commit=False, executor={"kind": "command", "argv": ["agent"], "prompt_via": "arg"}
    )
    with pytest.raises(BadInput) as caught:
        load_taskpack(tmp_path, "noarg")
    assert "{prompt}" in str(caught.value)


def test_anchors_and_aliases_within_limits_are_expanded(tmp_path: Path) -> None:
    path = tmp_path / "taskpacks" / "anchored" / "task.yml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "schema: taskpack/v1\nid: anchored\ntitle: t\nobjective: o\n"
        "executor: {kind: shell, commands: &cmds [make]}\n"
        "scope: {allowed_paths: &paths [src/**], forbidden_paths: [src/vendor/**]}\n"
        "acceptance: [{id: a, run: make check}]\ncontext: []\n"
        "plugin: {name: security, options: {paths: *paths, also: *cmds}}\n",
        encoding="utf-8",
    )
    pack = load_taskpack(tmp_path, "anchored")
    assert pack.plugin_options == {"paths": ["src/**"], "also": ["make"]}


def test_pack_sha256_pins_the_file_bytes(tmp_path: Path) -> None:
    import hashlib

    path = write_pack(tmp_path, "pinned", commit=False)
    assert load_taskpack(tmp_path, "pinned").sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_refs_may_be_an_id_a_directory_or_a_file(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "ref-forms", commit=False)
    by_id = load_taskpack(tmp_path, "ref-forms")
    assert load_taskpack(tmp_path, str(path.parent)) == by_id
    assert load_taskpack(tmp_path, str(path)) == by_id
    assert load_taskpack(tmp_path, "taskpacks/ref-forms") == by_id


def test_the_repository_packs_all_load() -> None:
    ids = find_task_ids(ROOT)
    assert {"add-slugify", "broken-acceptance"} <= set(ids)
    for task_id in ids:
        assert load_taskpack(ROOT, task_id).id == task_id

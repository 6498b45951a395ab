"""The codex executor: the real Codex CLI (`codex exec --json`) working in the run's workspace.

Codex must reach its model endpoint, so it cannot live in the sandbox's empty
network namespace; instead it is started with an allowlisted environment (the
provider key is the only secret, and codex never hands it to the commands it
runs), a private HOME/CODEX_HOME/TMPDIR, and its own sandbox (workspace-write,
network only when the pack declares hosts) around every command it runs.

The `--json` event stream is read line by line as it arrives, so the turn,
command and token breakers act while codex runs. Exit 0 is not enough: without
a `turn.completed` event and a last-message file the attempt failed.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from orchestrator.breakers import check_agent
from orchestrator.config import find_repo
from orchestrator.errors import BadInput
from orchestrator.executors import AttemptResult, render_prompt
from orchestrator.fsio import atomic_write_text
from orchestrator.phaselog import PhaseLog
from orchestrator.redact import Redactor
from orchestrator.runs import Run
from orchestrator.sandbox import kill_group
from orchestrator.workspace import scratch_dir, spec_for

PINNED = "0.169.0"
"""The @openai/codex release this executor is tested against (tests install exactly this one)."""
DEFAULT_MODEL = "gpt-5.5"
"""A name in codex's built-in catalog, so it offers apply_patch and warns about no missing metadata."""
DEFAULT_PROVIDER = "orchestrator"
EVIDENCE = "codex"
STDERR_KEEP = 64 * 1024
ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*$")
BASE_URL = re.compile(r"^https?://\S+$")
BUILTIN_KEYS = ("CODEX_API_KEY", "OPENAI_API_KEY")
"""Key variables codex's built-in OpenAI provider reads, passed through when no provider is configured."""


@dataclass(frozen=True)
class Provider:
    """The model provider codex talks to; `base_url=None` means codex's built-in one."""

    name: str
    base_url: str | None = None
    env_key: str | None = None
    wire_api: str = "responses"


# --- configuration (pure) -------------------------------------------------------------------------


def find_binary(environ: Mapping[str, str] | None = None, repo: Path | None = None) -> str:
    """ORCH_CODEX_BIN, else `codex` on PATH, else the repo's pinned install under .tools/."""
    env = os.environ if environ is None else environ
    explicit = env.get("ORCH_CODEX_BIN")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise BadInput(f"ORCH_CODEX_BIN={explicit}: not an executable file; point it at the codex binary")
        return str(Path(explicit).absolute())  # codex starts in the workspace: a relative path would break
    found = shutil.which("codex", path=env.get("PATH"))
    if found:
        return found
    if repo is not None:
        local = repo / ".tools" / "node_modules" / ".bin" / "codex"
        if local.is_file() and os.access(local, os.X_OK):
            return str(local)
    raise BadInput(
        "the codex executor needs the Codex CLI, and none was found: install it with "
        f"`npm install --prefix .tools @openai/codex@{PINNED}` and set ORCH_CODEX_BIN=.tools/node_modules/.bin/codex "
        "(or put `codex` on PATH)"
    )


def model_for(executor: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The environment wins over the pack: the operator decides where a run's tokens go."""
    return environ.get("ORCH_CODEX_MODEL") or str(executor.get("model") or DEFAULT_MODEL)


def provider_for(executor: Mapping[str, Any], environ: Mapping[str, str]) -> Provider:
    declared = executor.get("provider") or {}
    base_url = environ.get("ORCH_CODEX_BASE_URL") or declared.get("base_url")
    env_key = environ.get("ORCH_CODEX_ENV_KEY") or declared.get("env_key")
    if base_url and not BASE_URL.match(base_url):
        raise BadInput(f"codex provider base_url {base_url!r} is not an http(s) URL (set ORCH_CODEX_BASE_URL or "
                       "executor.provider.base_url to e.g. http://127.0.0.1:8080/v1)")
    if env_key and not ENV_KEY.match(env_key):
        raise BadInput(f"codex provider env_key {env_key!r} must be the NAME of a variable (A-Z, 0-9, _), "
                       "never the key itself")
    name = str(declared.get("name") or DEFAULT_PROVIDER)
    if not base_url and not declared:
        return Provider(name="openai", base_url=None, env_key=env_key)
    return Provider(name=name, base_url=base_url or None, env_key=env_key,
                    wire_api=str(declared.get("wire_api") or "responses"))


def provider_args(provider: Provider) -> list[str]:
    """`-c` overrides that select (and, for a custom endpoint, define) the provider.

    Retries are off: a failing endpoint fails the attempt at once, and the
    orchestrator's own attempts and breakers decide what happens next.
    """
    if provider.base_url is None:
        return ["-c", f"model_provider={_toml(provider.name)}"]
    table = {
        "name": provider.name,
        "base_url": provider.base_url,
        "wire_api": provider.wire_api,
        **({"env_key": provider.env_key} if provider.env_key else {}),
    }
    body = ", ".join(f"{k}={_toml(v)}" for k, v in table.items())
    body += ", request_max_retries=0, stream_max_retries=0, supports_websockets=false"
    return ["-c", f"model_provider={_toml(provider.name)}", "-c", f"model_providers.{provider.name}={{{body}}}"]


def hardening_args(network: bool, private_tmp: Path) -> list[str]:
    """Flags that make codex fail closed and keep its commands inside the workspace.

    /tmp and $TMPDIR are excluded from the writable set; the run's private tmp is
    added back explicitly, so tools that need a temp dir (pytest) still work.
    """
    return [
        "--strict-config",
        "--ephemeral",
        "--skip-git-repo-check",
        "-s", "workspace-write",
        "-c", "shell_environment_policy.inherit=core",
        "-c", "shell_environment_policy.ignore_default_excludes=false",
        "-c", "sandbox_workspace_write.exclude_slash_tmp=true",
        "-c", "sandbox_workspace_write.exclude_tmpdir_env_var=true",
        "-c", f"sandbox_workspace_write.writable_roots=[{_toml(str(private_tmp))}]",
        "-c", f"sandbox_workspace_write.network_access={'true' if network else 'false'}",
        "-c", "check_for_update_on_startup=false",
        "-c", "analytics.enabled=false",
        "-c", "feedback.enabled=false",
        "--disable", "plugins",
        "--disable", "unbounded_connection_retries",
    ]


def build_argv(binary: str, workspace: Path, model: str, provider: Provider, *, network: bool,
               private_tmp: Path, last_message: Path, prompt: str) -> list[str]:
    return [
        binary, "exec", "--json",
        *hardening_args(network, private_tmp),
        "-C", str(workspace),
        "-m", model,
        *provider_args(provider),
        "-o", str(last_message),
        "--", prompt,
    ]


def codex_env(scratch: Path, binary: str, provider: Provider, environ: Mapping[str, str]) -> dict[str, str]:
    """Allowlist only: PATH, private HOME/CODEX_HOME/TMPDIR, LANG, and the provider key variable."""
    paths = [str(Path(binary).parent), str(Path(sys.executable).parent)]
    node = shutil.which("node", path=environ.get("PATH"))
    if node:
        paths.append(str(Path(node).parent))
    paths += ["/usr/local/bin", "/usr/bin", "/bin"]
    env = {
        "PATH": os.pathsep.join(dict.fromkeys(paths)),
        "HOME": str(scratch / "home"),
        "CODEX_HOME": str(scratch / "codex-home"),
        "TMPDIR": str(scratch / "tmp"),
        "LANG": environ.get("LANG") or "C.UTF-8",
    }
    keys = [provider.env_key] if provider.env_key else ([] if provider.base_url else list(BUILTIN_KEYS))
    for name in keys:
        if name in environ:
            env[name] = environ[name]
    if provider.env_key and provider.env_key not in environ:
        raise BadInput(f"codex provider key variable {provider.env_key} is not set; export it with the API key "
                       "(its value goes to codex only, never to the commands it runs)")
    return env


def _toml(value: str) -> str:
    return json.dumps(value)


@cache
def _version_of(binary: str) -> str:
    try:
        proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({type(exc).__name__})"
    text = proc.stdout.strip().splitlines()
    return text[0] if proc.returncode == 0 and text else "unknown"


def version(repo: Path | None = None) -> str:
    """`codex --version` of the binary a run would use (e.g. `codex-cli 0.169.0`)."""
    if repo is None:
        try:
            repo = find_repo()
        except BadInput:
            repo = None
    return _version_of(find_binary(repo=repo))


# --- the event stream (pure) ----------------------------------------------------------------------


@dataclass
class Usage:
    """What one attempt consumed, from its `--json` events."""

    turns: int = 0
    commands: int = 0
    file_changes: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    turn_completed: bool = False
    errors: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    activity: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def feed(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        item = event.get("item") if isinstance(event.get("item"), dict) else {}
        if kind == "turn.started":
            self.turns += 1
        elif kind in ("item.started", "item.completed") and item.get("type") == "command_execution":
            if item.get("id") not in self._seen:
                self._seen.add(str(item.get("id")))
                self.commands += 1
            if kind == "item.completed":
                self.activity.append(f"command `{item.get('command', '')}` exited {item.get('exit_code')}")
        elif kind == "item.completed" and item.get("type") == "file_change":
            self.file_changes += 1
            for change in item.get("changes", []):
                self.activity.append(f"file {change.get('kind', 'change')}: {change.get('path', '')}")
        elif kind == "item.completed" and item.get("type") == "agent_message":
            self.messages.append(str(item.get("text", "")))
        elif kind == "item.completed" and item.get("type") == "error":
            self.errors.append(str(item.get("message", "")))
        elif kind == "turn.completed":
            self.turn_completed = True
            usage = event.get("usage") or {}
            self.input_tokens += int(usage.get("input_tokens", 0))
            self.cached_input_tokens += int(usage.get("cached_input_tokens", 0))
            self.output_tokens += int(usage.get("output_tokens", 0))
            self.total_tokens += int(usage.get("total_tokens", 0)) or (
                int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0)))
        elif kind == "error":
            self.errors.append(str(event.get("message", "")))
        elif kind == "turn.failed":
            error = event.get("error") or {}
            self.errors.append(str(error.get("message", "") if isinstance(error, dict) else error))

    def counters(self) -> dict[str, int]:
        return {
            "turns": self.turns,
            "commands": self.commands,
            "file_changes": self.file_changes,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }


def check_breakers(before: Mapping[str, int], now: Usage, limits: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """The first agent limit the run (earlier attempts included) has gone past, if any."""
    trip = check_agent(summed(before, now), limits)
    return (trip.name, int(trip.limit), int(trip.measured)) if trip else None


def summed(before: Mapping[str, int], now: Usage) -> dict[str, int]:
    counters = now.counters()
    keys = sorted({*before, *counters})
    return {k: int(before.get(k, 0)) + counters.get(k, 0) for k in keys}


# --- the process (I/O) ----------------------------------------------------------------------------


@dataclass
class Streamed:
    exit_code: int | None
    duration: float
    stderr: str
    output_bytes: int
    breaker: str | None = None
    limit: float = 0
    measured: float = 0


def run_streaming(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    max_output_bytes: int,
    on_line: Callable[[bytes], tuple[str, float, float] | None],
) -> Streamed:
    """Runs argv without network isolation, in its own process group, stdin closed.

    Same semantics as sandbox.run (wall time and output breakers kill the whole
    group), but stdout is handed over line by line as it arrives so the caller's
    breakers act live; `on_line` returns a breaker (name, limit, measured) to stop.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, "out")
    selector.register(proc.stderr, selectors.EVENT_READ, "err")
    pending = b""
    stderr = bytearray()
    total = 0
    breaker: tuple[str, float, float] | None = None
    open_streams = 2
    try:
        while open_streams and breaker is None:
            remaining = timeout - (time.monotonic() - start)
            if remaining <= 0:
                breaker = ("wall_seconds", timeout, round(time.monotonic() - start, 3))
                break
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                data = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not data:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                total += len(data)
                if total > max_output_bytes:
                    breaker = ("max_output_bytes", max_output_bytes, total)
                    break
                if key.data == "err":
                    stderr += data
                    del stderr[:-STDERR_KEEP]
                    continue
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    breaker = breaker or on_line(line)
        if breaker is None and pending:
            breaker = on_line(pending)
        if breaker is None:
            try:
                proc.wait(timeout=max(timeout - (time.monotonic() - start), 0.01))
            except subprocess.TimeoutExpired:
                breaker = ("wall_seconds", timeout, round(time.monotonic() - start, 3))
    finally:
        selector.close()
        kill_group(proc)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    result = Streamed(
        exit_code=None if breaker else proc.returncode,
        duration=round(time.monotonic() - start, 3),
        stderr=stderr.decode("utf-8", "replace"),
        output_bytes=total,
    )
    if breaker:
        result.breaker, result.limit, result.measured = breaker
    return result


# --- the attempt ----------------------------------------------------------------------------------


def execute(run: Run, log: PhaseLog, attempt: int, feedback: str | None) -> AttemptResult:
    environ = os.environ
    executor = run.task.executor
    binary = find_binary(environ, run.repo)
    provider = provider_for(executor, environ)
    model = model_for(executor, environ)
    scratch = scratch_dir(run)
    for sub in ("home", "codex-home", "tmp"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    env = codex_env(scratch, binary, provider, environ)
    redactor = Redactor(sorted({*log.redactor.values, *_secret_values(env, provider)}, key=len, reverse=True))
    spec = spec_for(run)  # the time left of the phase and the run; trips when none is left
    network = bool(run.task.safety.get("network", {}).get("hosts"))
    run.manifest["executor"]["version"] = _version_of(binary)

    evidence = run.dir / EVIDENCE
    evidence.mkdir(parents=True, exist_ok=True)
    prompt_file = evidence / f"attempt-{attempt}.prompt.md"
    events_file = evidence / f"attempt-{attempt}.events.jsonl"
    last_message = evidence / f"attempt-{attempt}.last_message.md"
    last_message.unlink(missing_ok=True)
    prompt = render_prompt(run, attempt, feedback)
    atomic_write_text(prompt_file, redactor.redact(prompt))
    argv = build_argv(binary, run.workspace, model, provider, network=network, private_tmp=scratch / "tmp",
                      last_message=last_message, prompt=prompt)

    before = dict(run.manifest["executor"].get("usage") or {})
    usage = Usage()
    lines: list[str] = []

    def on_line(raw: bytes) -> tuple[str, float, float] | None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return None
        lines.append(redactor.redact(text))
        try:
            event = json.loads(text)
        except ValueError:
            return None
        if isinstance(event, dict):
            usage.feed(event)
        return check_breakers(before, usage, run.task.limits)

    try:
        streamed = run_streaming(argv, env=env, cwd=run.workspace, timeout=spec.wall_seconds,
                                 max_output_bytes=spec.max_output_bytes, on_line=on_line)
    finally:
        atomic_write_text(events_file, "".join(f"{line}\n" for line in lines))
    has_message = last_message.is_file() and last_message.stat().st_size > 0
    if last_message.is_file():
        atomic_write_text(last_message, redactor.redact(last_message.read_text(encoding="utf-8", errors="replace")))

    record = run.manifest["executor"]
    record["usage"] = summed(before, usage)
    record["health"] = {"turn_completed": usage.turn_completed, "last_message": has_message}
    outputs = [p for p in (prompt_file, events_file, last_message) if p.is_file()]

    result = _judge(streamed, usage, has_message, outputs)
    shown = [Path(binary).name, *(f"<prompt: {run.rel(prompt_file)}>" if a == prompt else a for a in argv[1:])]
    log.command(
        shlex.join(shown), streamed.exit_code, streamed.duration, _log_text(usage, streamed, run.workspace),
        streamed.output_bytes,
        note=f"attempt {attempt}; {result.reason}",
    )
    return result


def _judge(streamed: Streamed, usage: Usage, has_message: bool, outputs: list[Path]) -> AttemptResult:
    if streamed.breaker:
        return AttemptResult(
            False, f"codex stopped: breaker {streamed.breaker} tripped (measured {streamed.measured} > limit "
            f"{streamed.limit})", None, streamed.breaker, streamed.limit, streamed.measured, outputs)
    error = next((e for e in reversed(usage.errors) if e), "") or _last_line(streamed.stderr)
    if streamed.exit_code != 0:
        return AttemptResult(False, f"codex exited {streamed.exit_code}: {error or 'no error message'}",
                             streamed.exit_code, outputs=outputs, failure_key=("codex", streamed.exit_code, error))
    if not usage.turn_completed:
        return AttemptResult(False, "codex exited 0 without a turn.completed event" + (f": {error}" if error else ""),
                             0, outputs=outputs, failure_key=("codex", 0, "no turn.completed"))
    if not has_message:
        return AttemptResult(False, "codex exited 0 without writing its last message (-o file missing or empty)",
                             0, outputs=outputs, failure_key=("codex", 0, "no last message"))
    return AttemptResult(True, "codex completed its turn", 0, outputs=outputs)


def _log_text(usage: Usage, streamed: Streamed, workspace: Path) -> str:
    prefix = f"{workspace}/"
    parts = [line.replace(prefix, "") for line in usage.activity]
    parts += [f"agent: {m}" for m in usage.messages[-1:]]
    parts += [f"error: {e}" for e in usage.errors if e]
    parts.append("usage: " + ", ".join(f"{k}={v}" for k, v in usage.counters().items()))
    if streamed.stderr.strip():
        parts += ["stderr:", streamed.stderr.rstrip()]
    return "\n".join(parts)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _secret_values(env: Mapping[str, str], provider: Provider) -> list[str]:
    names = [provider.env_key] if provider.env_key else list(BUILTIN_KEYS)
    return [env[n] for n in names if env.get(n)]

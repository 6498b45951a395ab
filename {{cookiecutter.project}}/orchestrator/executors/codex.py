"""The codex executor: the real Codex CLI (`codex exec --json`), inside the run's jail.

Codex itself runs in the same sandbox as the shell executor (`sandbox.run`), with the
same visibility and limits; its own sandbox is off (`--sandbox danger-full-access`)
because ours forbids the user namespaces codex's bubblewrap needs, and ours holds for
codex and every command it runs. Codex's install directory is readable, its HOME,
CODEX_HOME and TMPDIR are in the run's private scratch, and stdin is closed.

The model key never enters the jail. A host-side model proxy (`orchestrator.modelproxy`)
holds it and forwards codex's turns to the one declared endpoint; codex is pointed at
`http://127.0.0.1:<MODEL_PORT>/v1`, a port forwarded to that proxy's unix socket, with
no key in its environment. A missing key is refused (exit 2) before codex starts.

The `--json` event stream is read line by line as it arrives (`sandbox.run`'s line
hook): the turn, command and token breakers act while codex runs, and each command,
file change and finished turn is shown live. Exit 0 is not enough: without a
`turn.completed` event and a last-message file the attempt failed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from orchestrator.config import find_repo
from orchestrator.errors import BadInput, Tripped
from orchestrator.executors import AttemptResult, render_prompt
from orchestrator.executors.codex_config import (
    build_argv,
    model_for,
    model_key,
    provider_for,
)
from orchestrator.executors.codex_events import (
    Usage,
    check_breakers,
    live_summary,
    summed,
)
from orchestrator.fsio import atomic_write_text
from orchestrator.model import Access, ModelProxyRecord, ProxyRefusal
from orchestrator.modelproxy import ModelProxy
from orchestrator.phaselog import PhaseLog
from orchestrator.recording import record_execution
from orchestrator.redact import Redactor
from orchestrator.runs import Run
from orchestrator.sandbox import Execution, Forward
from orchestrator.sandbox import run as sandboxed
from orchestrator.workspace import scratch_dir, spec_for

PINNED = "0.169.0"
"""The @openai/codex release this executor is tested against (tests install exactly this one)."""
MODEL_PORT = 3129
"""The jail-side loopback port forwarded to the model proxy (the egress proxy has 3128)."""
EVIDENCE = "codex"
LAST_MESSAGE_CAP = 1024 * 1024


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
        f"`npm install --prefix .tools @openai/codex@{PINNED}` and set "
        "ORCH_CODEX_BIN=.tools/node_modules/.bin/codex "
        "(or put `codex` on PATH)"
    )


def install_dir(binary: str) -> Path:
    """What the jail must be able to read to run codex: the `node_modules` it is installed in
    (the launcher script and its platform binary), or the directory of a standalone binary."""
    real = Path(binary).resolve()
    modules = [p for p in real.parents if p.name == "node_modules"]
    return modules[-1] if modules else real.parent


@cache
def _version_of(binary: str) -> str:
    """`codex-cli <version>` from the package that ships the binary: nothing is run to ask."""
    real = Path(binary).resolve()
    for parent in real.parents:
        manifest = parent / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                break
            if data.get("name") == "@openai/codex" and isinstance(data.get("version"), str):
                return f"codex-cli {data['version']}"
            break
    return "unknown (not an @openai/codex package install)"


def version(repo: Path | None = None) -> str:
    """The version of the codex a run would use (e.g. `codex-cli 0.169.0`)."""
    if repo is None:
        try:
            repo = find_repo()
        except BadInput:
            repo = None
    return _version_of(find_binary(repo=repo))


# --- the attempt (I/O) ----------------------------------------------------------------------------


@dataclass
class Stream:
    """What the line hook collected: events (redacted JSON lines) and codex's other output."""

    usage: Usage = field(default_factory=Usage)
    events: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


def read_jail_file(path: Path, cap: int = LAST_MESSAGE_CAP) -> str | None:
    """A file the jail wrote, read without following a link it planted: a regular file with one
    link, at most `cap` bytes; None otherwise (a symlink to a host file is never read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > cap:
            return None
        return handle.read(cap).decode("utf-8", "replace")


def execute(run: Run, log: PhaseLog, attempt: int, feedback: str | None) -> AttemptResult:
    environ = os.environ
    executor = run.task.executor
    binary = find_binary(environ, run.repo)
    provider = provider_for(executor, environ)
    _, key = model_key(provider, environ)  # refused here, before codex starts
    model = model_for(executor, environ)
    scratch = scratch_dir(run)
    codex_home = scratch / "codex-home"
    codex_home.mkdir(parents=True, exist_ok=True)
    redactor = Redactor(sorted({*log.redactor.values, key}, key=len, reverse=True))
    run.record.executor(version=_version_of(binary))

    evidence = run.dir / EVIDENCE
    evidence.mkdir(parents=True, exist_ok=True)
    prompt_file = evidence / f"attempt-{attempt}.prompt.md"
    events_file = evidence / f"attempt-{attempt}.events.jsonl"
    last_message = evidence / f"attempt-{attempt}.last_message.md"
    last_message.unlink(missing_ok=True)
    jail_message = scratch / f"codex-last-message-{attempt}.md"  # written inside the jail, read with care
    jail_message.unlink(missing_ok=True)
    prompt = render_prompt(run, attempt, feedback)
    atomic_write_text(prompt_file, redactor.redact(prompt))
    argv = build_argv(
        binary,
        run.workspace,
        model,
        port=MODEL_PORT,
        wire_api=provider.wire_api,
        last_message=jail_message,
        prompt=prompt,
    )

    before = dict(run.manifest.executor.usage or {})
    stream = Stream()

    def on_line(line: str) -> None:
        text = line.rstrip("\r")
        if not text.strip():
            return
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            stream.other.append(redactor.redact(text))
            return
        stream.events.append(redactor.redact(text))
        stream.usage.feed(event)
        if summary := live_summary(event, run.workspace):
            log.live(redactor.redact(summary))
        if trip := check_breakers(before, stream.usage, run.task.limits):
            raise Tripped(*trip)

    spec = spec_for(run, {"CODEX_HOME": str(codex_home)})  # the time left; trips when none is left
    socket_dir = Path(tempfile.mkdtemp(prefix="orch-model-"))
    proxy = ModelProxy(socket_dir / "s", provider.upstream, key)
    spec = replace(
        spec,
        read_paths=(*spec.read_paths, install_dir(binary)),
        forwards=(*spec.forwards, Forward(MODEL_PORT, proxy.socket_path)),
    )
    try:
        with proxy:
            execution = sandboxed(argv, spec, cwd=run.workspace, on_line=on_line)
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
        atomic_write_text(events_file, "".join(f"{line}\n" for line in stream.events))
    record_execution(run, log, "execute", execution)
    _record_refused(run, log, proxy)
    message = read_jail_file(jail_message)
    jail_message.unlink(missing_ok=True)
    has_message = bool(message and message.strip())
    if message is not None:
        atomic_write_text(last_message, redactor.redact(message))

    earlier = run.manifest.executor.model_proxy or ModelProxyRecord()
    run.record.executor(
        usage=summed(before, stream.usage),
        health={"turn_completed": stream.usage.turn_completed, "last_message": has_message},
        model_proxy=ModelProxyRecord(  # over all attempts of the run
            endpoint=provider.upstream,
            forwarded=(earlier.forwarded or 0) + len(proxy.forwarded),
            refused=[
                *(earlier.refused or []),
                *(ProxyRefusal(r["target"], r["reason"]) for r in proxy.refused),
            ],
            dropped=(earlier.dropped or 0) + proxy.dropped,
        ),
    )
    outputs = [p for p in (prompt_file, events_file, last_message) if p.is_file()]

    stderr = "\n".join(stream.other)
    result = _judge(execution, stream.usage, has_message, outputs, stderr)
    shown = [
        Path(binary).name,
        *(f"<prompt: {run.rel(prompt_file)}>" if a == prompt else a for a in argv[4:]),
    ]
    log.command(
        shlex.join(shown),
        execution.exit_code,
        execution.duration,
        _log_text(stream.usage, stderr, run.workspace),
        execution.output_bytes,
        note=f"attempt {attempt}; in the jail; model proxy forwarded {len(proxy.forwarded)} request(s); "
        f"{result.reason}",
    )
    return result


def _judge(
    execution: Execution, usage: Usage, has_message: bool, outputs: list[Path], stderr: str = ""
) -> AttemptResult:
    if execution.breaker:
        return AttemptResult(
            False,
            f"codex stopped: breaker {execution.breaker} tripped (measured {execution.measured} > limit "
            f"{execution.limit})",
            None,
            execution.breaker,
            execution.limit,
            execution.measured,
            outputs,
        )
    error = next((e for e in reversed(usage.errors) if e), "") or _last_line(stderr)
    if execution.exit_code != 0:
        return AttemptResult(
            False,
            f"codex exited {execution.exit_code}: {error or 'no error message'}",
            execution.exit_code,
            outputs=outputs,
            failure_key=("codex", execution.exit_code, error),
        )
    if not usage.turn_completed:
        return AttemptResult(
            False,
            "codex exited 0 without a turn.completed event" + (f": {error}" if error else ""),
            0,
            outputs=outputs,
            failure_key=("codex", 0, "no turn.completed"),
        )
    if not has_message:
        return AttemptResult(
            False,
            "codex exited 0 without writing its last message (-o file missing or empty)",
            0,
            outputs=outputs,
            failure_key=("codex", 0, "no last message"),
        )
    return AttemptResult(True, "codex completed its turn", 0, outputs=outputs)


def _record_refused(run: Run, log: PhaseLog, proxy: ModelProxy) -> None:
    """What the model proxy refused is a denial like any other: codex itself only asks for model turns."""
    for item in proxy.refused:
        run.record.deny(Access("model", item["target"], "execute"))
        log.note(f"denied model: {item['target']} ({item['reason']})")


def _log_text(usage: Usage, stderr: str, workspace: Path) -> str:
    prefix = f"{workspace}/"
    parts = [line.replace(prefix, "") for line in usage.activity]
    parts += [f"agent: {m}" for m in usage.messages[-1:]]
    parts += [f"error: {e}" for e in usage.errors if e]
    parts.append("usage: " + ", ".join(f"{k}={v}" for k, v in usage.counters().items()))
    if stderr.strip():
        parts += ["other output:", stderr.rstrip()]
    return "\n".join(parts)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""

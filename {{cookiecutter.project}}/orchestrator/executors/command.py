"""The command executor: any other agent CLI, started from the pack's argv template, in the jail.

It runs exactly like an acceptance check (`sandbox.run`): the same jail, the same
allowlisted environment, network only to the pack's declared hosts through the
egress proxy. Its output is shown live, line by line. The prompt is rendered from
the same template as codex's and given on stdin or as an argument (`{prompt}`).

It gets no model key and no model proxy. The model proxy injects a key for one
API (the Responses API codex speaks, on fixed paths); handing an arbitrary CLI a
proxy that signs whatever it sends would make the key usable for anything that
endpoint offers, and every vendor's API differs in paths and auth headers. An agent
CLI that needs a model reaches a keyless endpoint the pack declares in
`safety.network.hosts` (e.g. a local model server at `127.0.0.1:11434`); a model
that needs a key is driven through the codex executor, whose key stays outside.
"""

from __future__ import annotations

import shlex

from orchestrator.executors import AttemptResult, render_prompt
from orchestrator.fsio import atomic_write_text, sha256_bytes
from orchestrator.phaselog import PhaseLog
from orchestrator.recording import record_execution
from orchestrator.runs import Run
from orchestrator.sandbox import run as sandboxed
from orchestrator.workspace import spec_for

PLACEHOLDER = "{prompt}"
EVIDENCE = "command"


def build_argv(template: list[str], prompt: str, prompt_via: str) -> list[str]:
    """Substitutes `{prompt}` in argv (prompt_via=arg); with stdin the argv is used as written."""
    if prompt_via == "arg":
        return [arg.replace(PLACEHOLDER, prompt) for arg in template]
    return list(template)


def version() -> str:
    """The agent's own version is not asked for: running it outside the sandbox just to ask is not
    worth it."""
    return "unknown"


def execute(run: Run, log: PhaseLog, attempt: int, feedback: str | None) -> AttemptResult:
    executor = run.task.executor
    prompt_via = executor.get("prompt_via", "stdin")
    prompt = render_prompt(run, attempt, feedback)
    evidence = run.dir / EVIDENCE
    prompt_file = evidence / f"attempt-{attempt}.prompt.md"
    output_file = evidence / f"attempt-{attempt}.output.log"
    atomic_write_text(prompt_file, log.redactor.redact(prompt))
    argv = build_argv(list(executor["argv"]), prompt, prompt_via)
    env = {"ORCH_ATTEMPT": str(attempt), "ORCH_TASK_ID": run.task.id}
    result = sandboxed(
        argv,
        spec_for(run, env),
        cwd=run.workspace,
        stdin=prompt.encode("utf-8") if prompt_via == "stdin" else None,
        on_line=lambda line: log.live(line) if line.strip() else None,
    )
    atomic_write_text(output_file, log.redactor.redact(result.output))
    shown = [a.replace(prompt, f"<prompt: {run.rel(prompt_file)}>") for a in argv]
    log.command(
        shlex.join(shown),
        result.exit_code,
        result.duration,
        result.output,
        result.output_bytes,
        note=f"attempt {attempt}; prompt via {prompt_via}",
    )
    record_execution(run, log, "execute", result)
    outputs = [prompt_file, output_file]
    usage = dict(run.manifest.executor.usage or {})
    run.record.executor(usage={**usage, "commands": int(usage.get("commands", 0)) + 1})
    if result.breaker:
        return AttemptResult(
            False,
            f"`{shown[0]}` tripped {result.breaker}",
            None,
            result.breaker,
            result.limit,
            result.measured,
            outputs,
        )
    if result.exit_code != 0:
        digest = sha256_bytes(result.output.encode("utf-8", "replace"))
        return AttemptResult(
            False,
            f"`{shown[0]}` exited {result.exit_code}",
            result.exit_code,
            outputs=outputs,
            failure_key=(shown[0], result.exit_code, digest),
        )
    return AttemptResult(True, f"`{shown[0]}` exited 0", 0, outputs=outputs)

"""The one runner for every execution-plane process: executor commands, acceptance, plugins.

Each process runs under `unshare --user --map-root-user --net --mount --pid --fork
--kill-child`, with `sandbox_init` as PID 1 of its namespaces. That gives, by mechanism:

- network: a namespace whose only interface is loopback; the one way out is a unix
  socket to the allowlisting egress proxy (`orchestrator.egress`) this process runs,
  reached through HTTP(S)_PROXY=127.0.0.1:<port>. No DNS, no other route;
- filesystem: a new root where the system, the repository and the interpreter are
  read-only, the workspace and a private scratch (HOME, TMPDIR) are writable, the
  workspace's `.git` file and the cloud-CLI shims are read-only, and /home, /root,
  /run, /tmp are empty: no credential file of the user is reachable;
- environment: built from an allowlist; secret-looking values never cross; cloud
  variables and config dirs cross only for declared providers;
- processes: killing PID 1 kills everything in the namespace, setsid()'d or not; a
  pids cgroup (when writable) or RLIMIT_NPROC inside the user namespace bounds forks;
- breakers: wall time, output bytes and the kill switch are measured here, while
  the process runs, and a trip kills the whole namespace.

Where the namespaces cannot be created the run is refused (errors.Refused) unless the
caller sets `isolate=False` (ORCH_UNSAFE_NO_ISOLATION=1), which the manifest records.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO

from orchestrator.breakers import kill_switch_reason
from orchestrator.egress import EgressProxy, parse_allowlist
from orchestrator.errors import Refused, Tripped
from orchestrator.redact import SECRET_NAME, looks_secret, secret_values

LOG = logging.getLogger("orchestrator.sandbox")

ENV_ALLOWLIST = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "SOURCE_DATE_EPOCH")
"""The only variables taken from the parent environment (plus declared cloud ones)."""

OVERRIDE_HINT = (
    "set ORCH_UNSAFE_NO_ISOLATION=1 to run WITHOUT isolation (recorded as UNSAFE in the manifest, "
    "summary and review); see SECURITY.md"
)
INIT = Path(__file__).with_name("sandbox_init.py")
SETUP_TIMEOUT = 20.0
POLL_SECONDS = 0.1
PROXY_PORT = 3128
INIT_TASKS = 2
"""Tasks of the sandbox's PID 1 (itself and its forwarder thread), on top of limits.max_processes."""

CLOUD_CLIS: dict[str, tuple[str, ...]] = {
    "aws": ("aws", "sam", "cdk", "eksctl", "copilot"),
    "gcp": ("gcloud", "gsutil", "bq", "firebase"),
    "azure": ("az", "azd", "func"),
    "kubernetes": ("kubectl", "helm", "oc", "k9s", "kubectx", "minikube", "kind"),
    "terraform": ("terraform", "tofu", "terragrunt"),
    "pulumi": ("pulumi",),
    "digitalocean": ("doctl",),
    "fly": ("flyctl", "fly"),
    "heroku": ("heroku",),
    "vercel": ("vercel",),
}
"""Cloud CLIs shimmed inside the sandbox, by the provider (safety.cloud.providers) they belong to."""

CLOUD_ENV: dict[str, tuple[str, ...]] = {
    "aws": ("AWS_", "AMAZON_"),
    "gcp": ("GOOGLE_", "GCLOUD_", "CLOUDSDK_", "GCP_", "GCE_", "FIREBASE_"),
    "azure": ("AZURE_", "ARM_", "AZ_"),
    "kubernetes": ("KUBECONFIG", "KUBE_", "HELM_"),
    "terraform": ("TF_", "TFE_"),
    "pulumi": ("PULUMI_",),
    "digitalocean": ("DIGITALOCEAN_", "DO_"),
    "fly": ("FLY_",),
    "heroku": ("HEROKU_",),
    "vercel": ("VERCEL_",),
}
"""Variable prefixes of each provider: they cross into the sandbox only when it is declared."""

CLOUD_CONFIG: dict[str, tuple[str, ...]] = {
    "aws": (".aws",),
    "gcp": (".config/gcloud",),
    "azure": (".azure",),
    "kubernetes": (".kube",),
    "terraform": (".terraform.d",),
    "pulumi": (".pulumi",),
    "digitalocean": (".config/doctl",),
    "fly": (".fly",),
    "heroku": (".config/heroku",),
    "vercel": (".vercel",),
}
"""Config directories under the user's HOME, bound read-only into the private HOME when declared."""


@dataclass(frozen=True)
class Forward:
    """127.0.0.1:<port> inside the jail, connected to the host-side unix socket <socket>."""

    port: int
    socket: Path


LineHook = Callable[[str], None]
"""Called with each complete output line (decoded, without its newline) as it arrives. Raising
`errors.Tripped` from it kills the whole jail and ends the process as tripped by that breaker."""


@dataclass(frozen=True)
class SandboxSpec:
    """How one process may run. Built by the caller from the task pack and settings."""

    workspace: Path
    scratch: Path
    """Private directory for HOME and TMPDIR (inside the run's state, never the user's)."""
    wall_seconds: float
    max_output_bytes: int
    network_hosts: tuple[str, ...] = ()
    cloud_providers: tuple[str, ...] = ()
    isolate: bool = True
    """False only under ORCH_UNSAFE_NO_ISOLATION=1: runs without namespaces, recorded as UNSAFE."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    max_processes: int = 256
    """limits.max_processes: processes (and threads) alive at once inside the sandbox."""
    stop_file: Path | None = None
    """The kill-switch file (.orchestrator/STOP); derived from the workspace path when None."""
    read_paths: tuple[Path, ...] = ()
    """Extra host paths the process may read (e.g. an agent CLI's install dir)."""
    wall_name: str = "wall_seconds"
    """The budget `wall_seconds` is what is left of (wall_seconds or phase_wall_seconds), for the trip record."""
    wall_spent: float = 0.0
    """Seconds of that budget already spent before this process, so a trip reports the budget's own numbers."""
    path_prefix: tuple[Path, ...] = ()
    """Directories put first on PATH (the prepared environment's .venv/bin, node_modules/.bin)."""
    forwards: tuple[Forward, ...] = ()
    """Extra TCP ports on the jail's loopback, each forwarded to a unix socket a host-side service listens on
    (e.g. a model proxy); the egress proxy's own port is added by `run`."""


@dataclass
class Execution:
    """The outcome of one process; `breaker` names a tripped limit (None when none tripped)."""

    argv: list[str]
    exit_code: int | None
    duration: float
    output: str
    output_bytes: int
    breaker: str | None = None
    limit: float = 0
    measured: float = 0
    denied: list[dict[str, str]] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    """`host:port` targets the egress proxy connected to for this process (each once)."""

    @property
    def ok(self) -> bool:
        return self.breaker is None and self.exit_code == 0


# --- environment ------------------------------------------------------------------------


def _cloud_var(name: str) -> str | None:
    """The provider a variable belongs to, if any."""
    for provider, prefixes in CLOUD_ENV.items():
        if any(name == p or name.startswith(p) for p in prefixes):
            return provider
    return None


def sandbox_path(spec: SandboxSpec) -> str:
    return os.pathsep.join(
        [str(shim_dir(spec)), *map(str, spec.path_prefix), str(Path(sys.executable).parent), "/usr/local/bin",
         "/usr/bin", "/bin"]
    )


def build_env(spec: SandboxSpec, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """Allowlist, never denylist: only these names cross, plus what the caller adds.

    Even allowlisted or caller-given variables are dropped when their name looks secret
    or detect-secrets flags their value; cloud variables cross only for a declared
    provider (and are then exempt, being the declared credential).
    """
    env_in = os.environ if parent is None else parent
    home = spec.scratch / "home"
    tmp = spec.scratch / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    known = set(secret_values(env_in))
    env: dict[str, str] = {}
    for name in ENV_ALLOWLIST:
        value = env_in.get(name)
        if value is not None and value not in known and not looks_secret(value):
            env[name] = value
    for name, value in env_in.items():
        provider = _cloud_var(name)
        if provider is not None and provider in spec.cloud_providers:
            env[name] = value
    env.update(
        PATH=sandbox_path(spec),
        HOME=str(home),
        TMPDIR=str(tmp),
        PYTHONDONTWRITEBYTECODE="1",
        ORCH_SANDBOX="1",
    )
    for name, value in spec.extra_env.items():
        if SECRET_NAME.search(name) or _cloud_var(name) is not None:
            LOG.warning("sandbox: dropped variable %s (secret-looking or cloud name)", name)
            continue
        for secret in known:
            value = value.replace(secret, "[REDACTED]")
        env[name] = value
    return env


# --- cloud shims ------------------------------------------------------------------------


def shim_dir(spec: SandboxSpec) -> Path:
    return spec.scratch / "shims"


def denied_log(spec: SandboxSpec) -> Path:
    return spec.scratch / ".denied.jsonl"


def _parent_path_without(exclude: Path) -> str:
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != exclude]
    return os.pathsep.join(parts)


def write_shims(spec: SandboxSpec) -> list[Path]:
    """One script per cloud CLI; returns host dirs of real CLIs that must be readable."""
    directory = shim_dir(spec)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    log = denied_log(spec)
    search = _parent_path_without(directory)
    needed: list[Path] = []
    for provider, names in CLOUD_CLIS.items():
        for name in names:
            if provider in spec.cloud_providers:
                real = shutil.which(name, path=search)
                if real is None:
                    body = (f'echo "sandbox: {name} ({provider}) is declared but not installed" >&2\nexit 127\n')
                else:
                    needed.append(Path(real).resolve().parent)
                    body = f'exec "{Path(real).resolve()}" "$@"\n'
            else:
                record = json.dumps({"kind": "cloud", "target": name})
                body = (
                    f"echo '{record}' >> '{log}' 2>/dev/null\n"
                    f'echo "sandbox: refused: {name} is a {provider} cloud CLI and this task pack does not declare '
                    f'{provider} in safety.cloud.providers" >&2\nexit 126\n'
                )
            path = directory / name
            path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
            path.chmod(0o755)
    return needed


DENIED_KINDS = ("cloud", "process")
"""What the jail itself reports: a refused cloud CLI (its shim), processes left running (PID 1).
The log is writable from inside, so a forged line can only make its own run look worse."""


def read_denied_log(spec: SandboxSpec) -> list[dict[str, str]]:
    path = denied_log(spec)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("kind") in DENIED_KINDS and isinstance(item.get("target"), str):
            out.append({"kind": item["kind"], "target": item["target"][:100]})
    path.unlink(missing_ok=True)
    return out


# --- isolation --------------------------------------------------------------------------


def _real_home() -> Path | None:
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (KeyError, ImportError):
        return None


def stop_file_for(spec: SandboxSpec) -> Path | None:
    if spec.stop_file is not None:
        return spec.stop_file
    parent = spec.workspace.parent
    if parent.name == "worktrees" and parent.parent.name == ".orchestrator":
        return parent.parent / "STOP"
    return None


def _git_dir_of(workspace: Path) -> Path | None:
    """The main repository's .git for a worktree (its `.git` file names `<repo>/.git/worktrees/<n>`)."""
    dot_git = workspace / ".git"
    if dot_git.is_dir():
        return dot_git
    try:
        text = dot_git.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text.split(":", 1)[1].strip())
    if not gitdir.is_absolute():
        gitdir = (workspace / gitdir).resolve()
    for candidate in (gitdir, *gitdir.parents):
        if candidate.name == ".git" or (candidate / "objects").is_dir() and (candidate / "HEAD").is_file():
            return candidate
    return None


SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/etc/", "/opt/")


def argv_paths(argv: Sequence[str]) -> list[Path]:
    """Host paths the argv itself names: the program's directory and absolute file arguments.

    The caller (the control plane) chose them, so they are made readable; nothing
    else outside the jail is. Directories given as arguments are not opened up.
    """
    out: list[Path] = []
    homes = {Path(h).resolve() for h in (os.environ.get("HOME"), _real_home()) if h}
    if argv:
        program = argv[0] if "/" in argv[0] else shutil.which(argv[0])
        if program and os.path.isabs(program) and os.path.exists(program):
            real = Path(program).resolve()
            # the program's directory (its siblings are often its libraries), unless that would open a HOME
            exposes_home = any(real.parent == h or real.parent in h.parents for h in homes)
            out.append(real if exposes_home else real.parent)
    out.extend(Path(arg).resolve() for arg in argv[1:] if os.path.isabs(arg) and os.path.isfile(arg))
    return [p for p in out if not str(p).startswith(SYSTEM_PREFIXES)]


def jail_paths(spec: SandboxSpec, extra_read: Sequence[Path]) -> tuple[list[str], list[str], list[str]]:
    """(read-only, read-write, read-only-over-writable) host paths for the new root."""
    workspace = spec.workspace.resolve()
    scratch = spec.scratch.resolve()
    ro: set[Path] = set()
    for path in (Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent, *spec.read_paths,
                 *extra_read):
        ro.add(Path(path).resolve())
    git_dir = _git_dir_of(workspace)
    if git_dir is not None:
        ro.add(git_dir.resolve())
        ro.add(git_dir.resolve().parent)
    ro.add(INIT.resolve().parent.parent)
    rw = [workspace, scratch]
    ro.update(f.socket.resolve().parent for f in spec.forwards)
    ro_over = [workspace / ".git", shim_dir(spec).resolve()]
    ordered = sorted(ro, key=lambda p: (len(p.parts), str(p)))
    return [str(p) for p in ordered], [str(p) for p in rw], [str(p) for p in ro_over]


def _cloud_config_binds(spec: SandboxSpec) -> list[tuple[str, str]]:
    home = Path(os.environ.get("HOME") or _real_home() or "/nonexistent")
    out = []
    for provider in spec.cloud_providers:
        for rel in CLOUD_CONFIG.get(provider, ()):
            source = home / rel
            if source.exists():
                out.append((str(source.resolve()), str(spec.scratch.resolve() / "home" / rel)))
    return out


@dataclass(frozen=True)
class PidsCgroup:
    """A pids cgroup for one sandbox: a fork bound that holds for root too, and a way to kill all."""

    path: Path

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in self.procs.read_text(encoding="ascii").split()]
        except (OSError, ValueError):
            return []

    def peak_events(self) -> int:
        """How many forks the limit refused (pids.events `max`), 0 when none or unknown."""
        try:
            for line in (self.path / "pids.events").read_text(encoding="ascii").splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self, deadline: float = 5.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


def _cgroup_mounts() -> tuple[Path | None, Path | None]:
    """(v1 pids hierarchy mount, cgroup2 mount) from /proc/self/mountinfo."""
    v1 = v2 = None
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None, None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        point, fstype, options = Path(fields[4].replace("\\040", " ")), rest[0], rest[2].split(",")
        if fstype == "cgroup" and "pids" in options and v1 is None:
            v1 = point
        if fstype == "cgroup2" and v2 is None:
            v2 = point
    return v1, v2


def _own_cgroup(controller: str | None) -> str | None:
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",") if controllers else []
        if (controller is None and controllers == "") or (controller and controller in names):
            return path
    return None


def make_pids_cgroup(max_processes: int) -> PidsCgroup | None:
    """A fresh pids cgroup limited to max_processes, or None where none can be made (not root, ro)."""
    v1, v2 = _cgroup_mounts()
    candidates: list[Path] = []
    if v1 is not None and (own := _own_cgroup("pids")) is not None:
        candidates.append(v1 / own.lstrip("/"))
    if v2 is not None and (own := _own_cgroup(None)) is not None:
        base = v2 / own.lstrip("/")
        try:
            if "pids" in (base / "cgroup.subtree_control").read_text(encoding="ascii").split():
                candidates.append(base)
        except OSError:
            pass
    for base in candidates:
        path = base / f"orchestrator-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except OSError:
            continue
        try:
            (path / "pids.max").write_text(str(max_processes), encoding="ascii")
            return PidsCgroup(path)
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
    return None


def unshare_prefix() -> list[str]:
    unshare = shutil.which("unshare", path=os.pathsep.join(["/usr/bin", "/bin", "/usr/sbin", "/sbin",
                                                             os.environ.get("PATH", "")]))
    if unshare is None:
        raise Refused(f"isolation is unavailable: `unshare` (util-linux) is not installed; install it, or {OVERRIDE_HINT}")
    return [unshare, "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--kill-child",
            "--propagation", "private"]


def isolation_prefix(spec: SandboxSpec) -> list[str]:
    """Kept for callers of the initial version: the namespace part of the command line."""
    return unshare_prefix() if spec.isolate else []


@lru_cache(maxsize=1)
def _probe() -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="orch-probe-") as tmp:
        base = Path(tmp)
        (base / "ws").mkdir()
        spec = SandboxSpec(workspace=base / "ws", scratch=base / "scratch", wall_seconds=SETUP_TIMEOUT,
                           max_output_bytes=65536, max_processes=16)
        try:
            result = run(["/bin/sh", "-c", "echo probe > probe.txt && cat probe.txt"], spec)
        except Refused as exc:
            return False, str(exc)
        if result.exit_code != 0 or "probe" not in result.output:
            return False, f"the sandbox probe failed (exit {result.exit_code}): {result.output.strip()[:400]}"
        return True, "user, mount, pid and network namespaces work (unshare + pivot_root)"


def platform_hint() -> str:
    """What usually blocks user namespaces on this machine, and the fix, when it can be told."""
    apparmor = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    try:
        if apparmor.read_text(encoding="ascii").strip() == "1":
            return ("AppArmor restricts unprivileged user namespaces here (Ubuntu 23.10+): run "
                    "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`")
    except OSError:
        pass
    try:
        if Path("/proc/sys/user/max_user_namespaces").read_text(encoding="ascii").strip() == "0":
            return "user namespaces are disabled: run `sudo sysctl -w user.max_user_namespaces=15000`"
    except OSError:
        pass
    return ""


def isolation_available() -> tuple[bool, str]:
    """Whether the sandbox can be built on this machine, and why not (probed once per process)."""
    if sys.platform != "linux":
        return False, f"isolation needs Linux namespaces; this is {sys.platform}. {OVERRIDE_HINT}"
    return _probe()


# --- running ----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
        return [int(x) for x in text.split()]
    except (OSError, ValueError):
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_group(proc: subprocess.Popen[bytes], cgroup: PidsCgroup | None = None) -> None:
    """Kills everything the process started, and waits until it is gone.

    With isolation: SIGKILL to PID 1 of the namespace makes the kernel kill every
    process inside (setsid() or double fork does not escape a PID namespace), and
    unshare only exits once that PID 1 is reaped. Without: the process group, plus
    the cgroup's members when there is one.
    """
    for child in _children(proc.pid):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if cgroup is not None:
        cgroup.kill_all()


def _init_config(spec: SandboxSpec, argv: Sequence[str], cwd: Path, status_fd: int, cgroup: PidsCgroup | None,
                 proxy: EgressProxy | None, extra_read: list[Path]) -> dict:
    ro, rw, ro_over = jail_paths(spec, extra_read)
    forwards = [*([Forward(PROXY_PORT, proxy.socket_path)] if proxy else []), *spec.forwards]
    return {
        "root": str((spec.scratch / ".root").resolve()),
        "ro": ro,
        "rw": rw,
        "ro_over": ro_over,
        "cloud_binds": _cloud_config_binds(spec),
        "cwd": str(cwd.resolve()),
        "argv": list(argv),
        "nproc": spec.max_processes + INIT_TASKS if spec.isolate else None,
        "cgroup_procs": str(cgroup.procs) if cgroup else None,
        "forwards": [{"port": f.port, "socket": str(f.socket)} for f in forwards],
        "status_fd": status_fd,
        "isolate": spec.isolate,
        "denied_log": str(denied_log(spec).resolve()),
    }


def _proxy_env(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    return {"HTTP_PROXY": url, "HTTPS_PROXY": url, "http_proxy": url, "https_proxy": url, "ALL_PROXY": url,
            "all_proxy": url, "NO_PROXY": "", "no_proxy": ""}


def _read_status(fd: int, proc: subprocess.Popen[bytes]) -> str:
    """The init's first word: `ok`, or `error: why`; '' when it died before saying anything."""
    data = b""
    deadline = time.monotonic() + SETUP_TIMEOUT
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    try:
        while b"\n" not in data and time.monotonic() < deadline:
            if not selector.select(timeout=0.2):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        selector.close()
    return data.decode("utf-8", "replace").strip()


def run(
    argv: Sequence[str],
    spec: SandboxSpec,
    *,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    timeout: float | None = None,
    on_line: LineHook | None = None,
) -> Execution:
    """Runs argv in the sandbox; output is read as it comes so the output breaker is exact.

    `on_line` sees every output line live (progress on the terminal, agent event breakers)."""
    workdir = cwd or spec.workspace
    spec.scratch.mkdir(parents=True, exist_ok=True)
    (spec.scratch / ".root").mkdir(exist_ok=True)
    extra_read = write_shims(spec)
    denied_log(spec).unlink(missing_ok=True)
    env = build_env(spec)
    start = time.monotonic()
    stop_file = stop_file_for(spec)
    if reason := kill_switch_reason(os.environ, stop_file):
        return Execution(list(argv), None, 0.0, f"[not started: kill switch: {reason}]\n", 0, "kill_switch", 0, 1)
    proxy: EgressProxy | None = None
    cgroup: PidsCgroup | None = None
    fds = [-1, -1]
    """The status pipe (read end, write end); an entry becomes -1 once closed."""
    prefix = unshare_prefix() if spec.isolate else []
    try:
        if spec.isolate:
            socket_dir = Path(tempfile.mkdtemp(prefix="orch-egress-", dir="/tmp" if os.path.isdir("/tmp") else None))
            extra_read.append(socket_dir)
            proxy = EgressProxy(socket_dir / "s", parse_allowlist(spec.network_hosts)).start()
            env.update(_proxy_env(PROXY_PORT))
        cgroup = make_pids_cgroup(spec.max_processes + INIT_TASKS)
        fds[:] = os.pipe()
        config = _init_config(spec, argv, workdir, fds[1], cgroup, proxy, [*extra_read, *argv_paths(argv)])
        full = [*prefix, sys.executable, "-I", "-S", str(INIT), json.dumps(config)]
        return _supervise(argv, full, spec, env, workdir, stdin, timeout, start, stop_file, proxy, cgroup, fds,
                          on_line)
    finally:
        if proxy is not None:
            proxy.stop()
            shutil.rmtree(proxy.socket_path.parent, ignore_errors=True)
        if cgroup is not None:
            cgroup.remove()
        _close(fds)


def _close(fds: list[int], *which: int) -> None:
    for index in which or range(len(fds)):
        if fds[index] >= 0:
            try:
                os.close(fds[index])
            except OSError:
                pass
            fds[index] = -1


def _feed(pipe: IO[bytes], data: bytes) -> None:
    """Writes stdin from a thread: a process that never reads must not block the supervisor."""
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except (BrokenPipeError, OSError):
            pass


def _supervise(
    argv: Sequence[str],
    full: list[str],
    spec: SandboxSpec,
    env: dict[str, str],
    workdir: Path,
    stdin: bytes | None,
    timeout: float | None,
    start: float,
    stop_file: Path | None,
    proxy: EgressProxy | None,
    cgroup: PidsCgroup | None,
    fds: list[int],
    on_line: LineHook | None = None,
) -> Execution:
    try:
        proc = subprocess.Popen(
            full,
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(fds[1],),
        )
    except OSError as exc:
        raise Refused(f"isolation is unavailable: cannot start the sandbox: {exc}; {OVERRIDE_HINT}") from None
    assert proc.stdout is not None
    _close(fds, 1)
    status = _read_status(fds[0], proc)
    if status != "ok":
        kill_group(proc, cgroup)
        early = proc.stdout.read(8192).decode("utf-8", "replace").strip()
        proc.stdout.close()
        why = status.removeprefix("error: ") or early or f"exit {proc.returncode}"
        hint = platform_hint()
        raise Refused(f"isolation is unavailable: the sandbox could not be set up: {why}; "
                      f"{hint + '; or ' if hint else ''}{OVERRIDE_HINT}")
    if stdin is not None and proc.stdin:
        threading.Thread(target=_feed, args=(proc.stdin, stdin), name="sandbox-stdin", daemon=True).start()
    chunks: list[bytes] = []
    total = 0
    breaker: tuple[str, float, float] | None = None
    limit_seconds = min(x for x in (timeout, spec.wall_seconds) if x is not None)

    if timeout is not None and timeout < spec.wall_seconds:
        wall = ("timeout_seconds", timeout, 0.0)
    else:
        wall = (spec.wall_name, spec.wall_seconds + spec.wall_spent, spec.wall_spent)

    def poll() -> tuple[str, float, float] | None:
        elapsed = time.monotonic() - start
        if elapsed >= limit_seconds:
            return (wall[0], round(wall[1], 3), round(wall[2] + elapsed, 3))
        if kill_switch_reason(os.environ, stop_file):
            return ("kill_switch", 0, 1)
        if cgroup is not None and (refused := cgroup.peak_events()):
            return ("max_processes", spec.max_processes, spec.max_processes + refused)
        return None

    pending = b""

    def feed_lines(data: bytes, final: bool = False) -> tuple[str, float, float] | None:
        nonlocal pending
        if on_line is None:
            return None
        pending += data
        *lines, pending = pending.split(b"\n")
        if final and pending:
            lines, pending = [*lines, pending], b""
        try:
            for line in lines:
                on_line(line.decode("utf-8", "replace"))
        except Tripped as trip:
            return (trip.breaker, trip.limit, trip.measured)
        return None

    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    try:
        while (breaker := poll()) is None:
            left = limit_seconds - (time.monotonic() - start)
            if not selector.select(timeout=max(min(left, POLL_SECONDS), 0)):
                continue
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            total += len(data)
            if total > spec.max_output_bytes:
                keep = spec.max_output_bytes - (total - len(data))
                chunks.append(data[: max(keep, 0)])
                breaker = ("max_output_bytes", spec.max_output_bytes, total)
                break
            chunks.append(data)
            if (breaker := feed_lines(data)) is not None:
                break
        if breaker is None:
            breaker = feed_lines(b"", final=True)
        while breaker is None and (breaker := poll()) is None:
            left = limit_seconds - (time.monotonic() - start)
            try:
                proc.wait(timeout=max(min(left, POLL_SECONDS), 0.001))
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        selector.close()
        kill_group(proc, cgroup)
        proc.wait()
        proc.stdout.close()
    output = b"".join(chunks).decode("utf-8", "replace")
    code = proc.returncode
    result = Execution(
        argv=list(argv),
        exit_code=None if breaker else (code if code >= 0 else 128 - code),
        duration=round(time.monotonic() - start, 3),
        output=output,
        output_bytes=total,
    )
    if breaker:
        result.breaker, result.limit, result.measured = breaker
        LOG.info("sandbox: breaker %s tripped (limit %s, measured %s)", *breaker)
    if proxy is not None:
        result.denied.extend(proxy.denied)
        result.allowed.extend(proxy.allowed)
    result.denied.extend(read_denied_log(spec))
    result.denied.extend({"kind": "symlink", "target": t} for t in escaping_symlinks(spec.workspace))
    for item in result.denied:
        LOG.info("sandbox: denied %s %s", item["kind"], item["target"])
    return result


def escaping_symlinks(workspace: Path, limit: int = 100) -> list[str]:
    """Symlinks under the workspace (its .git excluded) whose target resolves outside it."""
    root = workspace.resolve()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".git" in dirnames:
            dirnames.remove(".git")
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                continue
            target = os.readlink(path)
            resolved = (path.parent / target).resolve() if not os.path.isabs(target) else Path(target).resolve()
            if resolved != root and root not in resolved.parents:
                found.append(f"{path.relative_to(root).as_posix()} -> {target}")
                if len(found) >= limit:
                    return found
    return found

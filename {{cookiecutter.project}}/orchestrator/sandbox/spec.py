"""What one jailed process may do (SandboxSpec), and what came of it (Execution)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

OVERRIDE_HINT = (
    "set ORCH_UNSAFE_NO_ISOLATION=1 to run WITHOUT isolation (recorded as UNSAFE in the manifest, "
    "summary and review); see SECURITY.md"
)
INSTALL_HINT = (
    "install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu) or `sudo dnf install bubblewrap`"
)

PROXY_PORT = 3128
"""The egress proxy's port on the jail's loopback (HTTP(S)_PROXY points at it)."""

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
    """False only under ORCH_UNSAFE_NO_ISOLATION=1: runs without a jail, recorded as UNSAFE."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    max_processes: int = 256
    """limits.max_processes: processes (and threads) alive at once inside the sandbox."""
    max_memory_mb: int = 4096
    """limits.max_memory_mb: resident memory of the whole jail; beyond it the `memory` breaker trips."""
    stop_file: Path | None = None
    """The kill-switch file (.orchestrator/STOP); derived from the workspace path when None."""
    read_paths: tuple[Path, ...] = ()
    """Extra host paths the process may read (e.g. an agent CLI's install dir)."""
    prepared_env: Path | None = None
    """The prepared environment (the prepare phase's output), readable when set."""
    path_prefix: tuple[Path, ...] = ()
    """Directories put first on PATH (the prepared environment's .venv/bin, node_modules/.bin)."""
    wall_name: str = "wall_seconds"
    """The budget `wall_seconds` is what is left of (wall_seconds or phase_wall_seconds),
    for the trip record."""
    wall_spent: float = 0.0
    """Seconds of that budget already spent before this process, so a trip reports the budget's
    own numbers."""
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
    limits_enforced: dict[str, str] = field(default_factory=dict)
    """How each resource limit held:
    {"memory": "cgroup-v1"|"rss-poll"|"none", "processes": ..., "cpu": ...}."""

    @property
    def ok(self) -> bool:
        return self.breaker is None and self.exit_code == 0

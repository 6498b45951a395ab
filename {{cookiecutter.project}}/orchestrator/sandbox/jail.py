"""The jail's shape, as a bubblewrap command line: what is visible, what is writable, who runs.

Visible inside, and nothing else:
- the system, read-only: /usr, /bin, /sbin, /lib*, /opt and /etc (its secrets masked);
- the run's worktree (read-write) and a private scratch (read-write: HOME, TMPDIR);
- a synthetic git dir with a sanitised config over the main objects (`gitview`);
- READ_ONLY_EXCEPTIONS: one named list of host paths the phases need to run.

Not visible: the rest of the main checkout (its `.env`, `.git/config`, other worktrees,
`runs/`, `.orchestrator/`), /sys (so no cgroup), the user's HOME, /home, /root, /run, the
host's /tmp. The command runs as uid 1000 of a new user namespace with no capabilities,
no new privileges, no way to make user namespaces, and the seccomp filter of `seccomp`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.sandbox.environment import home_dir, shim_dir
from orchestrator.sandbox.gitview import GitView, git_dirs
from orchestrator.sandbox.spec import CLOUD_CONFIG, SandboxSpec

JAIL_UID = 1000
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt", "etc")
MASKED_FILES = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/gitconfig",
    "/etc/machine-id",
)
MASKED_DIRS = ("/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d")
TOOL_DIRS = (".venv", ".tools", ".nox")
"""Directories of the main checkout that may be read as exceptions (interpreters and pinned tools)."""
BWRAP_SEARCH = ("/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin")


READ_ONLY_EXCEPTIONS: dict[str, str] = {
    "interpreter": "the interpreter environment the orchestrator runs in (sys.prefix, sys.base_prefix)",
    "tools": "pinned tools under the repository's .tools/",
    "read_paths": "SandboxSpec.read_paths: what the engine adds (an agent CLI's install dir, a plugin's dir)",
    "prepared_env": "SandboxSpec.prepared_env: the prepared environment of the prepare phase",
    "declared_cloud_cli": "the directory of a declared provider's real CLI",
    "argv": "the program argv names (its directory) and absolute file arguments",
    "forwards": "the host unix socket of each declared forward",
    "host_sockets": "the run's egress-proxy and audit sockets",
}
"""The one list of host paths, outside the system dirs, the jail may read (read-only), by name."""


@dataclass(frozen=True)
class ReadOnly:
    """One read-only exception. `chosen_by_engine`: the engine named it (a plugin's dir, the prepared
    environment), so it may lie inside the main checkout; otherwise only the checkout's tool dirs
    may be opened."""

    name: str
    path: Path
    chosen_by_engine: bool = False

    def __post_init__(self) -> None:
        if self.name not in READ_ONLY_EXCEPTIONS:
            raise ValueError(f"not a named read-only exception: {self.name}")


def init_python() -> str:
    """The interpreter of the jail's init and shims: a system python
    (always visible, stdlib is all they use)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return sys.executable


def real_home() -> Path | None:
    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        return None


def bwrap_path() -> str | None:
    return shutil.which("bwrap", path=os.pathsep.join([*BWRAP_SEARCH, os.environ.get("PATH", "")]))


def _is_system(path: Path) -> bool:
    return len(path.parts) > 1 and path.parts[1] in SYSTEM_DIRS


def argv_paths(argv: Sequence[str]) -> list[Path]:
    """The program's directory and absolute file arguments: host paths the caller itself chose."""
    out: list[Path] = []
    if argv:
        program = argv[0] if "/" in argv[0] else shutil.which(argv[0])
        if program and os.path.isabs(program) and os.path.exists(program):
            real = Path(program).resolve()
            out.extend((real.parent, real))
    out.extend(Path(arg).resolve() for arg in argv[1:] if os.path.isabs(arg) and os.path.isfile(arg))
    return out


def read_only_exceptions(spec: SandboxSpec, extra: Iterable[ReadOnly]) -> list[ReadOnly]:
    """READ_ONLY_EXCEPTIONS: every host path outside the system dirs that the jail may read, by name."""
    dirs = git_dirs(spec.workspace)
    tools = [dirs.checkout / ".tools"] if dirs is not None else []
    named = [
        *(
            ReadOnly("interpreter", Path(p))
            for p in (sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent)
        ),
        *(ReadOnly("tools", p) for p in tools),
        *(ReadOnly("read_paths", Path(p), chosen_by_engine=True) for p in spec.read_paths),
        *([ReadOnly("prepared_env", spec.prepared_env, chosen_by_engine=True)] if spec.prepared_env else []),
        *extra,
    ]
    return [e for e in named if allowed(e.path, spec, e.chosen_by_engine)]


def allowed(path: Path, spec: SandboxSpec, chosen_by_engine: bool = False) -> bool:
    """An exception never opens a HOME, the workspace's or scratch's parents, the main checkout or its `.git`;
    inside the checkout it may open the tool dirs, or what the engine itself chose."""
    try:
        real = path.resolve()
        if not real.exists():
            return False
    except OSError:  # a path this user cannot even look at cannot be bound either
        return False
    if _is_system(real) or real == Path("/"):
        return False
    guarded = [h.resolve() for h in (real_home(), Path(os.environ.get("HOME") or "/nonexistent")) if h]
    guarded.extend((spec.workspace.resolve(), spec.scratch.resolve()))
    dirs = git_dirs(spec.workspace)
    if dirs is not None:
        guarded.extend((dirs.checkout.resolve(), dirs.common.resolve()))
    for guard in guarded:
        if real == guard or real in guard.parents:
            return False
    if dirs is not None and (real == dirs.common or dirs.common in real.parents):
        return False
    if dirs is not None and dirs.checkout.resolve() in real.parents:
        inside = real.relative_to(dirs.checkout.resolve()).parts
        return chosen_by_engine or inside[0] in TOOL_DIRS
    return True


def hidden_in_system_dirs(spec: SandboxSpec) -> list[Path]:
    """A main checkout (or its git dir) inside a system dir (e.g. /opt/app) is covered by an empty
    (private, writable) tmpfs, so binding /opt does not show it; the worktree, scratch and exceptions
    are bound over that."""
    dirs = git_dirs(spec.workspace)
    if dirs is None:
        return []
    found = _by_depth(p for p in (dirs.checkout.resolve(), dirs.common.resolve()) if _is_system(p))
    return [p for p in found if not any(q in p.parents for q in found)]


def _cloud_binds(spec: SandboxSpec) -> list[tuple[Path, Path]]:
    home = Path(os.environ.get("HOME") or real_home() or "/nonexistent")
    out = []
    for provider in spec.cloud_providers:
        for rel in CLOUD_CONFIG.get(provider, ()):
            source = home / rel
            if source.exists():
                out.append((source.resolve(), home_dir(spec).resolve() / rel))
    return out


def _by_depth(paths: Iterable[Path]) -> list[Path]:
    return sorted(set(paths), key=lambda p: (len(p.parts), str(p)))


def bwrap_argv(
    bwrap: str,
    spec: SandboxSpec,
    cwd: Path,
    exceptions: Sequence[ReadOnly],
    git: GitView,
    seccomp_fd: int,
    status_fd: int,
    empty_file: Path,
) -> list[str]:
    """The bubblewrap command line up to (not including) the program it runs."""
    argv = [
        bwrap,
        "--unshare-user",
        "--unshare-all",
        "--uid",
        str(JAIL_UID),
        "--gid",
        str(JAIL_UID),
        "--cap-drop",
        "ALL",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "jail",
        "--json-status-fd",
        str(status_fd),
    ]
    for name in SYSTEM_DIRS:
        source = Path("/") / name
        if source.is_symlink():
            argv += ["--symlink", os.readlink(source), str(source)]
        elif source.is_dir():
            argv += ["--ro-bind", str(source), str(source)]
    for masked in MASKED_FILES:
        if os.path.isfile(masked):
            argv += ["--ro-bind", str(empty_file), masked]
    for masked in MASKED_DIRS:
        if os.path.isdir(masked):
            argv += ["--tmpfs", masked, "--remount-ro", masked]
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/dev/shm",
        "--dir",
        "/var",
        "--tmpfs",
        "/var/tmp",
    ]
    for hidden in hidden_in_system_dirs(spec):
        argv += ["--tmpfs", str(hidden)]
    workspace, scratch = spec.workspace.resolve(), spec.scratch.resolve()
    read_only = _by_depth(e.path.resolve() for e in exceptions)
    for path in read_only:
        argv += ["--ro-bind", str(path), str(path)]
    for path in _by_depth((workspace, scratch)):
        argv += ["--bind", str(path), str(path)]
    overlays = [*git.binds, (shim_dir(spec).resolve(), shim_dir(spec).resolve()), *_cloud_binds(spec)]
    for source, dest in overlays:
        argv += ["--ro-bind", str(source), str(dest)]
    argv += ["--chdir", str(cwd.resolve()), "--seccomp", str(seccomp_fd)]
    return argv

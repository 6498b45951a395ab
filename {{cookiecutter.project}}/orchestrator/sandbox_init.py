"""The first process inside the sandbox's namespaces: builds the jail, then runs the command.

Started by `orchestrator.sandbox` as `python -I -S sandbox_init.py <config.json>` under
`unshare --user --map-root-user --net --mount --pid --fork --kill-child`, so it is PID 1
of a fresh PID namespace, root only inside a fresh user namespace, in a private mount
namespace and a network namespace whose only interface is loopback. It uses the
standard library alone (no site-packages: `-S`), because it runs before anything else
is trusted and must not import code from the workspace.

What it does, in order (each step fails closed: a setup error ends it with a message
on the status pipe, and the parent refuses to run the command):
1. joins the pids cgroup the parent prepared (a fork bound that also binds root);
2. builds a new root on a tmpfs: system directories read-only, the repository and
   interpreter read-only, the workspace and scratch read-write, a minimal /dev, a
   fresh /proc, empty /home, /root, /run, private /tmp; secrets in /etc masked;
3. makes everything read-only and nosuid except what must be written, then
   pivot_root()s into it and detaches the old root, so no path leads back out;
4. brings up loopback and, when the egress proxy is on, a forwarder on
   127.0.0.1:<port> to the proxy's unix socket (the only way out);
5. forks the command with RLIMIT_NPROC set (binding for non-root users, whose
   count is per user namespace), reaps every orphan, and exits with the command's
   status. As PID 1, its exit makes the kernel kill whatever is left inside.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import platform
import resource
import selectors
import signal
import socket
import struct
import sys
import threading

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}
SYS_MOUNT_SETATTR = 442
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt")
"""Read-only from the host: programs, libraries, configuration. Everything else is absent."""

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
MASKED_FILES = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers")
MASKED_DIRS = ("/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d")
EMPTY_DIRS = ("home", "root", "run", "mnt", "media", "srv", "var")
PRIVATE_TMP = ("tmp", "var/tmp", "dev/shm")

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.syscall.restype = ctypes.c_long


class SetupError(Exception):
    """A step of building the jail failed: the command must not run."""


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(code)} (errno {code})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    _check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {source or fstype} on {target}")


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def set_attr(path: str, attr_set: int, attr_clr: int, recursive: bool) -> None:
    attr = MountAttr(attr_set, attr_clr, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    result = libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags, ctypes.byref(attr),
                          ctypes.sizeof(attr))
    if result != 0:
        code = ctypes.get_errno()
        if code == errno.ENOSYS:
            _remount_fallback(path, attr_set, recursive)
            return
        raise SetupError(f"mount_setattr {path}: {os.strerror(code)}")


def _remount_fallback(path: str, attr_set: int, recursive: bool) -> None:
    """Kernels before 5.12: remount each mount below `path` read-only, one by one."""
    targets = [path]
    if recursive:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            points = [line.split()[4].replace("\\040", " ") for line in handle]
        targets = [p for p in points if p == path or p.startswith(path.rstrip("/") + "/")]
    for target in targets:
        stat = os.statvfs(target)
        keep = stat.f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
        extra = (MS_RDONLY if attr_set & MOUNT_ATTR_RDONLY else 0) | (MS_NOSUID if attr_set & MOUNT_ATTR_NOSUID else 0)
        mount(None, target, None, MS_BIND | MS_REMOUNT | keep | extra)


def pivot_root(new_root: str, put_old: str) -> None:
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise SetupError(f"pivot_root: unsupported machine {platform.machine()}")
    result = libc.syscall(number, new_root.encode(), put_old.encode())
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"pivot_root {new_root}: {os.strerror(code)}")


def inside(root: str, path: str) -> str:
    return root + "/" + path.lstrip("/")


def make_point(target: str, is_dir: bool) -> None:
    if os.path.lexists(target):
        return
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8"):
            pass


def bind(source: str, target: str, recursive: bool = False) -> None:
    make_point(target, os.path.isdir(source))
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))


def build_root(config: dict) -> str:
    root = config["root"]
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    for name in SYSTEM_DIRS:
        source = "/" + name
        if os.path.islink(source):
            os.symlink(os.readlink(source), inside(root, name))
        elif os.path.isdir(source):
            bind(source, inside(root, name), recursive=True)
    for name in EMPTY_DIRS:
        os.makedirs(inside(root, name), exist_ok=True)
    if os.path.isdir("/sys"):
        bind("/sys", inside(root, "sys"), recursive=True)
    build_dev(root)
    os.makedirs(inside(root, "proc"), exist_ok=True)
    mount("proc", inside(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PRIVATE_TMP:
        os.makedirs(inside(root, name), exist_ok=True)
        mount("tmpfs", inside(root, name), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
    for path in config["ro"] + config["rw"]:
        if os.path.exists(path):
            bind(path, inside(root, path))
    for source, target in config.get("cloud_binds", []):
        if os.path.exists(source):
            bind(source, inside(root, target))
    for path in config["ro_over"]:
        if os.path.lexists(path) and not os.path.islink(path):
            bind(path, inside(root, path))
    for path in MASKED_FILES:
        if os.path.isfile(path) and os.path.isfile(inside(root, path)):
            mount("/dev/null", inside(root, path), None, MS_BIND)
    for path in MASKED_DIRS:
        if os.path.isdir(inside(root, path)):
            mount("tmpfs", inside(root, path), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4k")
    os.makedirs(inside(root, ".oldroot"), exist_ok=True)
    set_attr(root, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, recursive=True)
    for path in config["rw"]:
        if os.path.exists(path):
            set_attr(inside(root, path), 0, MOUNT_ATTR_RDONLY, recursive=False)
    for name in PRIVATE_TMP:
        set_attr(inside(root, name), 0, MOUNT_ATTR_RDONLY, recursive=False)
    return root


def build_dev(root: str) -> None:
    dev = inside(root, "dev")
    os.makedirs(dev, exist_ok=True)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755,size=64k")
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            bind("/dev/" + name, f"{dev}/{name}")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")


def enter_root(root: str) -> None:
    os.chdir(root)
    pivot_root(".", ".oldroot")
    os.chdir("/")
    _check(libc.umount2(b"/.oldroot", MNT_DETACH), "umount old root")


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b"\0" * 14))


def join_cgroup(procs_file: str | None) -> None:
    if procs_file:
        with open(procs_file, "w", encoding="ascii") as handle:
            handle.write("0\n")


def forwarder_socket(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    listener.setblocking(False)
    return listener


def forward(listener: socket.socket, unix_path: str) -> None:
    """One thread, one selector: TCP on 127.0.0.1 in here <-> the proxy's unix socket out there."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    peers: dict[socket.socket, socket.socket] = {}

    def close(sock: socket.socket) -> None:
        other = peers.pop(sock, None)
        for each in (sock, other):
            if each is None:
                continue
            peers.pop(each, None)
            try:
                selector.unregister(each)
            except (KeyError, ValueError):
                pass
            each.close()

    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            if sock is listener:
                try:
                    client, _ = listener.accept()
                except OSError:
                    continue
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    upstream.connect(unix_path)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                peers[client], peers[upstream] = upstream, client
                selector.register(client, selectors.EVENT_READ, None)
                selector.register(upstream, selectors.EVENT_READ, None)
                continue
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            other = peers.get(sock)
            if not data or other is None:
                close(sock)
                continue
            try:
                other.sendall(data)
            except OSError:
                close(sock)


def run_command(config: dict, listeners: list[tuple[socket.socket, str]]) -> int:
    env = dict(os.environ)
    pid = os.fork()
    if pid == 0:
        try:
            for listener, _ in listeners:
                listener.close()
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            nproc = config.get("nproc")
            if nproc:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.chdir(config["cwd"])
            os.execvpe(config["argv"][0], config["argv"], env)
        except OSError as exc:
            os.write(2, f"sandbox: cannot run {config['argv'][0]}: {exc.strerror}\n".encode())
            os._exit(127)
    for listener, unix_path in listeners:
        threading.Thread(target=forward, args=(listener, unix_path), daemon=True).start()
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        if reaped == pid:
            record_leftovers(config)
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def record_leftovers(config: dict) -> None:
    """Processes still running when the command ended are killed with PID 1; say so.

    A command that leaves a daemon behind has done something the task pack never
    declared, so it goes to the denied log like a refused host or cloud CLI.
    """
    if not config.get("isolate", True):
        return
    left = [name for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]
    if not left:
        return
    record = {"kind": "process", "target": f"{len(left)} background process(es) still running at exit, killed"}
    try:
        with open(config["denied_log"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    except OSError:
        pass


def main() -> None:
    config = json.loads(sys.argv[1])
    status_fd = int(config["status_fd"])
    os.set_inheritable(status_fd, False)
    listeners: list[tuple[socket.socket, str]] = []
    try:
        join_cgroup(config.get("cgroup_procs"))
        if not config.get("isolate", True):
            pass  # the explicit UNSAFE override: no namespaces, so nothing to build
        else:
            enter_root(build_root(config))
            loopback_up()
        for item in config.get("forwards") or ():
            listeners.append((forwarder_socket(int(item["port"])), item["socket"]))
        os.chdir(config["cwd"])
    except (SetupError, OSError) as exc:
        os.write(status_fd, f"error: {exc}\n".encode())
        os._exit(125)
    os.write(status_fd, b"ok\n")
    os.close(status_fd)
    code = run_command(config, listeners)
    sys.stdout.flush()
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()

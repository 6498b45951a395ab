"""The jail's first process, after bubblewrap's own init: forwards ports, runs the command, reports.

It is not imported. The host reads this file and passes its text to
`python -I -S -c` inside the jail, so it uses the standard library alone and never
loads code from the workspace. It runs after bubblewrap has dropped every capability
and loaded the seccomp filter, with the same rights as the command.

1. makes itself non-dumpable, so the command cannot read or write its memory;
2. listens on 127.0.0.1:<port> for each forward and relays to the host's unix socket;
3. runs the command (RLIMIT_NPROC and no core files) and reaps it;
4. writes `ready` and then `exit <code>` to the status pipe the host holds, and waits:
   the host counts what is left in the jail, then kills the whole PID namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import selectors
import signal
import socket
import sys
import threading

TYPE_CHECKING = False  # spelled out so the jail's init never imports typing
if TYPE_CHECKING:
    from typing import TypedDict

    class ForwardConfig(TypedDict):
        port: int
        socket: str

    class InsideConfig(TypedDict):
        """The JSON the host passes as argv[1]."""

        argv: list[str]
        status_fd: int
        nproc: int | None
        forwards: list[ForwardConfig]


PR_SET_DUMPABLE = 4


def relay(listeners: list[tuple[socket.socket, str]]) -> None:
    """One thread, one selector: TCP on 127.0.0.1 in here <-> a host unix socket out there."""
    selector = selectors.DefaultSelector()
    for listener, path in listeners:
        selector.register(listener, selectors.EVENT_READ, path)
    peers: dict[socket.socket, socket.socket] = {}

    def close(sock: socket.socket) -> None:
        other = peers.pop(sock, None)
        for each in (sock, other):
            if each is None:
                continue
            peers.pop(each, None)
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(each)
            each.close()

    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            if not isinstance(sock, socket.socket):  # only sockets are ever registered
                continue
            if key.data is not None:
                try:
                    client, _ = sock.accept()
                except OSError:
                    continue
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    upstream.connect(key.data)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                peers[client], peers[upstream] = upstream, client
                selector.register(client, selectors.EVENT_READ, None)
                selector.register(upstream, selectors.EVENT_READ, None)
                continue
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


def listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    listener.setblocking(False)
    return listener


def start(config: InsideConfig, listeners: list[tuple[socket.socket, str]]) -> int:
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
            os.execvp(config["argv"][0], config["argv"])
        except OSError as exc:
            os.write(2, f"sandbox: cannot run {config['argv'][0]}: {exc.strerror}\n".encode())
        os._exit(127)
    return pid


def main() -> None:
    config: InsideConfig = json.loads(sys.argv[1])
    status = int(config["status_fd"])
    os.set_inheritable(status, False)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    try:
        listeners = [(listen(int(item["port"])), item["socket"]) for item in config["forwards"]]
    except OSError as exc:
        os.write(status, f"error: forward: {exc}\n".encode())
        os._exit(125)
    os.write(status, b"ready\n")
    pid = start(config, listeners)
    if listeners:
        threading.Thread(target=relay, args=(listeners,), daemon=True).start()
    while True:
        try:
            reaped, code = os.waitpid(-1, 0)
        except ChildProcessError:
            code, reaped = 1 << 8, pid
        if reaped == pid:
            break
    code = os.waitstatus_to_exitcode(code)
    os.write(status, f"exit {code if code >= 0 else 128 - code}\n".encode())
    while True:
        signal.pause()


if __name__ == "__main__":
    main()

"""The jail's seccomp filter: a classic-BPF program that refuses the mount family and its friends.

bubblewrap loads it (`--seccomp FD`) just before it executes the command, after it has
built the jail, so nothing that runs inside can mount, unmount, remount, pivot_root,
enter or create namespaces, trace another process, or load kernel code.

Built here with `struct` because no maintained seccomp binding installs from PyPI
without a C toolchain, and libseccomp's Python module ships for the system
interpreter only. The program is small and linear, and the tests run every refused
call for real inside the jail.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARG0_LOW = 16
X32_SYSCALL_BIT = 0x40000000

NAMESPACE_FLAGS = 0x7E020000
"""CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (and CLONE_NEWTIME 0x80): refused in clone()."""
CLONE_NEWTIME = 0x80

REFUSED = (
    # the mount family: the jail's shape is fixed once bubblewrap has built it
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    # namespaces: no entering, no making
    "setns",
    "unshare",
    # other processes: no tracing, no reading or writing their memory, no stealing their files
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    # the kernel: modules, kexec, BPF, perf, keyrings, handles, swap, reboot, accounting
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "open_by_handle_at",
    "name_to_handle_at",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    # io_uring runs operations without passing through this filter
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)
"""System calls that fail with EPERM inside the jail."""


@dataclass(frozen=True)
class Arch:
    audit: int
    numbers: dict[str, int]
    x32: bool = False


X86_64 = Arch(
    0xC000003E,
    {
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "chroot": 161,
        "move_mount": 429,
        "open_tree": 428,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "setns": 308,
        "unshare": 272,
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "pidfd_getfd": 438,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "kexec_load": 246,
        "kexec_file_load": 320,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "open_by_handle_at": 304,
        "name_to_handle_at": 303,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "acct": 163,
        "quotactl": 179,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "clone": 56,
        "clone3": 435,
    },
    x32=True,
)

AARCH64 = Arch(
    0xC00000B7,
    {
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "chroot": 51,
        "move_mount": 429,
        "open_tree": 428,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "setns": 268,
        "unshare": 97,
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "pidfd_getfd": 438,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "kexec_load": 104,
        "kexec_file_load": 294,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "open_by_handle_at": 265,
        "name_to_handle_at": 264,
        "swapon": 224,
        "swapoff": 225,
        "reboot": 142,
        "acct": 89,
        "quotactl": 60,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "clone": 220,
        "clone3": 435,
    },
)

ARCHES = {"x86_64": X86_64, "amd64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


class UnsupportedMachine(Exception):
    """No syscall table for this machine: the jail cannot be built here."""


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(arch: Arch) -> bytes:
    """The filter, as the raw `struct sock_filter` array bubblewrap reads from its --seccomp fd.

    Layout: check the architecture (another one is killed), then one JEQ per refused
    call jumping to the EPERM return, clone3 to ENOSYS (so libcs fall back to clone,
    whose flags a classic filter can read), clone with namespace flags to EPERM,
    everything else allowed.
    """
    refused = [arch.numbers[name] for name in REFUSED]
    # instructions after the checks, in order: ALLOW, EPERM, ENOSYS
    body: list[tuple[int, int, int, int]] = []
    # each entry's jumps are fixed up once the body's length is known: ("eperm"|"enosys"|"allow"|int)
    plan: list[tuple[int, object, object, int]] = [
        (LD_W_ABS, 0, 0, OFFSET_ARCH),
        (JEQ_K, 1, 0, arch.audit),
        (RET_K, 0, 0, RET_KILL_PROCESS),
        (LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if arch.x32:
        plan.append((JGE_K, "eperm", 0, X32_SYSCALL_BIT))
    plan.extend((JEQ_K, "eperm", 0, nr) for nr in refused)
    plan.append((JEQ_K, "enosys", 0, arch.numbers["clone3"]))
    plan.append((JEQ_K, 0, "allow", arch.numbers["clone"]))
    plan.append((LD_W_ABS, 0, 0, OFFSET_ARG0_LOW))
    plan.append((JSET_K, "eperm", "allow", NAMESPACE_FLAGS | CLONE_NEWTIME))
    targets = {"allow": len(plan), "eperm": len(plan) + 1, "enosys": len(plan) + 2}
    for index, (code, jt, jf, k) in enumerate(plan):

        def rel(jump: object, index: int = index) -> int:
            if isinstance(jump, int):
                return jump
            offset = targets[str(jump)] - index - 1
            if not 0 <= offset <= 255:
                raise ValueError(f"seccomp: jump of {offset} does not fit a classic BPF instruction")
            return offset

        body.append((code, rel(jt), rel(jf), k))
    body.extend(
        [
            (RET_K, 0, 0, RET_ALLOW),
            (RET_K, 0, 0, RET_ERRNO | errno.EPERM),
            (RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
        ]
    )
    return b"".join(_insn(*insn) for insn in body)


def for_this_machine() -> bytes:
    arch = ARCHES.get(platform.machine().lower())
    if arch is None:
        raise UnsupportedMachine(f"no seccomp syscall table for machine {platform.machine()!r}")
    return program(arch)

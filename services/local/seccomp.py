"""The seccomp filter every sandboxed process runs under: a classic BPF program for `bwrap --seccomp FD`.

It owns the syscall denials of `docs/isolation.md`: terminal injection (TIOCSTI/TIOCLINUX, also the high-bits
variant CVE-2019-10063), the kernel keyring, bpf, userfaultfd, perf, io_uring, every mount API, new namespaces
(unshare, setns, clone with CLONE_NEW*), and clone3 (ENOSYS, whose flags live in memory a filter cannot read, so
libc falls back to clone, whose flags it can). Everything else is allowed: this is a narrow deny list on top of
namespaces and an unprivileged uid, not the boundary by itself.

Generated with `struct` so the host needs no libseccomp. bwrap reads the raw program (an array of
`struct sock_filter`, native endian) from the fd.
"""

from __future__ import annotations

import errno
import platform
import struct
import sys
from dataclasses import dataclass

from services.errors import IsolationUnavailable

# <linux/audit.h>
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7

# <linux/seccomp.h>
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

# <linux/bpf_common.h>
BPF_LD, BPF_W, BPF_ABS = 0x00, 0x00, 0x20
BPF_JMP, BPF_JEQ, BPF_JGE, BPF_JSET, BPF_K = 0x05, 0x10, 0x30, 0x40, 0x00
BPF_RET = 0x06

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
OFF_NR = 0
OFF_ARCH = 4
OFF_ARGS = 16

# x32 syscalls are the x86_64 numbers with this bit set and share AUDIT_ARCH_X86_64, so the arch check alone
# would let them through with numbers this filter does not list.
X32_SYSCALL_BIT = 0x40000000

TIOCSTI = 0x5412
TIOCLINUX = 0x541C

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NAMESPACE_FLAGS = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)

# Syscalls added since Linux 5.1 (424 on) have the same number on x86_64 and aarch64 (the kernel numbers new ones
# alike across architectures), so both tables below take them from here. open_tree_attr (Linux 6.15) is newer
# than Debian 12's headers: 467 in the kernel's own table (arch/x86/entry/syscalls/syscall_64.tbl).
_SINCE_5_1: dict[str, int] = {
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
    "open_tree_attr": 467,
}

# Checked against /usr/include/x86_64-linux-gnu/asm/unistd_64.h (Debian 12).
SYSCALLS_X86_64: dict[str, int] = {
    "ioctl": 16,
    "clone": 56,
    "pivot_root": 155,
    "mount": 165,
    "umount2": 166,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "setns": 308,
    "bpf": 321,
    "userfaultfd": 323,
    **_SINCE_5_1,
}

# aarch64 uses the asm-generic table (/usr/include/asm-generic/unistd.h).
SYSCALLS_AARCH64: dict[str, int] = {
    "ioctl": 29,
    "umount2": 39,
    "mount": 40,
    "pivot_root": 41,
    "unshare": 97,
    "add_key": 217,
    "request_key": 218,
    "keyctl": 219,
    "clone": 220,
    "perf_event_open": 241,
    "setns": 268,
    "bpf": 280,
    "userfaultfd": 282,
    **_SINCE_5_1,
}

# Denied outright with EPERM.
DENIED = (
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "userfaultfd",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    "mount",
    "umount2",
    "setns",
    "unshare",
    "pivot_root",
)


@dataclass(frozen=True)
class Arch:
    name: str
    audit_arch: int
    syscalls: dict[str, int]
    has_x32: bool


ARCHES: dict[str, Arch] = {
    "x86_64": Arch("x86_64", AUDIT_ARCH_X86_64, SYSCALLS_X86_64, has_x32=True),
    "amd64": Arch("x86_64", AUDIT_ARCH_X86_64, SYSCALLS_X86_64, has_x32=True),
    "aarch64": Arch("aarch64", AUDIT_ARCH_AARCH64, SYSCALLS_AARCH64, has_x32=False),
    "arm64": Arch("aarch64", AUDIT_ARCH_AARCH64, SYSCALLS_AARCH64, has_x32=False),
}


def current_arch() -> Arch:
    machine = platform.machine().lower()
    try:
        return ARCHES[machine]
    except KeyError:
        raise IsolationUnavailable(
            f"no seccomp filter for this CPU architecture ({machine or 'unknown'}); supported: x86_64, aarch64"
        ) from None


def _arg_low(index: int) -> int:
    """Offset of the low 32 bits of args[index]: the kernel reads ioctl's cmd and clone's flags as 32-bit values,
    so the high half is exactly what an attacker would vary to dodge a 64-bit comparison."""
    return OFF_ARGS + 8 * index + (0 if sys.byteorder == "little" else 4)


class _Asm:
    """A forward-only assembler: jumps name labels, resolved to the u8 offsets classic BPF wants."""

    def __init__(self) -> None:
        self._ins: list[tuple[int, str | int, str | int, int]] = []
        self._labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self._labels[name] = len(self._ins)

    def load(self, offset: int) -> None:
        self._ins.append((BPF_LD | BPF_W | BPF_ABS, 0, 0, offset))

    def jump(self, op: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self._ins.append((BPF_JMP | op | BPF_K, jt, jf, k))

    def ret(self, k: int) -> None:
        self._ins.append((BPF_RET | BPF_K, 0, 0, k))

    def assemble(self) -> bytes:
        out = bytearray()
        for pc, (code, jt, jf, k) in enumerate(self._ins):
            out += struct.pack("=HBBI", code, self._offset(pc, jt), self._offset(pc, jf), k)
        return bytes(out)

    def _offset(self, pc: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        off = self._labels[target] - pc - 1
        if not 0 <= off <= 255:
            raise ValueError(f"BPF jump to {target} out of range ({off})")
        return off


def build_filter(arch: Arch | None = None) -> bytes:
    """The BPF program for the host's architecture (or `arch`); raises IsolationUnavailable for unknown ones."""
    a = arch or current_arch()
    nr = a.syscalls
    p = _Asm()
    # A syscall from another ABI (int 0x80 on x86_64) has different numbers: nothing below would mean anything.
    p.load(OFF_ARCH)
    p.jump(BPF_JEQ, a.audit_arch, jt=1)
    p.ret(SECCOMP_RET_KILL_PROCESS)
    p.load(OFF_NR)
    if a.has_x32:
        p.jump(BPF_JGE, X32_SYSCALL_BIT, jt="eperm")
    p.jump(BPF_JEQ, nr["ioctl"], jt="ioctl")
    p.jump(BPF_JEQ, nr["clone"], jt="clone")
    p.jump(BPF_JEQ, nr["clone3"], jt="enosys")
    for name in DENIED:
        p.jump(BPF_JEQ, nr[name], jt="eperm")
    p.ret(SECCOMP_RET_ALLOW)

    p.label("ioctl")
    p.load(_arg_low(1))
    p.jump(BPF_JEQ, TIOCSTI, jt="eperm")
    p.jump(BPF_JEQ, TIOCLINUX, jt="eperm")
    p.ret(SECCOMP_RET_ALLOW)

    p.label("clone")
    p.load(_arg_low(0))
    p.jump(BPF_JSET, CLONE_NAMESPACE_FLAGS, jt="eperm")
    p.ret(SECCOMP_RET_ALLOW)

    p.label("eperm")
    p.ret(SECCOMP_RET_ERRNO | errno.EPERM)
    p.label("enosys")
    p.ret(SECCOMP_RET_ERRNO | errno.ENOSYS)
    return p.assemble()

"""The seccomp filter, run for real under bubblewrap (services/local/seccomp.py).

Every probe runs twice: once under the filter (must be denied with the listed errno) and once without it (the
control: must NOT give that answer), so a probe that would pass whether or not the rule exists is caught, not
trusted. Probes whose kernel checks capabilities first run in a child that first tries to unshare a user and mount
namespace, so without the filter they get past the capability check and fail on the bad pointer instead.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.errors import IsolationUnavailable
from services.local import seccomp
from tests.conftest import bwrap_program, require

SANDBOX_UID = 60001

# Runs inside the sandbox. argv[1] is the syscall table (JSON). Prints one JSON object: probe -> outcome.
PROBE = r"""
import ctypes, errno, json, mmap, os, subprocess, sys, threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
NR = json.loads(sys.argv[1])
L = ctypes.c_long
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000


def call(nr, *args):
    nr = NR[nr] if isinstance(nr, str) else nr
    ctypes.set_errno(0)
    r = libc.syscall(L(nr), *[L(a) for a in args])
    return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


def in_child(fn):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            out = fn()
        except BaseException as exc:
            out = "exception: " + repr(exc)
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "signal:%d" % os.WTERMSIG(status)
    return json.loads(data)


def privileged(nr, *args):
    # Without the filter this gains capabilities over a fresh mount namespace, so the call fails on its bad
    # pointer (EFAULT/EBADF), not on a capability check; under the filter the unshare itself is refused.
    def probe():
        libc.unshare(CLONE_NEWUSER | CLONE_NEWNS)
        return call(nr, *args)
    return in_child(probe)


def tty_ioctl(request):
    def probe():
        master, slave = os.openpty()
        os.setsid()
        if libc.ioctl(slave, 0x540E, None) != 0:  # TIOCSCTTY: TIOCSTI needs a controlling tty
            return "no-ctty"
        c = ctypes.c_char(b"x")
        ctypes.set_errno(0)
        r = libc.ioctl(slave, request, ctypes.addressof(c))
        return "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]
    return probe


def clone_newuser():
    ctypes.set_errno(0)
    r = libc.syscall(L(NR["clone"]), L(CLONE_NEWUSER | 17), L(0), L(0), L(0), L(0))  # 17: SIGCHLD
    if r == 0:
        os._exit(0)
    if r < 0:
        return errno.errorcode[ctypes.get_errno()]
    os.waitpid(r, 0)
    return "ok"


def ia32_getpid():
    # mov eax, 20 (getpid in the i386 table); int 0x80; ret
    m = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3]))
    return "ok:%d" % ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()


def thread_runs():
    out = []
    t = threading.Thread(target=lambda: out.append("ok"))
    t.start()
    t.join()
    return out[0] if out else "failed"


x86 = NR.get("ioctl") == 16
res = {
    "tiocsti": in_child(tty_ioctl(0x5412)),
    "tiocsti_high_bits": in_child(tty_ioctl(0x100005412)),
    "tioclinux": in_child(tty_ioctl(0x541C)),
    "unshare_user": in_child(lambda: call("unshare", CLONE_NEWUSER)),
    "clone_newuser": in_child(clone_newuser),
    "clone3": call("clone3", 0, 0),
    "setns": call("setns", -1, 0),
    "keyctl": call("keyctl", 0, -3, 0),
    "add_key": call("add_key", 1, 1, 0, 0, 0),
    "request_key": call("request_key", 1, 1, 0, 0),
    "bpf": call("bpf", 0, 1, 8),
    "userfaultfd": call("userfaultfd", 0x7FFFFFFF),
    "perf_event_open": call("perf_event_open", 1, 0, -1, -1, 0),
    "io_uring_setup": call("io_uring_setup", 1, 1),
    "io_uring_enter": call("io_uring_enter", -1, 0, 0, 0, 0, 0),
    "io_uring_register": call("io_uring_register", -1, 0, 0, 0),
    "mount": privileged("mount", 1, 1, 1, 0, 0),
    "umount2": privileged("umount2", 1, 0),
    "pivot_root": privileged("pivot_root", 1, 1),
    "fsopen": privileged("fsopen", 1, 0),
    "fsconfig": privileged("fsconfig", -1, 0, 0, 0, 0),
    "fsmount": privileged("fsmount", -1, 0, 0),
    "fspick": privileged("fspick", -100, 1, 0),
    "move_mount": privileged("move_mount", -1, 1, -1, 1, 0),
    "open_tree": privileged("open_tree", -100, 1, 0),
    "open_tree_attr": privileged("open_tree_attr", -100, 1, 0, 0, 0),
    "mount_setattr": privileged("mount_setattr", -100, 1, 0, 1, 32),
    "x32_getpid": call(0x40000000 | 39) if x86 else "n/a",
    "ia32_int80": in_child(ia32_getpid) if x86 else "n/a",
    # ordinary work: glibc tries clone3 first for fork and threads, so these also show the ENOSYS fallback
    "fork": in_child(lambda: "ok"),
    "subprocess": subprocess.run(["/usr/bin/true"]).returncode,
    "thread": thread_runs(),
}
print(json.dumps(res))
"""

DENIED_EPERM = [
    "tiocsti",
    "tiocsti_high_bits",
    "tioclinux",
    "unshare_user",
    "clone_newuser",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "userfaultfd",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "mount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
]
X86_ONLY = {"x32_getpid": "EPERM", "ia32_int80": "signal:31"}  # SIGSYS: arch mismatch kills the process
EXPECTED: dict[str, object] = {
    **dict.fromkeys(DENIED_EPERM, "EPERM"),
    "clone3": "ENOSYS",
    "fork": "ok",
    "subprocess": 0,
    "thread": "ok",
}
IS_X86_64 = platform.machine().lower() in ("x86_64", "amd64")
if IS_X86_64:
    EXPECTED.update(X86_ONLY)


def _drop_to_sandbox_uid() -> None:
    os.setgroups([])
    os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)


def run_probe(with_filter: bool) -> dict[str, Any]:
    fd = os.memfd_create("seccomp")
    try:
        os.write(fd, seccomp.build_filter())
        os.lseek(fd, 0, os.SEEK_SET)
        argv = [
            bwrap_program(),
            "--unshare-user",
            "--unshare-pid",
            "--die-with-parent",
            "--new-session",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc",
            "--dev", "/dev",
        ]  # fmt: skip
        if with_filter:
            argv += ["--seccomp", str(fd)]
        argv += ["--", "python3", "-c", PROBE, json.dumps(seccomp.current_arch().syscalls)]
        preexec: Callable[[], None] | None = _drop_to_sandbox_uid if os.geteuid() == 0 else None
        proc = subprocess.run(
            argv,
            pass_fds=[fd],
            preexec_fn=preexec,
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
        )
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def filtered() -> dict[str, Any]:
    return run_probe(with_filter=True)


@pytest.fixture(scope="module")
def unfiltered() -> dict[str, Any]:
    return run_probe(with_filter=False)


@pytest.mark.bwrap
@pytest.mark.parametrize("probe", sorted(EXPECTED))
def test_filter_outcome(filtered: dict[str, Any], probe: str) -> None:
    assert filtered[probe] == EXPECTED[probe]


@pytest.mark.bwrap
def test_every_probe_discriminates(unfiltered: dict[str, Any]) -> None:
    """Without the filter no denial probe gets the filter's answer: each one would notice a missing rule."""
    same = {p: unfiltered[p] for p, want in EXPECTED.items() if want not in ("ok", 0) and unfiltered[p] == want}
    assert not same, f"probes that cannot tell the filter is there: {same}"
    # TIOCSTI without the filter really injects (the attack is live on this kernel), high-bits variant included
    assert unfiltered["tiocsti"] in ("ok", "EIO")  # EIO where dev.tty.legacy_tiocsti=0
    assert unfiltered["tiocsti_high_bits"] == unfiltered["tiocsti"]


def test_program_shape() -> None:
    prog = seccomp.build_filter()
    assert len(prog) % 8 == 0 and 0 < len(prog) // 8 < 4096
    code, _jt, _jf, k = struct.unpack_from("=HBBI", prog, 0)
    assert (code, k) == (0x20, seccomp.OFF_ARCH)  # the arch is the first thing checked
    code, jt, _jf, k = struct.unpack_from("=HBBI", prog, 8)
    assert (code, jt, k) == (0x15, 1, seccomp.current_arch().audit_arch)
    code, _jt, _jf, k = struct.unpack_from("=HBBI", prog, 16)
    assert (code, k) == (0x06, seccomp.SECCOMP_RET_KILL_PROCESS)


def test_aarch64_program_builds_without_x32_rule() -> None:
    prog = seccomp.build_filter(seccomp.ARCHES["aarch64"])
    ins = [struct.unpack_from("=HBBI", prog, i) for i in range(0, len(prog), 8)]
    assert ins[1][3] == seccomp.AUDIT_ARCH_AARCH64
    assert all(k != seccomp.X32_SYSCALL_BIT for _, _, _, k in ins)
    assert any(code == 0x15 and k == seccomp.SYSCALLS_AARCH64["clone3"] for code, _, _, k in ins)


def test_unknown_architecture_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    with pytest.raises(IsolationUnavailable, match="riscv64"):
        seccomp.build_filter()


def test_errnos_are_the_documented_ones() -> None:
    assert seccomp.SECCOMP_RET_ERRNO | errno.EPERM == 0x00050001
    assert seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS == 0x00050026


def _header_numbers(path: Path) -> dict[str, int]:
    text = path.read_text()
    out: dict[str, int] = {}
    for name, value in re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)\b", text):
        out.setdefault(name, int(value))
    return out


@pytest.mark.parametrize(
    ("table", "header"),
    [
        (seccomp.SYSCALLS_X86_64, "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
        (seccomp.SYSCALLS_AARCH64, "/usr/include/asm-generic/unistd.h"),
    ],
)
def test_syscall_numbers_match_kernel_headers(table: dict[str, int], header: str) -> None:
    path = Path(header)
    require("/usr/include/asm-generic/unistd.h")  # linux-libc-dev: the generic table and, on x86_64, its own
    if not path.exists():
        if platform.machine() != "x86_64":
            pytest.skip(f"{header} comes with linux-libc-dev only on x86_64 hosts")
        raise AssertionError(f"{header} is missing although linux-libc-dev is installed")
    known = _header_numbers(path)
    checked = {name: nr for name, nr in table.items() if name in known}
    assert len(checked) >= len(table) - 1  # only syscalls newer than the headers may be missing
    assert checked == {name: known[name] for name in checked}

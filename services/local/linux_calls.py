"""The two Linux file syscalls Python has no wrapper for, through ctypes: `openat2(2)` with the resolve flags the
workspace file API needs (beneath the directory fd, no symlinks, no magic links, no mount crossings), and
`renameat2(2)` (for `RENAME_NOREPLACE`). Both raise `OSError` with the kernel's errno, so a caller can fall back on
ENOSYS/EPERM (an old kernel, a seccomp profile that predates them) exactly as for a built-in call.

`openat2_available()` says whether this kernel (and any seccomp profile we run under) allows `openat2`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform

__all__ = ["RENAME_NOREPLACE", "openat2", "openat2_available", "renameat2"]

_SYS_OPENAT2 = 437  # the same number on x86_64 and aarch64 (the unified syscall table, Linux 5.6+)
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV
RENAME_NOREPLACE = 1
_DIR_PATH = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC  # a handle for *at() calls


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_renameat2_fn = getattr(_libc, "renameat2", None)  # glibc >= 2.28; else the raw syscall
if _renameat2_fn is not None:
    _renameat2_fn.restype = ctypes.c_int
    _renameat2_fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]


def openat2(dir_fd: int, path: str, flags: int) -> int:
    """openat2(2) beneath `dir_fd`, no symlinks, no magic links, no mount crossings. Raises OSError."""
    how = _OpenHow(flags, 0, _RESOLVE)
    raw = os.fsencode(path or ".")
    for _ in range(8):
        # ctypes drops the GIL for the call, so a slow filesystem does not stall the app's other threads.
        fd = _syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(raw),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        # EAGAIN: RESOLVE_BENEATH saw a concurrent rename/mount and could not prove containment; try again.
        if err not in (errno.EINTR, errno.EAGAIN):
            raise OSError(err, os.strerror(err))
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))


def renameat2(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> None:
    a, b = os.fsencode(src), os.fsencode(dst)
    if _renameat2_fn is not None:
        rc = _renameat2_fn(src_fd, a, dst_fd, b, flags)
    else:
        nr = _SYS_RENAMEAT2.get(platform.machine())
        if nr is None:
            raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
        rc = _syscall(
            ctypes.c_long(nr),
            ctypes.c_int(src_fd),
            ctypes.c_char_p(a),
            ctypes.c_int(dst_fd),
            ctypes.c_char_p(b),
            ctypes.c_uint(flags),
        )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def openat2_available() -> bool:
    """Whether this kernel (and any seccomp profile we run under) lets us use openat2."""
    base = os.open("/", _DIR_PATH)
    try:
        os.close(openat2(base, ".", _DIR_PATH))
    except OSError:
        return False
    finally:
        os.close(base)
    return True

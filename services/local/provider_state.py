"""The state every part of `LocalProvider` shares, and the provider's opening and closing (services/local/provider.py).

`ProviderState` owns what the provider is built on: the data directory's folders, the state database (`Store`),
the volumes, the launcher, the session host client, the activity log and the per-sandbox caches (file APIs, disk
usage, locks). It answers the questions every part asks (where a sandbox's folders are, its row, its runtime, its
file API), and on opening it recovers from what a crash left (`_recover`). The jobs built on it are mixins that
subclass it: the lifecycle (provider.py), files (provider_files.py), exec and terminals (provider_exec.py),
observation (provider_observe.py) and named snapshots (provider_snapshots.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from services.errors import NotRunning, SandbenchError, SandboxNotFound, StateDatabaseDamaged
from services.local import meta
from services.local.activity import ActivityLog
from services.local.fsapi import WorkspaceFS
from services.local.host_client import HostClient
from services.local.launch import Launcher, SandboxRuntime, proc_starttime
from services.local.store import Row, SnapshotRow, Store
from services.local.volumes import LocalVolumes
from services.models import BwrapChoice, Isolation, SandboxState
from services.state_db import NAME as STATE_DB

if TYPE_CHECKING:
    from services.local.kept_states import KeptStates

log = logging.getLogger(__name__)


def from_epoch(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _pid_alive(creator: str | None) -> bool:
    """`creator` is 'pid:starttime' (`creator_mark`): alive only if that very process still runs (pids get reused)."""
    pid_s, _, start = (creator or "").partition(":")
    return pid_s.isdigit() and bool(start) and proc_starttime(int(pid_s)) == start


def _is_debris(folder: Path) -> bool:
    """A sandbox folder left by a failed create: no metadata, no archive, no files in its workspace. Anything
    else may be someone's work (an older version wrote no meta.json) and is kept for `doctor --repair` to report."""
    from services.local.kept_states import has_archive

    if has_archive(folder):
        return False
    try:
        return not os.listdir(folder / "workspace")
    except FileNotFoundError:
        return True
    except OSError:
        return False


def snapshot_meta(s: SnapshotRow) -> meta.SnapshotMeta:
    return meta.SnapshotMeta(owner=s.owner, name=s.name, source=s.source, created_at=s.created_at)


def creator_mark() -> str:
    """This process, as a row's `creator` marks it: 'pid:starttime' (`_pid_alive` tells if it still runs)."""
    return f"{os.getpid()}:{proc_starttime(os.getpid())}"


class ProviderState:
    """The local provider's shared state and the helpers over it; `LocalProvider` (provider.py) is this plus its
    jobs' mixins."""

    name = "local"

    def __init__(
        self,
        data_dir: Path,
        *,
        owner_label: str = "sandbench.owner",
        isolation_required: bool = False,
        bwrap: str | None = None,  # the config key `bwrap`; None: $SANDBENCH_BWRAP, else "auto"
        session_host: bool = False,  # terminals live in the per-user session host (the app, the CLI)
    ):
        self.data_dir = data_dir
        self.owner_label = owner_label
        self.root_mode = os.geteuid() == 0
        for d in (data_dir, data_dir / "sandboxes", data_dir / "snapshots", data_dir / "run"):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(data_dir, 0o711)
        os.chmod(data_dir / "sandboxes", 0o711)
        os.chmod(data_dir / "snapshots", 0o700)
        os.chmod(data_dir / "run", 0o700)
        self._fs: dict[str, WorkspaceFS] = {}
        self._kept: KeptStates | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._usage_cache: dict[str, tuple[float, int]] = {}  # before _recover: its temp sweep uses them
        self.store = Store(data_dir / STATE_DB)
        self.volumes = LocalVolumes(data_dir, self.store, shared=self.root_mode)
        self._vol_fs: dict[tuple[str, str], WorkspaceFS] = {}  # (sandbox, volume) -> the file API in the volume
        try:
            self._recover()
            self.volumes.recover()
        except BaseException:
            self.store.close()
            raise
        self.activity = ActivityLog(data_dir / "state.db")  # typing is activity: recorded off the event loop
        self.launcher = Launcher(data_dir / "run", isolation_required=isolation_required, bwrap_setting=bwrap)
        self.launcher.start_probe()
        # With the session host, shells outlive this process (quit the app, open it again: the same shells);
        # without it (serve, which keeps its own sessions; tests of the PTY itself) they are this process's.
        self._host: HostClient | None = (
            HostClient(data_dir, bwrap=bwrap, isolation_required=isolation_required) if session_host else None
        )

    # -- helpers --------------------------------------------------------------------------------------------
    def _dir(self, sandbox_id: str) -> Path:
        return self.data_dir / "sandboxes" / sandbox_id

    def _workspace(self, sandbox_id: str) -> Path:
        return self._dir(sandbox_id) / "workspace"

    def workspace_path(self, sandbox_id: str) -> Path:
        """The workspace's host directory, for watching it (never for opening files: use the file API)."""
        return self._workspace(sandbox_id)

    @property
    def kept(self) -> KeptStates:
        """Snapshots and archives in the checkpoint store (made on first use: its import is not free)."""
        if self._kept is None:
            from services.local.kept_states import KeptStates

            self._kept = KeptStates(self.data_dir)
        return self._kept

    def _lock(self, sandbox_id: str) -> asyncio.Lock:
        return self._locks.setdefault(sandbox_id, asyncio.Lock())

    def _row(self, sandbox_id: str) -> Row:
        row = self.store.get(sandbox_id)
        if row is None:
            raise SandboxNotFound(f"no sandbox {sandbox_id!r}")
        return row

    def _running_row(self, sandbox_id: str) -> Row:
        row = self._row(sandbox_id)
        if row.state is not SandboxState.STARTED:
            raise NotRunning(f"sandbox {row.name!r} is {row.state}")
        return row

    def _runtime(self, row: Row) -> SandboxRuntime:
        return SandboxRuntime(
            sandbox_id=row.id,
            workspace=self._workspace(row.id),
            resources=row.resources,
            network=row.network,
            uid=row.uid,
            gid=row.gid,
            volumes=tuple((self.volumes.data_path(m.volume), m.path) for m in row.volumes),
        )

    def _fs_for(self, row: Row) -> WorkspaceFS:
        fs = self._fs.get(row.id)
        if fs is None:
            fs = WorkspaceFS(
                self._workspace(row.id),
                owner_uid=row.uid,
                owner_gid=row.gid,
                disk_limit_bytes=row.resources.disk_bytes,
                journal=self._journal(row.id),
            )
            self._fs[row.id] = fs
        return fs

    def _journal(self, sandbox_id: str) -> Path:
        """Where the file API records its in-flight temp files: beside the workspace, out of the sandbox's reach."""
        return self._dir(sandbox_id) / "writes"

    def _sweep_temps(self, row: Row) -> None:
        """Remove what writes killed mid-way left in the workspace (`WorkspaceFS.sweep_temps`). Best effort: a
        failure is logged, never in the way of a start or stop."""
        if not any(self._journal(row.id).glob("*")):
            return
        try:
            fs = self._fs.get(row.id)
            if fs is not None:
                removed = fs.sweep_temps()
            else:
                with WorkspaceFS(self._workspace(row.id), journal=self._journal(row.id)) as once:
                    removed = once.sweep_temps()
        except (OSError, SandbenchError):
            log.exception("sweeping the temp files of %s", row.id)
            return
        if removed:
            log.info("removed %d temp file(s) left by interrupted writes in %s", removed, row.id)
            self._usage_cache.pop(row.id, None)

    def _drop_fs(self, sandbox_id: str) -> None:
        fs = self._fs.pop(sandbox_id, None)
        if fs is not None:
            fs.close()
        for key in [k for k in self._vol_fs if k[0] == sandbox_id]:
            self._vol_fs.pop(key).close()

    def isolation(self) -> Isolation:
        return self.launcher.isolation()

    @property
    def bwrap(self) -> BwrapChoice | None:
        """The bubblewrap in force (path, source, version), for display; None when none was found."""
        return self.launcher.bwrap

    def _usage(self, row: Row) -> int | None:
        hit = self._usage_cache.get(row.id)
        now = time.monotonic()
        if hit and now - hit[0] < 5:
            return hit[1]
        if not self._workspace(row.id).is_dir():
            return None
        try:
            used = self._fs_for(row).usage()
        except Exception:
            log.exception("usage of %s", row.id)
            return None
        self._usage_cache[row.id] = (now, used)
        return used

    def _recover(self) -> None:
        """Remove sandboxes whose `create` died half-way (creator process gone); refuse a database that lost its
        rows; write the metadata files a repair needs where an older version did not; remove the temp files of
        writes killed mid-way (`_sweep_temps`)."""
        rows = self.store.all()
        for row in rows:
            if row.state is SandboxState.STARTING and row.error == "creating" and not _pid_alive(row.creator):
                log.warning("removing half-created sandbox %s (%s)", row.name, row.id)
                shutil.rmtree(self._dir(row.id), ignore_errors=True)
                self.store.delete(row.id)
        for row in self.store.all():
            if row.state is SandboxState.STOPPING and row.error == "archiving" and not _pid_alive(row.creator):
                # an archive killed part-way: the marker is written only once the checkpoint is durable, and
                # the workspace removed only after it, so the marker says which side of that line it died on
                from services.local.kept_states import has_archive

                done = has_archive(self._dir(row.id))
                log.warning("finishing the interrupted archive of %s (%s)", row.name, "archived" if done else "kept")
                state = SandboxState.ARCHIVED if done else SandboxState.STOPPED
                self.store.update(row.id, state=state, error=None, creator=None)
        rows = self.store.all()
        known = {r.id for r in rows}
        unlisted = []
        for d in (self.data_dir / "sandboxes").iterdir():
            if d.name in known:
                continue
            if (d / meta.META_FILE).exists():
                unlisted.append(d.name)
            elif time.time() - d.stat().st_mtime > 60 and _is_debris(d):
                shutil.rmtree(d, ignore_errors=True)
        if unlisted and not rows:
            # an emptied or replaced file (sqlite takes a zero-length file for a new database)
            raise StateDatabaseDamaged(self.store.path, f"it lists none of the {len(unlisted)} sandbox folders")
        if unlisted:
            log.warning("sandbox folders not in the state database (sandbench doctor --repair): %s", unlisted)
        for row in rows:
            if row.state is not SandboxState.STARTING and not (self._dir(row.id) / meta.META_FILE).exists():
                with contextlib.suppress(OSError):
                    self._write_meta(row)
        snaps_dir = self.data_dir / "snapshots"
        for snap in self.store.snapshots():
            if not meta.snapshot_meta_path(snaps_dir, snap.file).exists() and (snaps_dir / snap.file).exists():
                with contextlib.suppress(OSError):
                    meta.write_snapshot_meta(snaps_dir, snap.file, snapshot_meta(snap))
        for row in rows:
            self._sweep_temps(row)

    def _write_meta(self, row: Row) -> None:
        """Rewrite `sandboxes/<id>/meta.json` from the row (call after every change to one of its fields)."""
        meta.write_sandbox_meta(
            self._dir(row.id),
            meta.SandboxMeta(
                id=row.id,
                name=row.name,
                owner=row.owner,
                labels=row.labels,
                resources=row.resources,
                auto_stop=row.auto_stop,
                network=row.network,
                ephemeral=row.auto_delete == 0,
                uid=row.uid,
                gid=row.gid,
                created_at=row.created_at,
                auto_archive=row.auto_archive,
                auto_delete=row.auto_delete,
                volumes=row.volumes,
            ),
        )

    async def close(self) -> None:
        for sid in {*self._fs, *(k[0] for k in self._vol_fs)}:
            self._drop_fs(sid)
        await self.activity.close()
        self.store.close()

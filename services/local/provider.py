"""LocalProvider: sandboxes on this machine, isolated with bubblewrap, state in SQLite (DESIGN §3 `local/`).

Layout under the data directory (its folders are 0711, listable by nobody else; the folders above it may be 0700:
as root the launcher binds each workspace for bwrap, see launch.py):

    state.db                 SQLite (WAL), 0600
    sandboxes/<id>/workspace the sandbox's home: 0700, owned by the sandbox's uid
    sandboxes/<id>/meta.json name, owner, labels, spec, uid (services/local/meta.py): what a repair rebuilds from
    sandboxes/<id>/archive.ckpt     while archived: the checkpoint in store/ holding the workspace (kept_states.py)
    sandboxes/<id>/archive.tar.gz   an archive an older version packed (extracted the old way on start)
    store/                   the checkpoint store (services/checkpoints/store.py): checkpoints, named snapshots,
                             archives — one content-addressed store of workspace states (DESIGN §8)
    snapshots/<stem>.tar.gz  named snapshots an older version made, each with its `<stem>.json` (owner, name, source)
    volumes/<id>/            named volumes (services/local/volumes.py), mounted into the sandboxes that ask
    run/<id>/<pid>           outer bwrap pids, so `stop` from any process finds every process of the sandbox

A `create` interrupted by a crash leaves a row in state `starting` marked with its creator's pid; the next
provider to open the store finds the creator gone and removes the half-made sandbox. A sandbox folder holding a
`meta.json` is never removed for lacking a row: that is a damaged or replaced database, and `sandbench doctor
--repair` brings the row back.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from services.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    IsolationUnavailable,
    NameRejected,
    NotRunning,
    ProviderError,
    SandbenchError,
    SandboxNotFound,
    SnapshotNotFound,
    StateDatabaseDamaged,
)
from services.local import meta, procfs
from services.local.activity import ActivityLog
from services.local.cgroups import CgroupUsage
from services.local.fsapi import AtomicWrite, WorkspaceFS
from services.local.host_client import HostClient, HostTerminal
from services.local.launch import Launcher, SandboxRuntime, proc_starttime
from services.local.pty import LocalTerminal, set_winsize
from services.local.store import Row, SnapshotRow, Store, mounts_json
from services.local.volumes import LocalVolumes
from services.metrics import MetricsReading
from services.models import (
    BwrapChoice,
    ExecResult,
    FileData,
    FileEntry,
    Isolation,
    SandboxInfo,
    SandboxSpec,
    SandboxState,
    SnapshotInfo,
    TerminalInfo,
    VolumeInfo,
    resolve_auto_archive,
    resolve_auto_delete,
)
from services.proc_parse import ProcTable, Socket
from services.provider import OutputCallback, Stdin
from services.state_db import NAME as STATE_DB
from services.volumes import home_relative, mounted_path

if TYPE_CHECKING:
    from services.local.kept_states import KeptStates

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")
MAX_LABEL_VALUE = 256
# Dedicated sandbox uids when the app runs as root: far above distro-allocated ranges (and subuid ranges start at
# 100000 with 65536 each), drawn at random from a wide range because several data directories (other users'
# instances, test runs) share one machine and a uid must belong to exactly one sandbox.
UID_BASE = 420_000
UID_SPAN = 1 << 21
STOP_TIMEOUT = 10.0


def validate_sandbox_name(name: str, what: str = "sandbox name") -> str:
    if not NAME_RE.match(name):
        raise NameRejected(
            f"invalid {what} {name[:80]!r}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def validate_labels(labels: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for key, value in labels.items():
        if not LABEL_KEY_RE.match(key):
            raise NameRejected(f"invalid label key {key[:80]!r}")
        # printable only: control characters, C1 escapes (0x9b is a CSI) and bidi overrides are refused here
        # rather than trusted to every place that will ever display a label
        if len(value) > MAX_LABEL_VALUE or not value.isprintable():
            raise NameRejected(f"invalid value for label {key!r}")
        out[key] = value
    return out


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _pid_alive(creator: str | None) -> bool:
    """`creator` is 'pid:starttime' (see `_me`): alive only if that very process still runs (pids get reused)."""
    pid_s, _, start = (creator or "").partition(":")
    return pid_s.isdigit() and bool(start) and proc_starttime(int(pid_s)) == start


def _proc_stats() -> list[os.stat_result]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                out.append(os.stat(entry.path))
    return out


def _uid_has_name(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


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


def _snap_meta(s: SnapshotRow) -> meta.SnapshotMeta:
    return meta.SnapshotMeta(owner=s.owner, name=s.name, source=s.source, created_at=s.created_at)


def _me() -> str:
    return f"{os.getpid()}:{proc_starttime(os.getpid())}"


class LocalProvider:
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

    def _free_uid(self, con: sqlite3.Connection) -> int:
        in_use = {st.st_uid for st in _proc_stats()}
        for _ in range(1000):
            uid = UID_BASE + secrets.randbelow(UID_SPAN)
            if uid in in_use or self.store.uid_taken(con, uid) or _uid_has_name(uid):
                continue
            return uid
        raise ProviderError("no free sandbox uid")

    def _info(self, row: Row, *, usage: bool = False) -> SandboxInfo:
        used = None
        if usage and row.state in (SandboxState.STARTED, SandboxState.STOPPED):
            used = self._usage(row)
        elif usage and row.state is SandboxState.ARCHIVED:
            if self.kept.archived(self._dir(row.id)):
                used = self.kept.archived_bytes(self._dir(row.id), row.id)
            else:
                with contextlib.suppress(OSError):
                    used = (self._dir(row.id) / "archive.tar.gz").stat().st_size
        return SandboxInfo(
            id=row.id,
            name=row.name,
            state=row.state,
            provider=self.name,
            owner=row.labels.get(self.owner_label),
            labels=row.labels,
            resources=row.resources,
            auto_stop_minutes=row.auto_stop,
            created_at=_ts(row.created_at),
            last_activity=_ts(max(row.last_activity, self.activity.last(row.id))),
            isolation=self.launcher.isolation(),
            bwrap=self.launcher.bwrap,
            network=row.network,
            ephemeral=row.auto_delete == 0,
            disk_used_bytes=used,
            disk_limit_soft=True,
            error=None if row.state is not SandboxState.ERROR else row.error,
            auto_archive_minutes=row.auto_archive,
            auto_delete_minutes=row.auto_delete,
            stopped_at=_ts(row.stopped_at) if row.stopped_at is not None else None,
            volumes=row.volumes,
        )

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
                    meta.write_snapshot_meta(snaps_dir, snap.file, _snap_meta(snap))
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

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def list(self) -> builtins.list[SandboxInfo]:
        # The store is read on the event loop's thread only: a query is well under a millisecond, and a
        # connection closed (provider.close at teardown) while a worker thread is inside it crashes sqlite.
        # Disk usage walks the workspace, so it is the service's separate, threaded `disk_usage` call.
        return [self._info(r) for r in self.store.all()]

    async def get(self, sandbox_id: str) -> SandboxInfo:
        return self._info(self._row(sandbox_id))

    async def create(self, spec: SandboxSpec, owner: str) -> SandboxInfo:
        return await self._create(spec, owner, snapshot=None)

    async def create_from_snapshot(self, snapshot: str, spec: SandboxSpec, owner: str) -> SandboxInfo:
        snap = self.store.snapshot(owner, snapshot)
        if snap is None:
            raise SnapshotNotFound(f"no snapshot {snapshot!r}")
        return await self._create(spec, owner, snapshot=snap)

    async def _create(self, spec: SandboxSpec, owner: str, *, snapshot: SnapshotRow | None) -> SandboxInfo:
        validate_sandbox_name(spec.name)
        labels = validate_labels(spec.labels)
        labels[self.owner_label] = owner
        sandbox_id = secrets.token_hex(6)
        now = time.time()
        if spec.volumes and self.root_mode and self.launcher.binds_workspace_by_path:
            # the volumes folder is root's alone (0700): only the launcher's own bind (as root) can reach it
            raise IsolationUnavailable(
                "volumes cannot be mounted here: the launcher has no mount point to bind them on as root",
                public="volumes cannot be mounted on this host (see 'sandbench doctor')",
            )
        try:
            with self.store.tx() as con:
                if self.store.by_name(owner, spec.name) is not None:
                    raise AlreadyExists(f"a sandbox named {spec.name!r} already exists")
                mounts = self.volumes.resolve(spec.volumes, owner)
                uid = gid = None
                if self.root_mode:
                    uid = gid = self._free_uid(con)
                self.store.insert(
                    con,
                    {
                        "id": sandbox_id,
                        "name": spec.name,
                        "owner": owner,
                        "state": str(SandboxState.STARTING),
                        "labels": json.dumps(labels, sort_keys=True),
                        "cpu": spec.resources.cpu,
                        "memory_gib": spec.resources.memory_gib,
                        "disk_gib": spec.resources.disk_gib,
                        "auto_stop": spec.auto_stop_minutes,
                        "network": int(spec.network),
                        "ephemeral": int(spec.auto_delete_minutes == 0),
                        "auto_archive": resolve_auto_archive(spec.auto_archive_minutes),
                        "auto_delete": resolve_auto_delete(spec.auto_delete_minutes),
                        "uid": uid,
                        "gid": gid,
                        "created_at": now,
                        "last_activity": now,
                        "error": "creating",
                        "creator": _me(),
                        "volumes": mounts_json(mounts),
                    },
                )
        except Exception as exc:
            if "UNIQUE constraint" in str(exc):
                raise AlreadyExists(f"a sandbox named {spec.name!r} already exists") from exc
            raise
        try:
            await asyncio.to_thread(self._make_workspace, sandbox_id, uid, gid, snapshot)
            await asyncio.to_thread(self._write_meta, self._row(sandbox_id))
            if os.environ.get("SANDBENCH_FAULT") == "create-crash":  # fault injection for the crash test only
                os._exit(70)
            self.store.update(sandbox_id, state=SandboxState.STARTED, error=None, creator=None)
            if mounts:
                self.store.volumes_used([m.volume for m in mounts], now)
        except BaseException:
            shutil.rmtree(self._dir(sandbox_id), ignore_errors=True)
            self.store.delete(sandbox_id)
            if snapshot is not None:  # its first checkpoint, if it got that far
                with contextlib.suppress(OSError, SandbenchError):
                    await asyncio.to_thread(self.kept.forget_sandbox, sandbox_id)
            raise
        return self._info(self._row(sandbox_id))

    def _make_workspace(self, sandbox_id: str, uid: int | None, gid: int | None, snap: SnapshotRow | None) -> None:
        from services.local.kept_states import is_store_snapshot

        d = self._dir(sandbox_id)
        d.mkdir(mode=0o711)
        os.chmod(d, 0o711)
        ws = self._workspace(sandbox_id)
        legacy = snap is not None and not is_store_snapshot(snap.file)
        if snap is not None and legacy:
            self._extract(self.data_dir / "snapshots" / snap.file, d, uid, gid)  # a tar.gz an older version made
        else:
            ws.mkdir(mode=0o700)
        os.chmod(ws, 0o700)
        owner = (uid, gid) if uid is not None and gid is not None else None
        if owner is not None:
            os.chown(ws, *owner)
        if snap is not None and not legacy:
            # the snapshot is the creating owner's own (create_from_snapshot looks it up by owner)
            self.kept.fill_from_snapshot(snap.file, sandbox_id, ws, owner, self._journal(sandbox_id), snap.owner)

    def _extract(self, archive: Path, into: Path, uid: int | None, gid: int | None) -> None:
        """Unpack a workspace archive we made ourselves into `into/workspace`, owned by the sandbox uid."""
        staging = into / "workspace.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        import tarfile  # archive and snapshot only: not worth its import time at start-up

        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if uid is not None and gid is not None:
                    member.uid, member.gid = uid, gid
            tar.extractall(staging, filter="tar")  # our own archive; the 'tar' filter bounds it
        if uid is not None and gid is not None:
            for root, dirs, files in os.walk(staging):
                for n in dirs + files:
                    os.lchown(os.path.join(root, n), uid, gid)
        staging.rename(into / "workspace")

    async def start(self, sandbox_id: str) -> SandboxInfo:
        async with self._lock(sandbox_id):
            row = self._row(sandbox_id)
            if row.state is SandboxState.STARTED:
                return self._info(row)
            if row.state not in (SandboxState.STOPPED, SandboxState.ARCHIVED, SandboxState.ERROR):
                raise ProviderError(f"sandbox {row.name!r} is {row.state}; cannot start it now")
            self.store.update(sandbox_id, state=SandboxState.STARTING)
            try:
                owner = (row.uid, row.gid) if row.uid is not None and row.gid is not None else None
                if self.kept.archived(self._dir(sandbox_id)):
                    # in the store (also after an archive interrupted once its checkpoint was durable)
                    await asyncio.to_thread(
                        self.kept.unarchive, self._dir(sandbox_id), sandbox_id, owner, self._journal(sandbox_id)
                    )
                elif row.state is SandboxState.ARCHIVED:
                    archive = self._dir(sandbox_id) / "archive.tar.gz"  # packed by an older version
                    await asyncio.to_thread(self._extract, archive, self._dir(sandbox_id), row.uid, row.gid)
                    archive.unlink()
                if not self._workspace(sandbox_id).is_dir():
                    raise ProviderError(f"sandbox {row.name!r} has lost its workspace")
                await asyncio.to_thread(self._sweep_temps, row)
                self.store.update(
                    sandbox_id, state=SandboxState.STARTED, error=None, last_activity=time.time(), stopped_at=None
                )
            except Exception as exc:
                self.store.update(sandbox_id, state=SandboxState.ERROR, error=str(exc)[:200])
                if isinstance(exc, ProviderError):
                    raise
                raise ProviderError(f"could not start {row.name!r}") from exc
            return self._info(self._row(sandbox_id))

    async def stop(self, sandbox_id: str) -> SandboxInfo:
        async with self._lock(sandbox_id):
            row = self._row(sandbox_id)
            if row.state in (SandboxState.STOPPED, SandboxState.ARCHIVED):
                return self._info(row)
            self.store.update(sandbox_id, state=SandboxState.STOPPING)
            await self.activity.flush()  # the last typing before a stop is kept
            await self._forget_terminals(sandbox_id)
            ok = await asyncio.to_thread(self.launcher.kill_all, sandbox_id, row.uid, STOP_TIMEOUT)
            await asyncio.to_thread(self._sweep_temps, row)
            self._drop_fs(sandbox_id)
            if not ok:
                self.store.update(sandbox_id, state=SandboxState.ERROR, error="processes survived stop")
                raise ProviderError(f"some processes of {row.name!r} could not be stopped")
            self.store.update(sandbox_id, state=SandboxState.STOPPED, stopped_at=time.time())
        if row.auto_delete == 0:
            await self.delete(sandbox_id)
            return dataclasses.replace(self._info(row), state=SandboxState.DELETED)
        return self._info(self._row(sandbox_id))

    async def delete(self, sandbox_id: str) -> None:
        async with self._lock(sandbox_id):
            await self._delete_locked(self._row(sandbox_id))
        self._locks.pop(sandbox_id, None)

    async def _delete_locked(self, row: Row) -> None:
        await self._forget_terminals(row.id)
        ok = await asyncio.to_thread(self.launcher.kill_all, row.id, row.uid, STOP_TIMEOUT)
        if not ok:
            raise ProviderError(f"some processes of {row.name!r} could not be stopped; not deleting")
        self._drop_fs(row.id)
        await asyncio.to_thread(self.launcher.remove_cgroup, row.id)
        # rmtree uses fd-based traversal and never follows symlinks planted in the workspace
        await asyncio.to_thread(shutil.rmtree, self._dir(row.id), True)
        self.store.delete(row.id)
        self.activity.forget(row.id)
        try:  # its checkpoints (an archive's whole workspace among them) go too; its named snapshots stay
            await asyncio.to_thread(self.kept.forget_sandbox, row.id)
        except (OSError, SandbenchError):
            log.exception("dropping the checkpoints of deleted sandbox %s (they stay in the store)", row.id)

    async def archive(self, sandbox_id: str) -> SandboxInfo:
        row = self._row(sandbox_id)
        if row.state is SandboxState.ARCHIVED:
            return self._info(row)
        if row.state is not SandboxState.STOPPED:
            await self.stop(sandbox_id)
        async with self._lock(sandbox_id):
            row = self._row(sandbox_id)
            if row.state is SandboxState.ARCHIVED:
                return self._info(row)
            if not await self._archive_locked(row):
                raise Conflict(f"sandbox {row.name!r} is {row.state}; not archiving it now")
            return self._info(self._row(sandbox_id))

    async def _archive_locked(self, row: Row) -> bool:
        """Checkpoint a stopped sandbox's workspace into the store, then remove it (services/local/kept_states.py).
        False if the row was no longer stopped (since `row.stopped_at`) when claimed: another process (the app's
        reaper, `sandbench serve`'s) started or archived it meanwhile."""
        # marked with this process, so a provider opening the store after a kill finishes it (`_recover`)
        if row.state is not SandboxState.STOPPED or not self.store.claim(
            row.id, SandboxState.STOPPED, row.stopped_at, state=SandboxState.STOPPING, error="archiving", creator=_me()
        ):
            return False
        ws = self._workspace(row.id)
        try:
            await asyncio.to_thread(self.kept.archive, self._dir(row.id), row.id, ws, row.owner)
        except BaseException:
            # no marker: the workspace is as it was
            self.store.update(row.id, state=SandboxState.STOPPED, error=None, creator=None)
            raise
        # The checkpoint is durable and the marker names it: from here on the store holds the workspace, so any
        # failure still ends archived (a start restores from the checkpoint, whatever of the folder is left).
        try:
            fault = os.environ.get("SANDBENCH_FAULT")  # fault injection for the tests only
            if fault == "archive-crash":
                os._exit(70)
            if fault == "archive-before-remove":
                raise ProviderError("archive interrupted (fault injection)")
            await asyncio.to_thread(shutil.rmtree, ws)
        finally:
            self.store.update(row.id, state=SandboxState.ARCHIVED, error=None, creator=None)
            self._usage_cache.pop(row.id, None)
        return True

    async def expire(self, sandbox_id: str, action: str, stopped_at: float) -> bool:
        """The reaper's archive or delete of a sandbox stopped since `stopped_at` (`LifecycleExpiry`): done only if
        it is still stopped (or archived, for a delete) since exactly then, so a sandbox started or changed by any
        process meanwhile is left alone (False)."""
        async with self._lock(sandbox_id):
            row = self.store.get(sandbox_id)
            # the caller's time came through a datetime (microseconds): equal within a millisecond is the same stop
            if row is None or row.stopped_at is None or abs(row.stopped_at - stopped_at) > 1e-3:
                return False
            if action == "archive":
                return await self._archive_locked(row)
            if action != "delete":
                raise ValueError(action)
            if row.state not in (SandboxState.STOPPED, SandboxState.ARCHIVED) or not self.store.claim(
                sandbox_id, row.state, row.stopped_at, state=SandboxState.STOPPING
            ):
                return False
            await self._delete_locked(row)
        self._locks.pop(sandbox_id, None)
        return True

    async def set_intervals(
        self,
        sandbox_id: str,
        *,
        auto_stop: int | None = None,
        auto_archive: int | None = None,
        auto_delete: int | None = None,
    ) -> SandboxInfo:
        """Change the lifecycle intervals (minutes; `None` keeps one): auto-stop 0 never stops, auto-archive 0 is
        the maximum, auto-delete negative never deletes and 0 deletes on the next stop."""
        self._row(sandbox_id)  # SandboxNotFound first
        values: dict[str, int] = {}
        if auto_stop is not None:
            values["auto_stop"] = max(0, auto_stop)
        if auto_archive is not None:
            values["auto_archive"] = resolve_auto_archive(auto_archive)
        if auto_delete is not None:
            values["auto_delete"] = resolve_auto_delete(auto_delete)
            values["ephemeral"] = int(values["auto_delete"] == 0)
        if values:
            self.store.update(sandbox_id, **values)
            await asyncio.to_thread(self._write_meta, self._row(sandbox_id))
        return self._info(self._row(sandbox_id))

    async def snapshot(self, sandbox_id: str, name: str) -> SnapshotInfo:
        validate_sandbox_name(name, "snapshot name")
        row = self._row(sandbox_id)
        if self.store.snapshot(row.owner, name) is not None:
            raise AlreadyExists(f"a snapshot named {name!r} already exists")
        legacy_archive = self._dir(sandbox_id) / "archive.tar.gz"
        if (
            row.state is SandboxState.ARCHIVED
            and legacy_archive.exists()
            and not self.kept.archived(self._dir(sandbox_id))
        ):
            return await self._legacy_snapshot(row, name, legacy_archive)
        if row.state is SandboxState.ARCHIVED or self.kept.archived(self._dir(sandbox_id)):
            ckpt = await asyncio.to_thread(
                self.kept.snapshot_of_archive, self._dir(sandbox_id), sandbox_id, name=name, owner=row.owner
            )
        else:
            ckpt = await asyncio.to_thread(
                self.kept.snapshot, sandbox_id, self._workspace(sandbox_id), name=name, owner=row.owner, source=row.name
            )
        snap = SnapshotRow(row.owner, name, row.name, self.kept.snapshot_file(ckpt), ckpt.bytes, ckpt.created_at)
        try:
            self.store.add_snapshot(snap)
        except BaseException as exc:
            await asyncio.to_thread(self.kept.delete_snapshot, snap.file)
            if isinstance(exc, sqlite3.IntegrityError):
                raise AlreadyExists(f"a snapshot named {name!r} already exists") from exc
            raise
        return self._snap_info(snap)

    async def _legacy_snapshot(self, row: Row, name: str, archive: Path) -> SnapshotInfo:
        """A snapshot of a sandbox an older version archived as a tar.gz: a copy of that file, as then."""
        file = f"{secrets.token_hex(8)}.tar.gz"
        dest = self.data_dir / "snapshots" / file
        await asyncio.to_thread(shutil.copyfile, archive, dest)
        snap = SnapshotRow(row.owner, name, row.name, file, dest.stat().st_size, time.time())
        sidecar = meta.snapshot_meta_path(self.data_dir / "snapshots", file)
        try:
            await asyncio.to_thread(meta.write_snapshot_meta, self.data_dir / "snapshots", file, _snap_meta(snap))
            self.store.add_snapshot(snap)
        except BaseException as exc:
            dest.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            if isinstance(exc, sqlite3.IntegrityError):
                raise AlreadyExists(f"a snapshot named {name!r} already exists") from exc
            raise
        return self._snap_info(snap)

    def _snap_info(self, s: SnapshotRow) -> SnapshotInfo:
        return SnapshotInfo(
            name=s.name,
            provider=self.name,
            owner=s.owner,
            source=s.source,
            created_at=_ts(s.created_at),
            size_bytes=s.size,
        )

    async def list_snapshots(self) -> builtins.list[SnapshotInfo]:
        return [self._snap_info(s) for s in self.store.snapshots()]

    async def delete_snapshot(self, name: str, owner: str) -> None:
        snap = self.store.snapshot(owner, name)
        if snap is None:
            raise SnapshotNotFound(f"no snapshot {name!r}")
        from services.local.kept_states import is_store_snapshot

        # the row first: a crash after it leaves an unreferenced state behind, never a row naming nothing
        self.store.delete_snapshot(owner, name)
        if is_store_snapshot(snap.file):
            await asyncio.to_thread(self.kept.delete_snapshot, snap.file)
            return
        (self.data_dir / "snapshots" / snap.file).unlink(missing_ok=True)
        meta.snapshot_meta_path(self.data_dir / "snapshots", snap.file).unlink(missing_ok=True)

    async def set_labels(self, sandbox_id: str, labels: Mapping[str, str]) -> SandboxInfo:
        row = self._row(sandbox_id)
        clean = validate_labels(labels)
        owner = clean.get(self.owner_label, row.owner)
        self.store.update(sandbox_id, labels=clean, owner=owner)
        updated = self._row(sandbox_id)
        await asyncio.to_thread(self._write_meta, updated)
        return self._info(updated)

    async def touch(self, sandbox_id: str) -> None:
        self.activity.note(sandbox_id)

    # -- files ----------------------------------------------------------------------------------------------
    # A path under a volume's mount point (one under /home/daytona, which the file API treats as the home) is
    # served from the volume's folder, so the file API sees what the sandbox's processes see there.
    async def _files(self, sandbox_id: str) -> WorkspaceFS:
        return self._fs_for(self._running_row(sandbox_id))

    async def _at(self, sandbox_id: str, path: str) -> tuple[WorkspaceFS, str, str]:
        """The file API for `path`: (fs, the path inside it, the mount's home-relative prefix or "")."""
        row = self._running_row(sandbox_id)
        for m in row.volumes:
            rel = home_relative(m.path)
            if rel is not None and (path == rel or path.startswith(rel + "/")):
                return self._volume_fs(row, m.volume), path[len(rel) + 1 :], rel
        return self._fs_for(row), path, ""

    def _volume_fs(self, row: Row, volume_id: str) -> WorkspaceFS:
        fs = self._vol_fs.get((row.id, volume_id))
        if fs is None:
            fs = WorkspaceFS(
                self.volumes.data_path(volume_id),
                owner_uid=row.uid,
                owner_gid=row.gid,
                journal=self.volumes.journal(volume_id),
                # sandboxes of other uids share it (root mode): what the file API writes, they may change too
                new_modes=(0o666, 0o777) if self.volumes.shared else (0o644, 0o755),
            )
            self._vol_fs[(row.id, volume_id)] = fs
        return fs

    def _mount_points(self, row: Row, parent: str) -> builtins.list[tuple[str, str]]:
        """(name, volume id) of the mount points directly in the folder `parent` (home-relative)."""
        out = []
        for m in row.volumes:
            rel = home_relative(m.path)
            if rel is not None and rel.rpartition("/")[0] == parent:
                out.append((rel.rpartition("/")[2], m.volume))
        return out

    @staticmethod
    def _under(prefix: str, entry: FileEntry) -> FileEntry:
        if not prefix:
            return entry
        path = f"{prefix}/{entry.path}" if entry.path else prefix
        return dataclasses.replace(entry, path=path, name=entry.name or prefix.rpartition("/")[2])

    async def list_dir(self, sandbox_id: str, path: str, *, details: bool = True) -> builtins.list[FileEntry]:
        fs, inner, prefix = await self._at(sandbox_id, path)
        entries = [self._under(prefix, e) for e in await asyncio.to_thread(fs.list_dir, inner, details=details)]
        if not prefix:  # a volume's mount point shows in its folder's listing, though no folder of the home holds it
            row = self._running_row(sandbox_id)
            names = {e.name for e in entries}
            for name, _vol in self._mount_points(row, path):
                if name not in names:
                    with contextlib.suppress(SandbenchError):
                        entries.append(await self.stat(sandbox_id, f"{path}/{name}" if path else name))
        return entries

    async def stat(self, sandbox_id: str, path: str) -> FileEntry:
        fs, inner, prefix = await self._at(sandbox_id, path)
        return self._under(prefix, await asyncio.to_thread(fs.stat, inner))

    async def read_file(self, sandbox_id: str, path: str, *, limit: int, head: bool = False) -> FileData:
        fs, inner, prefix = await self._at(sandbox_id, path)
        data = await asyncio.to_thread(fs.read, inner, limit=limit, head=head)
        return dataclasses.replace(data, path=path) if prefix else data

    async def write_file(
        self, sandbox_id: str, path: str, data: bytes, *, expected_mtime: float | None = None
    ) -> FileEntry:
        fs, inner, prefix = await self._at(sandbox_id, path)
        self._usage_cache.pop(sandbox_id, None)
        return self._under(prefix, await asyncio.to_thread(fs.write, inner, data, expected_mtime=expected_mtime))

    async def open_read(self, sandbox_id: str, path: str) -> _FileReader:
        fs, inner, _prefix = await self._at(sandbox_id, path)
        fd, st = await asyncio.to_thread(fs.open_read, inner)
        return _FileReader(fd, st.st_size, path)

    async def open_write(self, sandbox_id: str, path: str) -> _FileWriter:
        fs, inner, prefix = await self._at(sandbox_id, path)
        self._usage_cache.pop(sandbox_id, None)
        return _FileWriter(await asyncio.to_thread(fs.open_write, inner), prefix)

    async def mkdir(self, sandbox_id: str, path: str, *, parents: bool = False) -> FileEntry:
        fs, inner, prefix = await self._at(sandbox_id, path)
        if prefix and not inner:
            return await self.stat(sandbox_id, path)  # the mount point: there already
        return self._under(prefix, await asyncio.to_thread(fs.mkdir, inner, parents=parents))

    async def move(self, sandbox_id: str, src: str, dst: str, *, overwrite: bool = False) -> FileEntry:
        sfs, sinner, sprefix = await self._at(sandbox_id, src)
        dfs, dinner, dprefix = await self._at(sandbox_id, dst)
        if sfs is not dfs:
            raise InvalidInput("moving between a volume and the rest of the sandbox is not supported: copy, delete")
        if sprefix and (not sinner or not dinner):
            raise InvalidInput("a volume's mount point cannot be moved")
        return self._under(dprefix, await asyncio.to_thread(sfs.move, sinner, dinner, overwrite=overwrite))

    async def delete_path(self, sandbox_id: str, path: str, *, recursive: bool = False) -> None:
        fs, inner, prefix = await self._at(sandbox_id, path)
        if prefix and not inner:
            raise InvalidInput("a volume's mount point cannot be deleted (delete what is in it, or the volume)")
        self._usage_cache.pop(sandbox_id, None)
        await asyncio.to_thread(fs.delete, inner, recursive=recursive)

    async def search(self, sandbox_id: str, path: str, pattern: str, *, limit: int = 1000) -> builtins.list[str]:
        fs, inner, prefix = await self._at(sandbox_id, path)
        found = await asyncio.to_thread(fs.search, inner, pattern, limit=limit)
        return [f"{prefix}/{p}" if p else prefix for p in found] if prefix else found

    async def list_files(self, sandbox_id: str, path: str = "", *, limit: int = 200_000) -> builtins.list[str]:
        fs, inner, prefix = await self._at(sandbox_id, path)
        found = await asyncio.to_thread(fs.walk_files, inner, limit=limit)
        return [f"{prefix}/{p}" if p else prefix for p in found] if prefix else found

    # -- volumes ---------------------------------------------------------------------------------------------
    async def create_volume(self, name: str, owner: str, *, cap: int) -> VolumeInfo:
        return await self.volumes.create(name, owner, cap=cap)

    async def list_volumes(self, owner: str) -> builtins.list[VolumeInfo]:
        return self.volumes.list(owner)

    async def delete_volume(self, volume_id: str, owner: str) -> None:
        for key in [k for k in self._vol_fs if k[1] == volume_id]:
            self._vol_fs.pop(key).close()
        await self.volumes.delete(volume_id, owner)

    async def disk_usage(self, sandbox_id: str) -> int:
        row = self._row(sandbox_id)
        return await asyncio.to_thread(lambda: self._usage(row) or 0)

    @property
    def cgroups_reason(self) -> str:
        """Why there are no per-sandbox cgroups on this host ("" when there are)."""
        return "" if self.launcher.cgroups.available else self.launcher.cgroups.reason

    async def cgroup_usage(self, sandbox_id: str) -> CgroupUsage | None:
        """The sandbox cgroup's accounting now; None when this host has no per-sandbox cgroups (`cgroups_reason`).
        A sandbox that has run nothing yet has no cgroup, and uses nothing: all zero."""
        self._row(sandbox_id)
        if not self.launcher.cgroups.available:
            return None
        cg = self.launcher.cgroups.get(sandbox_id)
        if cg is None:
            return CgroupUsage(0, 0, 0)
        return await asyncio.to_thread(cg.usage)

    async def metrics_reading(self, sandbox_id: str) -> MetricsReading:
        """The running sandbox's use, limits and limit hits from its cgroup (services/local/cgroup_stats.py);
        `MetricsUnavailable` naming why where this host has no per-sandbox cgroups. The disk figure is the
        service's (`disk_usage`, a walk it paces)."""
        from services.local import cgroup_stats
        from services.local.launch_child import PIDS_PER_CPU
        from services.metrics import MetricsUnavailable

        row = self._running_row(sandbox_id)
        cgroups = self.launcher.cgroups
        if not cgroups.available or cgroups.version is None:
            raise MetricsUnavailable(
                f"metrics are read from per-sandbox cgroups, and there are none here ({cgroups.reason}); "
                "the sandbox runs at isolation 'no-cgroup'"
            )
        cpus = max(1, row.resources.cpu)
        # in-kernel files of a few hundred bytes: read on the loop (a thread hop costs more; bench/metrics.py)
        reading = cgroup_stats.read(
            cgroups.get(sandbox_id),
            version=cgroups.version,
            cpus=cpus,
            memory_limit=row.resources.memory_bytes,
            pids_limit=max(64, PIDS_PER_CPU * cpus),
        )
        return dataclasses.replace(reading, disk_limit=row.resources.disk_bytes)

    # -- the process list and ports (services/local/procfs.py) ----------------------------------------------
    def _mapped_uid(self, row: Row) -> int:
        """The host uid the sandbox's `sandbox` user is (launch.py's mapping)."""
        return row.uid if row.uid is not None else os.getuid()

    async def process_table(self, sandbox_id: str) -> ProcTable:
        row = self._row(sandbox_id)
        return await asyncio.to_thread(
            lambda: procfs.read_table(procfs.sandbox_pids(self.launcher, row.id), self._mapped_uid(row))
        )

    async def signal_process(self, sandbox_id: str, pid: int, started: int | None, sig: int) -> None:
        row = self._row(sandbox_id)
        await asyncio.to_thread(procfs.signal, self.launcher, row.id, pid, started, sig)

    async def process_alive(self, sandbox_id: str, pid: int, started: int) -> bool:
        self._row(sandbox_id)
        return await asyncio.to_thread(procfs.alive, pid, started)

    async def listening_sockets(self, sandbox_id: str) -> builtins.list[tuple[int, Socket, int | None]]:
        row = self._row(sandbox_id)
        return await asyncio.to_thread(lambda: procfs.listening(procfs.sandbox_pids(self.launcher, row.id)))

    # -- processes ------------------------------------------------------------------------------------------
    async def exec(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        cwd: str = "",
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        stdin: Stdin | None = None,
        on_output: OutputCallback | None = None,
        keep_output: int | None = None,
    ) -> ExecResult:
        row = self._running_row(sandbox_id)
        started = time.monotonic()
        launched = await self.launcher.spawn(
            self._runtime(row),
            argv,
            cwd=mounted_path(row.volumes, cwd) or cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cpu_seconds=int(timeout) + 2 if timeout else None,
        )
        proc = launched.process
        out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

        async def pump(stream: asyncio.StreamReader | None, which: str) -> None:
            if stream is None:
                return
            room = keep_output
            while chunk := await stream.read(65536):
                if room is None:
                    out[which].append(chunk)
                elif room > 0:
                    out[which].append(chunk[:room])
                    room -= len(chunk)
                if on_output is not None:
                    on_output(which, chunk)  # type: ignore[arg-type]

        async def feed() -> None:
            if proc.stdin is None:
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if isinstance(stdin, bytes):
                    if stdin:
                        proc.stdin.write(stdin)
                        await proc.stdin.drain()
                elif stdin is not None:
                    async for chunk in stdin:
                        proc.stdin.write(chunk)
                        await proc.stdin.drain()
                proc.stdin.close()

        timed_out = False
        tasks = [
            asyncio.ensure_future(pump(proc.stdout, "stdout")),
            asyncio.ensure_future(pump(proc.stderr, "stderr")),
            asyncio.ensure_future(feed()),
        ]
        try:
            await asyncio.wait_for(proc.wait(), timeout=timeout)
        except TimeoutError:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        finally:
            # once bwrap is gone, its namespace is gone: every pipe writer closed, the pumps see EOF; a streamed
            # stdin may never end by itself, and nothing reads it any more
            tasks[2].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await launched.cleanup()
        code = proc.returncode if proc.returncode is not None else -1
        if timed_out:
            code = 124
        elif code < 0:
            code = 128 - code
        return ExecResult(
            exit_code=code,
            stdout=b"".join(out["stdout"]),
            stderr=b"".join(out["stderr"]),
            duration=time.monotonic() - started,
            timed_out=timed_out,
        )

    async def open_terminal(
        self, sandbox_id: str, cols: int, rows: int, *, cwd: str = "", env: Mapping[str, str] | None = None
    ) -> LocalTerminal | HostTerminal:
        if self._host is not None:
            self._running_row(sandbox_id)  # NotRunning here, as without the host (the service retries on it)
            return await self._host.open(sandbox_id, cols, rows, cwd=cwd, env=dict(env or {}))
        row = self._running_row(sandbox_id)
        master, slave = os.openpty()
        try:
            set_winsize(master, cols, rows)
            if row.uid is not None and row.gid is not None:
                os.fchown(slave, row.uid, row.gid)  # the shell must own its terminal to set modes on it
            launched = await self.launcher.spawn(
                self._runtime(row),
                ["/usr/bin/setsid", "--ctty", "--wait", self.launcher._shell, "-i"],
                cwd=mounted_path(row.volumes, cwd) or cwd,
                env=env,
                pty_slave=slave,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return LocalTerminal(launched, master, on_activity=lambda: self.activity.note(sandbox_id))

    @property
    def shell_name(self) -> str:
        return os.path.basename(self.launcher._shell)

    async def list_terminals(self, sandbox_id: str) -> builtins.list[TerminalInfo]:
        """The sandbox's shells in the session host (never starts one to look): [] without the host."""
        if self._host is None:
            return []
        self._row(sandbox_id)
        out = []
        for s in await self._host.list(sandbox_id):
            with contextlib.suppress(TypeError, ValueError):
                out.append(
                    TerminalInfo(
                        id=str(s["id"]),
                        created_at=_ts(float(s["created_at"])),
                        cols=int(s["cols"]),
                        rows=int(s["rows"]),
                        active=bool(s["active"]),
                        command=str(s.get("command") or ""),
                        attached=int(s.get("attached") or 0),
                    )
                )
        return sorted(out, key=lambda t: t.created_at)

    async def attach_terminal(self, sandbox_id: str, session_id: str) -> HostTerminal:
        if self._host is None:
            raise InvalidInput(
                "these local terminals end with the app that opened them: there is no session to reattach to"
            )
        self._running_row(sandbox_id)
        return await self._host.attach(sandbox_id, session_id)

    async def _forget_terminals(self, sandbox_id: str) -> None:
        """Stopping: the host (if one runs) ends the sandbox's shells first; `kill_all` then verifies nothing is
        left, whoever started it."""
        host = self._host or HostClient(self.data_dir)
        try:
            await host.forget(sandbox_id)
        except (OSError, SandbenchError) as exc:
            log.info("asking the session host to end %s's shells: %s", sandbox_id, exc)

    async def close(self) -> None:
        for sid in {*self._fs, *(k[0] for k in self._vol_fs)}:
            self._drop_fs(sid)
        await self.activity.close()
        self.store.close()


class _FileReader:
    """`ReadStream` over an fd from `WorkspaceFS.open_read`; each read runs in a worker thread."""

    def __init__(self, fd: int, size: int, path: str) -> None:
        self._fd, self.size, self._path = fd, size, path

    async def read(self, n: int) -> bytes:
        if self._fd < 0:
            return b""
        try:
            return await asyncio.to_thread(os.read, self._fd, n)
        except OSError as exc:
            raise ProviderError(f"{self._path!r}: read failed ({os.strerror(exc.errno or 5)})") from exc

    async def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _FileWriter:
    """`WriteStream` over `WorkspaceFS.open_write`; each step runs in a worker thread, one at a time."""

    def __init__(self, pending: AtomicWrite, prefix: str = "") -> None:
        self._pending = pending
        self._prefix = prefix  # a volume's mount point (home-relative): what the entry's path is under

    @property
    def written(self) -> int:
        return self._pending.written

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._pending.write, data)

    async def commit(self) -> FileEntry:
        return LocalProvider._under(self._prefix, await asyncio.to_thread(self._pending.commit))

    async def abort(self) -> None:
        await asyncio.to_thread(self._pending.abort)

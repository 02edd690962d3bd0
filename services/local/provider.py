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
provider to open the store finds the creator gone and removes the half-made sandbox (`ProviderState._recover`).
A sandbox folder holding a `meta.json` is never removed for lacking a row: that is a damaged or replaced database,
and `sandbench doctor --repair` brings the row back.

`LocalProvider` is split by job: this module is its lifecycle (create, start, stop, archive, delete, the reaper's
expiry, labels and intervals: the sandbox rows and folders); the state every part shares and the recovery on opening
are `ProviderState` (provider_state.py); files, exec and terminals, observation and named snapshots are mixins
(provider_files.py, provider_exec.py, provider_observe.py, provider_snapshots.py). Mixins rather than delegated
parts: every job works on the same store, launcher and caches, and the provider protocols are met by the one object
with each method defined once, where a delegate would need a forwarding method on `LocalProvider` for each.
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
import secrets
import shutil
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from services.errors import (
    AlreadyExists,
    Conflict,
    IsolationUnavailable,
    ProviderError,
    SandbenchError,
    SnapshotNotFound,
)
from services.local.names import validate_labels, validate_sandbox_name
from services.local.provider_exec import LocalExec
from services.local.provider_files import LocalFiles
from services.local.provider_observe import LocalObservation
from services.local.provider_snapshots import LocalSnapshots
from services.local.provider_state import creator_mark, from_epoch
from services.local.store import Row, SnapshotRow, mounts_json
from services.models import (
    SandboxInfo,
    SandboxSpec,
    SandboxState,
    resolve_auto_archive,
    resolve_auto_delete,
)

if TYPE_CHECKING:
    from services.provider import FileStreams, LifecycleExpiry, ProcessTables, Provider, TerminalReattach

# validate_*: services/local/meta.py and repair.py import them from here
__all__ = ["LocalProvider", "validate_labels", "validate_sandbox_name"]

log = logging.getLogger(__name__)

# Dedicated sandbox uids when the app runs as root: far above distro-allocated ranges (and subuid ranges start at
# 100000 with 65536 each), drawn at random from a wide range because several data directories (other users'
# instances, test runs) share one machine and a uid must belong to exactly one sandbox.
UID_BASE = 420_000
UID_SPAN = 1 << 21
STOP_TIMEOUT = 10.0


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


class LocalProvider(LocalFiles, LocalExec, LocalObservation, LocalSnapshots):
    """Sandboxes on this machine: the lifecycle here, the other jobs from the mixins (see the module docstring)."""

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
            created_at=from_epoch(row.created_at),
            last_activity=from_epoch(max(row.last_activity, self.activity.last(row.id))),
            isolation=self.launcher.isolation(),
            bwrap=self.launcher.bwrap,
            network=row.network,
            ephemeral=row.auto_delete == 0,
            disk_used_bytes=used,
            disk_limit_soft=True,
            error=None if row.state is not SandboxState.ERROR else row.error,
            auto_archive_minutes=row.auto_archive,
            auto_delete_minutes=row.auto_delete,
            stopped_at=from_epoch(row.stopped_at) if row.stopped_at is not None else None,
            volumes=row.volumes,
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
                        "creator": creator_mark(),
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
            row.id,
            SandboxState.STOPPED,
            row.stopped_at,
            state=SandboxState.STOPPING,
            error="archiving",
            creator=creator_mark(),
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


if TYPE_CHECKING:
    # mypy proves here that LocalProvider is each protocol it offers (the service tests the optional ones with
    # isinstance at run time, which would only say so when a feature is used)
    def _offers(p: LocalProvider) -> tuple[Provider, TerminalReattach, LifecycleExpiry, FileStreams, ProcessTables]:
        return p, p, p, p, p

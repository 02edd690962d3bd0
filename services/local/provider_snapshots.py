"""The local provider's named snapshots (`LocalSnapshots`, a mixin of `LocalProvider`): taking one (a state in the
checkpoint store, services/local/kept_states.py; a tar.gz copy for a sandbox an older version archived), listing
and deleting them. Creating a sandbox from one is the lifecycle's (provider.py `create_from_snapshot`).
"""

from __future__ import annotations

import asyncio
import builtins
import secrets
import shutil
import sqlite3
import time
from pathlib import Path

from services.errors import AlreadyExists, SnapshotNotFound
from services.local import meta
from services.local.names import validate_sandbox_name
from services.local.provider_state import ProviderState, from_epoch, snapshot_meta
from services.local.store import Row, SnapshotRow
from services.models import SandboxState, SnapshotInfo


class LocalSnapshots(ProviderState):
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
            await asyncio.to_thread(meta.write_snapshot_meta, self.data_dir / "snapshots", file, snapshot_meta(snap))
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
            created_at=from_epoch(s.created_at),
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

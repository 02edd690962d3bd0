"""Named volumes of the local provider: folders in the data dir, rows in the state database (services/volumes.py has
the policy the service applies first).

Layout (the folder above them, `volumes/`, is 0700: bwrap never reaches a volume by its path as another uid; as root
the launcher binds each one in the forked child, before it drops to the sandbox's uid, see launch.py):

    volumes/<id>/meta.json  id, name, owner, creation time: what the row is rebuilt from (0600, written atomically)
    volumes/<id>/data/      what sandboxes see at their mount path
    volumes/<id>/writes/    the file API's write journal for the volume, out of every sandbox's reach

Ids are UUIDs (as Daytona's), made here: no client ever names a host path. In root mode every sandbox runs as its
own uid, so `data/` is 0777 with a default ACL giving everyone read-write: what one sandbox writes another can read
and change, as on a Daytona volume (only the sandboxes that mount it can reach it: its parents are root's, 0700).

A create is a row first (the cap and the name's uniqueness are checked in the same transaction), then the folder;
a delete refuses while any sandbox's row mounts the volume (`Store.volume_users`), drops the row, then the folder.
`recover` (on open) puts back a row for a folder whose meta.json is valid but whose row is gone (a replaced
database), and reports a row whose folder is gone as state `error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import sqlite3
import struct
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from services.errors import AlreadyExists
from services.local import meta
from services.local.store import Store, VolumeRow
from services.models import VolumeInfo, VolumeMount
from services.volumes import VOLUME_NAME_RE, VolumeInUse, VolumeLimitReached, VolumeNotFound

log = logging.getLogger(__name__)

VOLUME_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# system.posix_acl_default: version 2, then (tag, perm, id) entries; ids unused for the *_OBJ and OTHER tags
_ACL_USER_OBJ, _ACL_GROUP_OBJ, _ACL_OTHER = 0x01, 0x04, 0x20
_ACL_UNDEFINED_ID = 0xFFFFFFFF


def _shared_acl() -> bytes:
    entries = [(_ACL_USER_OBJ, 7), (_ACL_GROUP_OBJ, 7), (_ACL_OTHER, 7)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, _ACL_UNDEFINED_ID) for t, p in entries)


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class LocalVolumes:
    def __init__(self, data_dir: Path, store: Store, *, shared: bool) -> None:
        """`shared`: sandboxes run as different uids (root mode), so `data/` is open to all of them."""
        self.root = data_dir / "volumes"
        self.store = store
        self.shared = shared
        self.root.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.root, 0o700)

    def folder(self, volume_id: str) -> Path:
        if not VOLUME_ID_RE.fullmatch(volume_id):  # ids are ours: anything else never becomes a path
            raise VolumeNotFound(f"no volume {volume_id[:80]!r}")
        return self.root / volume_id

    def data_path(self, volume_id: str) -> Path:
        return self.folder(volume_id) / "data"

    def journal(self, volume_id: str) -> Path:
        return self.folder(volume_id) / "writes"

    def _info(self, row: VolumeRow) -> VolumeInfo:
        ok = self.data_path(row.id).is_dir()
        return VolumeInfo(
            id=row.id,
            name=row.name,
            owner=row.owner,
            state="ready" if ok else "error",
            created_at=_ts(row.created_at),
            last_used_at=_ts(row.last_used_at) if row.last_used_at is not None else None,
            error=None if ok else "the volume's folder is missing from the data directory",
        )

    # -- operations ----------------------------------------------------------------------------------------------
    # The store is used on the event loop's thread only (its one connection: a transaction open in a worker thread
    # would take in the loop's statements); only the folders' work runs in worker threads (`make_folder`, `remove`).
    def list(self, owner: str) -> list[VolumeInfo]:
        return [self._info(r) for r in self.store.volumes(owner)]

    async def create(self, name: str, owner: str, *, cap: int) -> VolumeInfo:
        row = VolumeRow(str(uuid.uuid4()), owner, name, time.time(), None)
        try:
            with self.store.tx() as con:
                if any(v.name == name for v in self.store.volumes(owner)):
                    raise _exists(name)
                if self.store.count_volumes(con, owner) >= cap:
                    raise VolumeLimitReached(
                        f"this identity has {cap} volumes, the most it may keep: delete one first "
                        "(or raise sandbench serve --volume-max)"
                    )
                self.store.add_volume(con, row)
        except sqlite3.IntegrityError as exc:  # another process made the same name meanwhile
            raise _exists(name) from exc
        try:
            await asyncio.to_thread(self._make_folder, row)
        except BaseException:
            with self.store.tx() as con:
                self.store.delete_volume(con, row.id)
            await asyncio.to_thread(shutil.rmtree, self.folder(row.id), True)
            raise
        return self._info(row)

    def _make_folder(self, row: VolumeRow) -> None:
        d = self.folder(row.id)
        d.mkdir(mode=0o700)
        data = d / "data"
        data.mkdir(mode=0o700)
        if self.shared:
            os.chmod(data, 0o777)  # noqa: S103  # under a 0700 root-owned folder: only its mounts reach it
            try:
                os.setxattr(data, "system.posix_acl_default", _shared_acl())
            except OSError as exc:
                # without ACLs a file stays its writer's to change; others still read it (umask 022)
                log.warning("no default ACL on volume %s (%s): files are writable by their writer only", row.id, exc)
        meta.write_json_atomic(
            d / meta.META_FILE,
            {"version": meta.VERSION, "id": row.id, "name": row.name, "owner": row.owner, "created_at": row.created_at},
        )

    async def delete(self, volume_id: str, owner: str) -> None:
        folder = self.folder(volume_id)
        with self.store.tx() as con:
            row = self.store.volume(con, volume_id)
            if row is None or row.owner != owner:
                raise VolumeNotFound(f"no volume {volume_id!r}")
            users = self.store.volume_users(con, volume_id)
            if users:
                shown = ", ".join(repr(u) for u in users[:5]) + (" and more" if len(users) > 5 else "")
                raise VolumeInUse(
                    f"volume {row.name!r} is in use by sandbox {shown}: delete the sandbox first, then the volume"
                )
            self.store.delete_volume(con, volume_id)
        await asyncio.to_thread(self._remove, folder)

    def _remove(self, folder: Path) -> None:
        # out of sight first (a half-removed volume is never listed or mounted), then removed; rmtree never follows
        # the symlinks sandboxes planted in it
        trash = self.root / f".deleting-{folder.name}"
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def resolve(self, mounts: Sequence[VolumeMount], owner: str) -> tuple[VolumeMount, ...]:
        """Mounts with each volume named by its id (a client may give the id or the name), checked to be the
        owner's and ready. Call it inside the create's transaction (the store has one connection), so no delete
        slips in between."""
        mine = self.store.volumes(owner)
        out = []
        for m in mounts:
            row = next((v for v in mine if v.id == m.volume), None) or next(
                (v for v in mine if v.name == m.volume), None
            )
            if row is None:
                raise VolumeNotFound(f"no volume {m.volume[:80]!r} to mount at {m.path!r}")
            if not self.data_path(row.id).is_dir():
                raise VolumeNotFound(f"volume {row.name!r} has lost its folder; delete it and make another")
            out.append(VolumeMount(volume=row.id, path=m.path))
        return tuple(out)

    def recover(self) -> None:
        """Rows back for volume folders the database forgot; debris of interrupted deletes removed."""
        known = {v.id for v in self.store.volumes()}
        for d in self.root.iterdir():
            if d.name.startswith(".deleting-"):
                shutil.rmtree(d, ignore_errors=True)
                continue
            if d.name in known or not VOLUME_ID_RE.fullmatch(d.name):
                continue
            m = meta._read_json(d / meta.META_FILE)
            if not (
                m is not None
                and m.get("version") == meta.VERSION
                and m.get("id") == d.name
                and isinstance(m.get("owner"), str)
                and m["owner"]
                and isinstance(m.get("name"), str)
                and VOLUME_NAME_RE.match(m["name"])
                and isinstance(m.get("created_at"), int | float)
            ):
                log.warning("volume folder %s has no valid meta.json; left as it is", d.name)
                continue
            with contextlib.suppress(sqlite3.IntegrityError), self.store.tx() as con:
                self.store.add_volume(con, VolumeRow(d.name, m["owner"], m["name"], float(m["created_at"]), None))
                log.warning("volume %s (%s) was missing from the state database: put back", m["name"], d.name)


def _exists(name: str) -> AlreadyExists:
    return AlreadyExists(f"a volume named {name!r} already exists")

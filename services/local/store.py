"""The local provider's state: one SQLite database (WAL) holding sandboxes, snapshots and the uid counter.

Several processes share it (the app and `sandbench` CLI calls), so every change is one short transaction and
readers never block writers. The database file is 0600: it names workspaces and owners.

A corrupt or truncated file raises `StateDatabaseDamaged` (naming the file) from whichever call meets it, never a
raw sqlite error: the database is a cache of what each sandbox's `meta.json` records, and `sandbench doctor
--repair` (services/local/repair.py) rebuilds it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from services.errors import StateDatabaseDamaged
from services.models import Resources, SandboxState, VolumeMount
from services.state_db import check_header

P = ParamSpec("P")
T = TypeVar("T")
# sqlite's primary result codes for a file that is not (or no longer) a database
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26

SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    state TEXT NOT NULL,
    labels TEXT NOT NULL,
    cpu INTEGER NOT NULL,
    memory_gib REAL NOT NULL,
    disk_gib REAL NOT NULL,
    auto_stop INTEGER NOT NULL,
    network INTEGER NOT NULL,
    ephemeral INTEGER NOT NULL,
    uid INTEGER,
    gid INTEGER,
    created_at REAL NOT NULL,
    last_activity REAL NOT NULL,
    error TEXT,
    creator TEXT,
    auto_archive INTEGER NOT NULL DEFAULT 10080,
    auto_delete INTEGER NOT NULL DEFAULT -1,
    stopped_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS sandboxes_owner_name ON sandboxes(owner, name);
CREATE TABLE IF NOT EXISTS snapshots (
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner, name)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS volumes (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS volumes_owner_name ON volumes(owner, name);
"""
# Columns added after the first release, with what an older database gets: `ALTER TABLE ... ADD COLUMN` on open.
# An old ephemeral sandbox is auto-delete 0 (deleted on stop, as before); an old stopped sandbox counts as stopped
# from the upgrade on (its real stop time was never recorded, and archiving it early would surprise).
ADDED_COLUMNS = (
    ("auto_archive", "INTEGER NOT NULL DEFAULT 10080"),
    ("auto_delete", "INTEGER NOT NULL DEFAULT -1"),
    ("stopped_at", "REAL"),
    ("volumes", "TEXT NOT NULL DEFAULT '[]'"),  # JSON [{"volume": id, "path": mount path}] (services/volumes.py)
)


@dataclass(frozen=True)
class Row:
    id: str
    name: str
    owner: str
    state: SandboxState
    labels: dict[str, str]
    resources: Resources
    auto_stop: int
    network: bool
    ephemeral: bool
    uid: int | None
    gid: int | None
    created_at: float
    last_activity: float
    error: str | None
    creator: str | None
    auto_archive: int = 10080  # minutes stopped before it is archived
    auto_delete: int = -1  # minutes stopped before it is deleted (-1 never, 0 on stop)
    stopped_at: float | None = None  # when it last stopped; None while running
    volumes: tuple[VolumeMount, ...] = ()  # named volumes mounted into it


@dataclass(frozen=True)
class VolumeRow:
    id: str
    owner: str
    name: str
    created_at: float
    last_used_at: float | None


def mounts_json(mounts: tuple[VolumeMount, ...] | list[VolumeMount]) -> str:
    return json.dumps([{"volume": m.volume, "path": m.path} for m in mounts])


def _mounts(raw: str | None) -> tuple[VolumeMount, ...]:
    return tuple(VolumeMount(volume=str(d["volume"]), path=str(d["path"])) for d in json.loads(raw or "[]"))


def _volume(r: sqlite3.Row) -> VolumeRow:
    return VolumeRow(r["id"], r["owner"], r["name"], r["created_at"], r["last_used_at"])


@dataclass(frozen=True)
class SnapshotRow:
    owner: str
    name: str
    source: str | None
    file: str
    size: int
    created_at: float


def _row(r: sqlite3.Row) -> Row:
    return Row(
        id=r["id"],
        name=r["name"],
        owner=r["owner"],
        state=SandboxState(r["state"]),
        labels=json.loads(r["labels"]),
        resources=Resources(cpu=r["cpu"], memory_gib=r["memory_gib"], disk_gib=r["disk_gib"]),
        auto_stop=r["auto_stop"],
        network=bool(r["network"]),
        ephemeral=bool(r["ephemeral"]),
        uid=r["uid"],
        gid=r["gid"],
        created_at=r["created_at"],
        last_activity=r["last_activity"],
        error=r["error"],
        creator=r["creator"],
        auto_archive=r["auto_archive"],
        auto_delete=r["auto_delete"],
        stopped_at=r["stopped_at"],
        volumes=_mounts(r["volumes"]),
    )


def is_damage(exc: BaseException) -> bool:
    """True for sqlite's "malformed" and "not a database" errors (a busy or locked database is not damage)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.DatabaseError)
        and isinstance(code, int)
        and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    )


def _guarded(method: Callable[Concatenate[Store, P], T]) -> Callable[Concatenate[Store, P], T]:
    @functools.wraps(method)
    def wrapper(self: Store, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise StateDatabaseDamaged(self.path, str(exc)) from exc
            raise

    return wrapper


class Store:
    def __init__(self, path: Path):
        self.path = path
        check_header(path)  # garbage is named before sqlite reads it (the app does the same before its first frame)
        fresh = not path.exists()
        if fresh:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if is_damage(exc):
                raise StateDatabaseDamaged(path, str(exc)) from exc
            raise

    def _migrate(self) -> None:
        have = {r["name"] for r in self._db.execute("PRAGMA table_info(sandboxes)")}
        missing = [(name, decl) for name, decl in ADDED_COLUMNS if name not in have]
        if not missing:
            return
        with self.tx() as con:
            have = {r["name"] for r in con.execute("PRAGMA table_info(sandboxes)")}  # another process may have
            for name, decl in missing:
                if name not in have:
                    con.execute(f"ALTER TABLE sandboxes ADD COLUMN {name} {decl}")  # our names, never data
            if "auto_delete" not in have:
                con.execute("UPDATE sandboxes SET auto_delete = 0 WHERE ephemeral = 1")
            if "stopped_at" not in have:
                con.execute(
                    "UPDATE sandboxes SET stopped_at = ? WHERE state IN ('stopped', 'archived')", (time.time(),)
                )

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise StateDatabaseDamaged(self.path, str(exc)) from exc
            raise

    # sandboxes ----------------------------------------------------------------------------------------------
    @_guarded
    def all(self) -> list[Row]:
        return [_row(r) for r in self._db.execute("SELECT * FROM sandboxes ORDER BY created_at")]

    @_guarded
    def get(self, sandbox_id: str) -> Row | None:
        r = self._db.execute("SELECT * FROM sandboxes WHERE id = ?", (sandbox_id,)).fetchone()
        return _row(r) if r else None

    @_guarded
    def by_name(self, owner: str, name: str) -> Row | None:
        r = self._db.execute("SELECT * FROM sandboxes WHERE owner = ? AND name = ?", (owner, name)).fetchone()
        return _row(r) if r else None

    @_guarded
    def insert(self, con: sqlite3.Connection, values: Mapping[str, Any]) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        con.execute(f"INSERT INTO sandboxes ({cols}) VALUES ({marks})", tuple(values.values()))  # noqa: S608

    @_guarded
    def update(self, sandbox_id: str, **values: Any) -> None:
        if "labels" in values:
            values["labels"] = json.dumps(values["labels"], sort_keys=True)
        if "state" in values:
            values["state"] = str(values["state"])
        if "volumes" in values:
            values["volumes"] = mounts_json(values["volumes"])
        sets = ", ".join(f"{k} = ?" for k in values)  # keys are ours, never user data
        self._db.execute(f"UPDATE sandboxes SET {sets} WHERE id = ?", (*values.values(), sandbox_id))  # noqa: S608

    @_guarded
    def claim(self, sandbox_id: str, expected: SandboxState, stopped_at: float | None, **values: Any) -> bool:
        """Update the row only if it is still in state `expected` and stopped since `stopped_at`: True if this
        process won it. The reapers of the app and of `sandbench serve` may look at the same sandbox at once."""
        if "state" in values:
            values["state"] = str(values["state"])
        sets = ", ".join(f"{k} = ?" for k in values)  # keys are ours, never user data
        cur = self._db.execute(
            f"UPDATE sandboxes SET {sets} WHERE id = ? AND state = ? AND stopped_at IS ?",  # noqa: S608
            (*values.values(), sandbox_id, str(expected), stopped_at),
        )
        return cur.rowcount == 1

    @_guarded
    def delete(self, sandbox_id: str) -> None:
        self._db.execute("DELETE FROM sandboxes WHERE id = ?", (sandbox_id,))

    @_guarded
    def touch(self, sandbox_id: str, when: float | None = None) -> None:
        self._db.execute("UPDATE sandboxes SET last_activity = ? WHERE id = ?", (when or time.time(), sandbox_id))

    @_guarded
    def uid_taken(self, con: sqlite3.Connection, uid: int) -> bool:
        return con.execute("SELECT 1 FROM sandboxes WHERE uid = ?", (uid,)).fetchone() is not None

    # snapshots ----------------------------------------------------------------------------------------------
    @_guarded
    def snapshots(self) -> list[SnapshotRow]:
        return [
            SnapshotRow(r["owner"], r["name"], r["source"], r["file"], r["size"], r["created_at"])
            for r in self._db.execute("SELECT * FROM snapshots ORDER BY created_at")
        ]

    @_guarded
    def snapshot(self, owner: str, name: str) -> SnapshotRow | None:
        r = self._db.execute("SELECT * FROM snapshots WHERE owner = ? AND name = ?", (owner, name)).fetchone()
        return SnapshotRow(r["owner"], r["name"], r["source"], r["file"], r["size"], r["created_at"]) if r else None

    @_guarded
    def add_snapshot(self, row: SnapshotRow) -> None:
        self._db.execute(
            "INSERT INTO snapshots (owner, name, source, file, size, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (row.owner, row.name, row.source, row.file, row.size, row.created_at),
        )

    @_guarded
    def delete_snapshot(self, owner: str, name: str) -> None:
        self._db.execute("DELETE FROM snapshots WHERE owner = ? AND name = ?", (owner, name))

    # volumes ------------------------------------------------------------------------------------------------
    @_guarded
    def volumes(self, owner: str | None = None) -> list[VolumeRow]:
        if owner is None:
            rows = self._db.execute("SELECT * FROM volumes ORDER BY created_at")
        else:
            rows = self._db.execute("SELECT * FROM volumes WHERE owner = ? ORDER BY created_at", (owner,))
        return [_volume(r) for r in rows]

    @_guarded
    def volume(self, con: sqlite3.Connection, volume_id: str) -> VolumeRow | None:
        r = con.execute("SELECT * FROM volumes WHERE id = ?", (volume_id,)).fetchone()
        return _volume(r) if r else None

    @_guarded
    def count_volumes(self, con: sqlite3.Connection, owner: str) -> int:
        return int(con.execute("SELECT COUNT(*) FROM volumes WHERE owner = ?", (owner,)).fetchone()[0])

    @_guarded
    def add_volume(self, con: sqlite3.Connection, row: VolumeRow) -> None:
        con.execute(
            "INSERT INTO volumes (id, owner, name, created_at, last_used_at) VALUES (?, ?, ?, ?, ?)",
            (row.id, row.owner, row.name, row.created_at, row.last_used_at),
        )

    @_guarded
    def delete_volume(self, con: sqlite3.Connection, volume_id: str) -> None:
        con.execute("DELETE FROM volumes WHERE id = ?", (volume_id,))

    @_guarded
    def volume_users(self, con: sqlite3.Connection, volume_id: str) -> list[str]:
        """Names of the sandboxes that mount the volume (any state: a stopped one mounts it again on start)."""
        rows = con.execute(
            "SELECT s.name FROM sandboxes AS s, json_each(s.volumes) AS m "
            "WHERE json_extract(m.value, '$.volume') = ? ORDER BY s.name",
            (volume_id,),
        )
        return [r["name"] for r in rows]

    @_guarded
    def volumes_used(self, volume_ids: list[str], when: float) -> None:
        self._db.executemany("UPDATE volumes SET last_used_at = ? WHERE id = ?", [(when, v) for v in volume_ids])

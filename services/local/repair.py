"""The local state database's health, and `sandbench doctor --repair`: rebuild it from the sandboxes folder.

`inspect` says whether `state.db` is sound (sqlite's `quick_check`, plus "does it list the sandbox folders that
have a `meta.json`") without writing to it. `repair` moves a damaged file (and its `-wal`/`-shm`) aside under a
timestamped name, creates a fresh database and inserts one row per `sandboxes/<id>/meta.json` and one per
`snapshots/<stem>.json`; on a sound database it only adds the rows that are missing. It deletes nothing and never
opens a workspace: the state of each sandbox comes from what the folder holds (`workspace/` = stopped, or started
while its processes still run; `archive.ckpt` (the store holds it) or only `archive.tar.gz` = archived), and one
per named snapshot the checkpoint store keeps (its record holds owner, name and source). Folders without a valid
`meta.json` are kept and reported.

It refuses while another process has the database open (the app, `sandbench serve`): they would go on writing to
the file that was moved aside.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from services.errors import InvalidInput, NameRejected, ProviderError
from services.local import meta
from services.local.launch import Launcher
from services.local.store import SnapshotRow, Store, is_damage, mounts_json
from services.models import SandboxState

DB_NAME = "state.db"
SIDE_FILES = ("-wal", "-shm")


@dataclass(frozen=True)
class StateHealth:
    path: Path
    exists: bool
    damaged: bool
    detail: str = ""  # why it is damaged
    unlisted: tuple[str, ...] = ()  # sandbox folders with a meta.json and no row
    no_meta: tuple[str, ...] = ()  # sandbox folders with no row and no usable meta.json: kept, not rebuildable


@dataclass
class RepairResult:
    moved_to: Path | None = None
    sandboxes: list[str] = field(default_factory=list)  # names of the rows added
    snapshots: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: what was left alone and why

    def to_json(self) -> dict[str, object]:
        return {
            "moved_to": str(self.moved_to) if self.moved_to else None,
            "sandboxes": self.sandboxes,
            "snapshots": self.snapshots,
            "skipped": self.skipped,
        }


def _folders(data_dir: Path) -> list[Path]:
    d = data_dir / "sandboxes"
    try:
        return sorted(p for p in d.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _known(path: Path) -> tuple[set[str], str]:
    """Sandbox ids listed in a database opened read-only (never created, never written), or why it is damaged.
    A file without our tables (zero length: sqlite calls that an empty database) lists nothing."""
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        check = con.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            return set(), f"quick_check: {str(check[0] if check else 'no answer')[:120]}"
        try:
            return {r[0] for r in con.execute("SELECT id FROM sandboxes")}, ""
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return set(), ""
            raise
    finally:
        con.close()


def inspect(data_dir: Path) -> StateHealth:
    path = data_dir / DB_NAME
    if not path.exists():
        return StateHealth(path, exists=False, damaged=False)
    try:
        known, detail = _known(path)
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            return StateHealth(path, exists=True, damaged=True, detail=str(exc))
        raise
    if detail:
        return StateHealth(path, exists=True, damaged=True, detail=detail)
    unlisted, no_meta = [], []
    for folder in _folders(data_dir):
        if folder.name in known:
            continue
        if meta.read_sandbox_meta(folder) is not None:
            unlisted.append(folder.name)
        else:
            no_meta.append(folder.name)
    damaged = bool(unlisted) and not known
    return StateHealth(
        path,
        exists=True,
        damaged=damaged,
        detail=f"it lists none of the {len(unlisted)} sandbox folders" if damaged else "",
        unlisted=tuple(unlisted),
        no_meta=tuple(no_meta),
    )


def holders(path: Path) -> list[int]:
    """Other processes with the database (or its WAL) open: /proc/PID/fd, as far as we may look."""
    targets = {str(path), *(str(path) + s for s in SIDE_FILES)}
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fds = os.listdir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry.name}/fd/{fd}") in targets:
                    found.append(int(entry.name))
                    break
            except OSError:
                continue
    return found


def _move_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while dest.exists():
        dest = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    os.rename(path, dest)
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.rename(str(path) + suffix, str(dest) + suffix)
    return dest


def _state_of(data_dir: Path, sandbox_id: str, launcher: Launcher) -> SandboxState | None:
    folder = data_dir / "sandboxes" / sandbox_id
    if (folder / "archive.ckpt").is_file():
        return SandboxState.ARCHIVED  # whatever of the workspace is left, its checkpoint is the state
    if (folder / "workspace").is_dir():
        return SandboxState.STARTED if launcher.live_pids(sandbox_id) else SandboxState.STOPPED
    if (folder / "archive.tar.gz").is_file():
        return SandboxState.ARCHIVED
    return None


def repair(data_dir: Path) -> RepairResult:
    """See the module docstring. Raises `ProviderError` (one line) when it must not run now."""
    path = data_dir / DB_NAME
    busy = holders(path)
    if busy:
        raise ProviderError(
            f"the state database is open in process {', '.join(map(str, busy[:5]))}: close the app and "
            "'sandbench serve' first, then run 'sandbench doctor --repair' again"
        )
    health = inspect(data_dir)
    result = RepairResult()
    if health.damaged:
        result.moved_to = _move_aside(path)
    store = Store(path)
    try:
        if not health.damaged and health.exists:
            store.all()  # a sound file must also open as one; Store raises StateDatabaseDamaged otherwise
        _rebuild_sandboxes(data_dir, store, result)
        _rebuild_snapshots(data_dir, store, result)
    finally:
        store.close()
    return result


def _rebuild_sandboxes(data_dir: Path, store: Store, result: RepairResult) -> None:
    launcher = Launcher(data_dir / "run")  # only to read which sandboxes still have processes
    for folder in _folders(data_dir):
        if store.get(folder.name) is not None:
            continue
        m = meta.read_sandbox_meta(folder)
        if m is None:
            result.skipped.append(f"sandboxes/{folder.name}: no valid meta.json (folder kept as it is)")
            continue
        state = _state_of(data_dir, m.id, launcher)
        if state is None:
            result.skipped.append(f"sandboxes/{folder.name} ({m.name}): neither a workspace nor an archive")
            continue
        with store.tx() as con:
            if store.by_name(m.owner, m.name) is not None:
                result.skipped.append(f"sandboxes/{folder.name}: {m.owner} already has a sandbox named {m.name}")
                continue
            if m.uid is not None and store.uid_taken(con, m.uid):
                result.skipped.append(f"sandboxes/{folder.name} ({m.name}): its uid belongs to another sandbox")
                continue
            try:
                last = (folder / meta.META_FILE).stat().st_mtime
            except OSError:
                last = time.time()
            store.insert(
                con,
                {
                    "id": m.id,
                    "name": m.name,
                    "owner": m.owner,
                    "state": str(state),
                    "labels": json.dumps(m.labels, sort_keys=True),
                    "cpu": m.resources.cpu,
                    "memory_gib": m.resources.memory_gib,
                    "disk_gib": m.resources.disk_gib,
                    "auto_stop": m.auto_stop,
                    "network": int(m.network),
                    "ephemeral": int(m.ephemeral),
                    "uid": m.uid,
                    "gid": m.gid,
                    "created_at": m.created_at,
                    "last_activity": max(last, m.created_at),
                    "error": None,
                    "creator": None,
                    "auto_archive": m.auto_archive,
                    "auto_delete": m.auto_delete,
                    # a repaired stopped sandbox counts as stopped from now: its stop time is not in the folder
                    "stopped_at": time.time() if state is not SandboxState.STARTED else None,
                    "volumes": mounts_json(m.volumes),
                },
            )
        result.sandboxes.append(m.name)


def _rebuild_snapshots(data_dir: Path, store: Store, result: RepairResult) -> None:
    _rebuild_kept_snapshots(data_dir, store, result)
    snaps_dir = data_dir / "snapshots"
    try:
        files = sorted(p.name for p in snaps_dir.iterdir() if p.name.endswith(".tar.gz") and p.is_file())
    except OSError:
        return
    known = {s.file for s in store.snapshots()}
    for file in files:
        if file in known:
            continue
        m = meta.read_snapshot_meta(snaps_dir, file)
        if m is None:
            result.skipped.append(f"snapshots/{file}: no valid metadata (file kept as it is)")
            continue
        if store.snapshot(m.owner, m.name) is not None:
            result.skipped.append(f"snapshots/{file}: {m.owner} already has a snapshot named {m.name}")
            continue
        store.add_snapshot(
            SnapshotRow(m.owner, m.name, m.source, file, (snaps_dir / file).stat().st_size, m.created_at)
        )
        result.snapshots.append(m.name)


def _rebuild_kept_snapshots(data_dir: Path, store: Store, result: RepairResult) -> None:
    """Rows for the named snapshots in the checkpoint store (checkpoints of kind `snapshot`)."""
    if not (data_dir / "store" / "checkpoints").is_dir():
        return
    from services.checkpoints.store import CheckpointStore
    from services.local.kept_states import KeptStates
    from services.local.provider import validate_sandbox_name

    ckpts = CheckpointStore(data_dir)
    known = {s.file for s in store.snapshots()}
    for sandbox in ckpts.sandboxes():
        try:
            found = ckpts.all(sandbox)
        except InvalidInput:
            continue
        for c in found:
            if c.kind != "snapshot" or not c.name or not c.owner:
                continue
            file = KeptStates.snapshot_file(c)
            if file in known:
                continue
            try:
                validate_sandbox_name(c.name, "snapshot name")
            except NameRejected:
                result.skipped.append(f"store snapshot {c.id}: not a valid snapshot name")
                continue
            if store.snapshot(c.owner, c.name) is not None:
                result.skipped.append(f"store snapshot {c.id}: {c.owner} already has a snapshot named {c.name}")
                continue
            store.add_snapshot(SnapshotRow(c.owner, c.name, c.source, file, c.bytes, c.created_at))
            result.snapshots.append(c.name)

"""Named snapshots and archives of local sandboxes, kept in the checkpoint store (DESIGN §8: one store for
workspace states). The provider's lifecycle code calls this; the store's own rules are services/checkpoints/.

- A **snapshot** is a checkpoint of kind `snapshot` in its source sandbox's line (its name, owner and source
  recorded in the record), taken against the sandbox's stat cache: it costs what changed since the sandbox's last
  checkpoint. The sandbox's HEAD does not move (a snapshot is kept beside its checkpoints, not in their way). Its
  row in the state database names it `store:<sandbox id>/<checkpoint id>`; rows naming a `<stem>.tar.gz` are
  snapshots an older version made, and are read the old way (services/local/provider.py `_extract`).
- A sandbox made from a snapshot gets the snapshot's files (apply, as a fork does) and a first checkpoint whose
  parent is the snapshot's; deleting the snapshot re-bases it (services/checkpoints/retention.py) and frees the
  blobs nothing else names.
- **Archive**: the workspace becomes a checkpoint of kind `archive` (HEAD moves to it), the store is flushed to
  disk (syncfs), then `sandboxes/<id>/archive.ckpt` names it (written atomically, fsynced) — and only then is the
  workspace removed. The marker's presence is the archive: whatever happens after it is written, the checkpoint
  holds the workspace, and a start restores from it (into `workspace.partial`, renamed into place, then the
  marker goes). An archive an older version made (`archive.tar.gz`) is extracted the old way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from services.checkpoints import states
from services.checkpoints.retention import delete_locked
from services.checkpoints.store import CHECKPOINT_ID, Checkpoint, CheckpointStore
from services.errors import ProviderError, SnapshotNotFound

STORE_SNAPSHOT = re.compile(r"store:([0-9a-f]{12})/([0-9a-f]{12})")
MARKER = "archive.ckpt"
LEGACY_ARCHIVE = "archive.tar.gz"


def is_store_snapshot(file: str) -> bool:
    return STORE_SNAPSHOT.fullmatch(file) is not None


def has_archive(sandbox_dir: Path) -> bool:
    """An archive of either kind is there (so the folder is someone's work, never debris)."""
    return (sandbox_dir / MARKER).exists() or (sandbox_dir / LEGACY_ARCHIVE).exists()


class KeptStates:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._store: CheckpointStore | None = None

    @property
    def store(self) -> CheckpointStore:
        if self._store is None:
            self._store = CheckpointStore(self.data_dir)
        return self._store

    # -- snapshots ----------------------------------------------------------------------------------------------
    def snapshot(self, sandbox_id: str, root: Path, *, name: str, owner: str, source: str) -> Checkpoint:
        """Snapshot the workspace at `root`. Returns the checkpoint (its row's file: `snapshot_file`)."""
        with self.store.locked():
            ckpt, _ = states.take(
                self.store,
                sandbox_id,
                root,
                f"snapshot {name}",
                "snapshot",
                owner,
                move_head=False,
                name=name,
                owner=owner,
                source=source,
            )
        return ckpt

    def snapshot_of_archive(self, sandbox_dir: Path, sandbox_id: str, *, name: str, owner: str) -> Checkpoint:
        """Snapshot an archived sandbox (store-kept): a record of its archive checkpoint's state."""
        with self.store.locked():
            src = self._archived(sandbox_dir, sandbox_id)
            return states.copy(
                self.store, src, "snapshot", f"snapshot {name}", owner, name=name, owner=owner, source=src.sandbox
            )

    @staticmethod
    def snapshot_file(ckpt: Checkpoint) -> str:
        return f"store:{ckpt.sandbox}/{ckpt.id}"

    def _snapshot_ckpt(self, file: str) -> Checkpoint:
        m = STORE_SNAPSHOT.fullmatch(file)
        ckpt = self.store.get(m.group(1), m.group(2)) if m else None
        if ckpt is None:
            raise SnapshotNotFound("this snapshot's state is missing from the checkpoint store")
        return ckpt

    def fill_from_snapshot(
        self, file: str, sandbox_id: str, root: Path, owner: tuple[int, int] | None, journal: Path, who: str
    ) -> Checkpoint:
        """Write the snapshot's files into the new, empty workspace `root`; its first checkpoint's parent is the
        snapshot's checkpoint."""
        src = self._snapshot_ckpt(file)
        # without the store lock (it is per data dir: every sandbox's checkpoints would wait for this copy); a
        # snapshot deleted meanwhile makes a blob read fail, and the create with it, leaving nothing behind
        states.materialize(self.store, src, root, owner, journal)
        with self.store.locked():
            if self.store.get(src.sandbox, src.id) is None:
                raise SnapshotNotFound(f"snapshot {src.name!r} was deleted meanwhile")
            ckpt, _ = states.take(
                self.store, sandbox_id, root, f"created from snapshot {src.name}", "fork", who, parent=src
            )
        return ckpt

    def delete_snapshot(self, file: str) -> None:
        """Remove a snapshot's checkpoint (children re-based) and the blobs nothing else names."""
        m = STORE_SNAPSHOT.fullmatch(file)
        if m is None:
            return
        with self.store.locked():
            if self.store.get(m.group(1), m.group(2)) is not None:
                delete_locked(self.store, m.group(1), [m.group(2)], allow_protected=True)

    def snapshot_bytes(self, file: str) -> int:
        return self._snapshot_ckpt(file).bytes

    # -- a deleted sandbox -----------------------------------------------------------------------------------------
    def forget_sandbox(self, sandbox_id: str) -> tuple[int, int]:
        """Drop a deleted sandbox's checkpoints (its archive among them) and the blobs nothing else names; its
        named snapshots stay (their rows keep them), and so do forks of it. Every checkpoint that survives is
        re-based once onto its nearest surviving ancestor first, so none is rewritten per victim. (blobs, bytes)
        freed."""
        store = self.store
        if not (store.checkpoints / sandbox_id).is_dir():
            return 0, 0
        with store.locked():
            every = {(c.sandbox, c.id): c for s in store.sandboxes() for c in store.all(s)}
            victims = {k for k, c in every.items() if c.sandbox == sandbox_id and c.kind != "snapshot"}
            if not victims:
                return 0, 0

            def parent_key(c: Checkpoint) -> tuple[str, str] | None:
                return (c.parent_sandbox or c.sandbox, c.parent) if c.parent else None

            for key, c in every.items():
                up = parent_key(c)
                if key in victims or up not in victims:
                    continue
                while up is not None and up in victims:
                    up = parent_key(every[up])
                store.rebase(c, every.get(up) if up else None)
            for key in victims:
                store.remove(every[key])
            d = store.checkpoints / sandbox_id
            for name in ("HEAD", "index.json"):
                (d / name).unlink(missing_ok=True)
            if not any(d.iterdir()):
                d.rmdir()
            return store.sweep(store.referenced_blobs())

    # -- archive ------------------------------------------------------------------------------------------------
    def archive(self, sandbox_dir: Path, sandbox_id: str, root: Path, who: str) -> Checkpoint:
        """Checkpoint the (stopped, claimed) workspace and make it durable, then write the marker. The caller
        removes the workspace only after this returns."""
        with self.store.locked():
            ckpt, _ = states.take(self.store, sandbox_id, root, "archived", "archive", who)
            states.durable(self.store)
        _write_marker(sandbox_dir, ckpt.id)
        return ckpt

    def archived(self, sandbox_dir: Path) -> bool:
        return (sandbox_dir / MARKER).exists()

    def _archived(self, sandbox_dir: Path, sandbox_id: str) -> Checkpoint:
        try:
            ckpt_id = json.loads((sandbox_dir / MARKER).read_bytes())["checkpoint"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProviderError("this sandbox's archive marker is damaged") from exc
        ckpt = self.store.get(sandbox_id, ckpt_id) if isinstance(ckpt_id, str) else None
        if ckpt is None:
            raise ProviderError("this sandbox's archived workspace is missing from the checkpoint store")
        return ckpt

    def archived_bytes(self, sandbox_dir: Path, sandbox_id: str) -> int | None:
        try:
            return self._archived(sandbox_dir, sandbox_id).bytes
        except ProviderError:
            return None

    def unarchive(self, sandbox_dir: Path, sandbox_id: str, owner: tuple[int, int] | None, journal: Path) -> None:
        """Bring the workspace back from its archive checkpoint, byte for byte (modes, symlinks, mtimes)."""
        ws, partial = sandbox_dir / "workspace", sandbox_dir / "workspace.partial"
        ckpt = self._archived(sandbox_dir, sandbox_id)
        shutil.rmtree(partial, ignore_errors=True)  # a start killed part-way
        if ws.exists():
            # an archive interrupted after its checkpoint was durable (or its removal part-way): the checkpoint is
            # the workspace, whatever of the folder is left
            shutil.rmtree(ws)
        partial.mkdir(mode=0o700)
        if owner is not None:
            os.chown(partial, *owner)
        # without the store lock: the checkpoint is this sandbox's HEAD, so nothing deletes it or its blobs
        states.materialize(self.store, ckpt, partial, owner, journal)
        with self.store.locked():
            self.store.set_head(sandbox_id, ckpt.id)
            self.store.clear_index(sandbox_id)
        partial.rename(ws)
        (sandbox_dir / MARKER).unlink()
        _fsync_dir(sandbox_dir)


def _write_marker(sandbox_dir: Path, ckpt_id: str) -> None:
    if not CHECKPOINT_ID.fullmatch(ckpt_id):
        raise ProviderError("not a checkpoint id")
    tmp = sandbox_dir / f"{MARKER}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps({"checkpoint": ckpt_id}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.rename(sandbox_dir / MARKER)
    _fsync_dir(sandbox_dir)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

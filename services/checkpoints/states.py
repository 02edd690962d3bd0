"""Workspace states in the one store (DESIGN §8): taking a checkpoint, writing one into an empty workspace, and the
durability an archive needs. Used by `CheckpointService` (checkpoints, restore, fork) and by the local provider
(named snapshots, archive and the start of an archived sandbox), so there is one way to keep a workspace's state.

Everything here is synchronous and expects the store lock (`CheckpointStore.locked()`) held by the caller.

- `take`: scan the workspace against the sandbox's stat cache (its HEAD's manifest, or what a restore left), store
  what moved, save a checkpoint whose manifest is a delta on its parent's. `move_head=False` (a named snapshot)
  leaves the sandbox's HEAD alone: the snapshot is a state kept beside the sandbox's own line of checkpoints.
- `copy`: a new record naming the same entries as another checkpoint (a snapshot of an archived sandbox): no scan,
  no blob, a manifest with nothing in it but its base.
- `materialize`: apply a checkpoint into an empty folder (services/checkpoints/apply.py, never following a symlink),
  then put back each name's mtime (as tar did), so a build tool sees the files as they were.
- `durable`: syncfs on the store's filesystem, so the blobs a checkpoint names survive a power cut before the
  workspace they came from is removed (blobs are not fsynced one by one otherwise; see store.py).
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from services.checkpoints.apply import apply
from services.checkpoints.scan import MAX_BYTES, MAX_FILES, ScanResult, Tree, scan
from services.checkpoints.store import Checkpoint, CheckpointStore, Entry
from services.errors import ProviderError
from services.local.fsapi import WorkspaceFS

# kept by the snapshot row naming it, never deleted as a checkpoint (an archive's is safe as HEAD while archived:
# HEAD is never deleted, and nothing moves it until a start has restored the workspace from it)
PROTECTED_KINDS = frozenset({"snapshot"})


def base(store: CheckpointStore, sandbox_id: str) -> tuple[Checkpoint | None, Mapping[str, Entry]]:
    """The sandbox's HEAD checkpoint and the stat cache a scan of its workspace starts from (a view, after a
    restore: the scan materializes it if it walks everything)."""
    head_id = store.head(sandbox_id)
    head = store.get(sandbox_id, head_id) if head_id else None
    view = store.index_view(sandbox_id)
    if view is not None:
        return head, view
    return head, store.by_path(store.manifest(head) if head is not None else [])  # shared and cached: read only


def new_record(
    store: CheckpointStore,
    sandbox_id: str,
    parent: Checkpoint | None,
    entries: list[Entry],
    *,
    message: str,
    who: str,
    kind: str,
    added: tuple[int, int] = (0, 0),
    hashed: tuple[int, int] = (0, 0),
    name: str | None = None,
    owner: str | None = None,
    source: str | None = None,
) -> Checkpoint:
    """The record of a new checkpoint of `entries` in `sandbox_id` on `parent` (None: the first): a fresh id, now,
    and its files and bytes counted from the entries. `added` and `hashed` are (files, bytes) of the blobs it
    stored and of what its scan read. The caller saves it."""
    files = [e for e in entries if e.kind == "file"]
    return Checkpoint(
        id=store.new_id(),
        sandbox=sandbox_id,
        parent=parent.id if parent else None,
        parent_sandbox=parent.sandbox if parent else None,
        created_at=time.time(),
        message=message,
        who=who,
        kind=kind,
        files=len(files),
        bytes=sum(e.size for e in files),
        files_added=added[0],
        bytes_added=added[1],
        hashed_files=hashed[0],
        hashed_bytes=hashed[1],
        name=name,
        owner=owner,
        source=source,
    )


def take(
    store: CheckpointStore,
    sandbox_id: str,
    root: Path,
    message: str,
    kind: str,
    who: str,
    *,
    parent: Checkpoint | None = None,
    if_changed: bool = False,
    move_head: bool = True,
    name: str | None = None,
    owner: str | None = None,
    source: str | None = None,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_BYTES,
    scanner: Callable[[Tree, Mapping[str, Entry]], ScanResult] | None = None,
) -> tuple[Checkpoint, list[Entry]]:
    """Checkpoint the workspace at `root` (the lock held). `if_changed`: when nothing differs from HEAD, take none
    and return HEAD itself. `parent` (a fork's source) overrides HEAD as the parent. `scanner(tree, cache)`: the
    scan storing new contents (a change feed's, services/checkpoints/feed.py), instead of a full one."""
    from services.checkpoints.changes import compare

    head, cache = base(store, sandbox_id)
    with Tree(root) as tree:
        if scanner is not None:
            res = scanner(tree, cache)
        else:
            res = scan(tree, cache, store, store=True, max_files=max_files, max_bytes=max_bytes)
    if if_changed and head is not None and parent is None:
        # the scan reuses the cache's entries for names whose metadata did not move, so this is cheap
        if not compare(old := store.manifest(head), res.entries, store.by_path(old)):
            return head, res.entries
    up = parent or head
    ckpt = new_record(
        store,
        sandbox_id,
        up,
        res.entries,
        message=message,
        who=who,
        kind=kind,
        added=(res.files_added, res.bytes_added),
        hashed=(res.hashed_files, res.hashed_bytes),
        name=name,
        owner=owner,
        source=source,
    )
    # a delta on the manifest of the checkpoint the workspace was at (a fork's: the one forked from)
    store.save(ckpt, res.entries, base=up)
    store.keep_blobs()
    if move_head:
        store.set_head(sandbox_id, ckpt.id)
        store.clear_index(sandbox_id)  # the new head's manifest is the stat cache now
    return ckpt, res.entries


def copy(
    store: CheckpointStore, src: Checkpoint, kind: str, message: str, who: str, *, name: str, owner: str, source: str
) -> Checkpoint:
    """A record of `src`'s state under another kind and name (in `src`'s sandbox), sharing every blob."""
    entries = store.manifest(src)
    ckpt = new_record(
        store, src.sandbox, src, entries, message=message, who=who, kind=kind, name=name, owner=owner, source=source
    )
    store.save(ckpt, entries, base=src)
    return ckpt


def materialize(
    store: CheckpointStore, ckpt: Checkpoint, root: Path, owner: tuple[int, int] | None, journal: Path | None
) -> list[Entry]:
    """Write checkpoint `ckpt` into the empty folder `root`, mtimes included. Returns its entries."""
    entries = store.manifest(ckpt)
    fs = WorkspaceFS(
        root,
        owner_uid=owner[0] if owner else None,
        owner_gid=owner[1] if owner else None,
        disk_limit_bytes=None,  # a state this workspace held; a sized filesystem still says ENOSPC
        journal=journal,
    )
    with fs, Tree(root) as tree:
        apply(tree, fs, store, [], entries, None, owner=owner)
        _put_mtimes(tree, entries)
    return entries


def _put_mtimes(tree: Tree, entries: list[Entry]) -> None:
    # deepest first: setting a name's time changes its folder's, so folders come after what they hold
    for e in sorted(entries, key=lambda e: e.path.count("/"), reverse=True):
        folder, _, name = e.path.rpartition("/")
        try:
            pfd = tree.open_dir(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ProviderError(f"cannot restore {e.path!r}: its folder changed during the restore") from exc
        try:
            os.utime(name, ns=(e.mtime_ns, e.mtime_ns), dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)


def durable(store: CheckpointStore) -> None:
    """Flush the store's filesystem to disk (syncfs): every blob and manifest written so far is on it after this."""
    fd = os.open(store.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise ProviderError(f"could not flush the checkpoint store to disk: {os.strerror(err)}")
    finally:
        os.close(fd)

"""Making a workspace (or some paths in it) match a checkpoint's manifest, without following a symlink.

Files are written with the file API's atomic replace (`WorkspaceFS.open_write`: temp beside the target, chowned
to the sandbox's uid, renamed over the name, never written through an existing inode, journaled so a killed
restore leaves no temp), up to `BATCH` at a time committed together (`commit_many`: all temps flushed, then
renamed, then each folder fsynced once — two fsyncs a file were most of a small restore's time).

Folders are made parents-first, and whatever stands where a folder must be — a symlink the sandbox planted since
the checkpoint, a file — is removed as a name first, so every later path resolves through real folders (and
`openat2(RESOLVE_NO_SYMLINKS)` refuses any that is swapped meanwhile). Symlinks are created as symlinks (under a
temp name, then renamed). Folder modes are set last, deepest first, so a read-only folder does not block its own
restore. Modes are kept up to 0o777: no set-id bit is ever restored by the host.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import operator
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.checkpoints.scan import Tree
from services.checkpoints.store import CheckpointStore, Entry
from services.errors import FileNotFound, ProviderError
from services.local.fsapi import AtomicWrite, WorkspaceFS

BATCH = 64  # files staged before their commit (each holds three fds until then)
_path = operator.attrgetter("path")


@dataclass
class ApplyResult:
    written: list[str] = field(default_factory=list)  # files and symlinks (re)created
    deleted: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)  # folders made or whose mode was set

    @property
    def touched(self) -> set[str]:
        return {*self.written, *self.deleted, *self.dirs}


def in_scope(path: str, scope: list[str] | None) -> bool:
    """Whether `path` is one of the paths asked for or beneath one (None, or "" among them: everything)."""
    if scope is None:
        return True
    return any(not s or path == s or path.startswith(s + "/") for s in scope)


def select(entries: list[Entry], scope: list[str] | None, keys: list[str] | None = None) -> list[Entry]:
    """The entries (sorted by path) that are in scope: found by bisection, since a path and everything beneath it
    are two contiguous runs of a sorted list (`s`, then `s/` up to `s0`, '0' being the character after '/').
    `keys`: the entries' paths, when the caller selects from the same list more than once."""
    if scope is None or "" in scope:
        return entries
    if keys is None:
        keys = [e.path for e in entries]
    picked: set[int] = set()
    for s in scope:
        i = bisect.bisect_left(keys, s)
        if i < len(keys) and keys[i] == s:
            picked.add(i)
        picked.update(range(bisect.bisect_left(keys, s + "/"), bisect.bisect_left(keys, s + "0")))
    return [entries[i] for i in sorted(picked)]


def _ancestors(path: str) -> Iterable[str]:
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def apply(
    tree: Tree,
    fs: WorkspaceFS,
    objects: CheckpointStore,
    current: list[Entry],
    target: list[Entry],
    scope: list[str] | None,
    *,
    owner: tuple[int, int] | None,
    differ: Iterable[str] | None = None,
) -> ApplyResult:
    """Make the paths in `scope` (None: everything) what they are in `target`. `differ`, for a whole restore: the
    paths where `current` and `target` differ (`changes.compare`), so only they are visited — every other name is
    as the target has it already, and so are its folders."""
    cur = objects.by_path(current)  # a manifest or a scan's answer: never changed, so its map can be kept
    tgt = objects.by_path(target)  # a manifest: its map is kept by the store
    if differ is not None and scope is None:
        moved = set(differ)
        cur_in = sorted((cur[p] for p in moved if p in cur), key=_path)
        tgt_in = sorted((tgt[p] for p in moved if p in tgt), key=_path)
    else:
        cur_in, tgt_in = (
            select(current, scope, objects.lists.keys(current)),
            select(target, scope, objects.lists.keys(target)),
        )
    result = ApplyResult()
    # folders the target needs for the paths in scope, and those paths themselves
    want_dirs: set[str] = {e.path for e in tgt_in if e.kind == "dir"}
    if scope is not None:
        for e in tgt_in:
            want_dirs.update(a for a in _ancestors(e.path) if a in tgt and tgt[a].kind == "dir")

    # 1. names in scope the target lacks (or has as another kind) go; a deleted folder's contents go with it
    doomed = [e.path for e in cur_in if e.path not in tgt or tgt[e.path].kind != e.kind]
    done: set[str] = set()
    for p in doomed:
        if any(a in done for a in _ancestors(p)):
            continue  # went with its folder
        with contextlib.suppress(FileNotFound):
            fs.delete(p, recursive=True)
        done.add(p)
        result.deleted.append(p)

    # 2. folders, parents first; whatever non-folder stands in the way is removed as a name
    for p in sorted(want_dirs):
        seen = cur.get(p)
        if seen is not None and seen.kind == "dir" and p not in done:
            continue  # a real folder at the scan just made; a swap since then fails closed on the way below
        kind = _kind_now(fs, p)
        if kind == "dir":
            continue
        if kind is not None:
            fs.delete(p, recursive=True)
        fs.mkdir(p)
        result.dirs.append(p)

    # 3. files and symlinks in scope that differ from the target; files staged as temps and committed a batch at
    # a time (`WorkspaceFS.commit_many`: each temp on disk before its rename, each folder fsynced once after them)
    batch: list[AtomicWrite] = []
    try:
        for e in tgt_in:
            p = e.path
            if e.kind == "dir":
                continue
            now = cur.get(p)
            if now is not None and now.kind == e.kind and now.ref == e.ref and now.mode == e.mode and p not in done:
                continue  # as the scan just made found it (a process changing it since races any restore anyway)
            kind = _kind_now(fs, p)
            # a rename replaces a file or a symlink by a symlink; a file is never written over a non-file
            if kind == "dir" or (e.kind == "file" and kind not in (None, "file")):
                fs.delete(p, recursive=True)
            if e.kind == "file":
                batch.append(_stage_file(fs, objects, e))
                if len(batch) >= BATCH:
                    _commit(fs, batch, result)
            else:
                _symlink(tree, e, owner)
                result.written.append(p)
        _commit(fs, batch, result)  # before the folder modes: a read-only folder takes no rename
    finally:
        for pending in batch:  # a failure on the way: no temp is left (abort after commit does nothing)
            pending.abort()

    # 4. folder modes, deepest first
    for p in sorted(want_dirs, key=lambda d: d.count("/"), reverse=True):
        e = tgt[p]
        now = cur.get(p)
        if now is not None and now.kind == "dir" and now.mode == e.mode and p not in result.dirs:
            continue
        fd = tree.open_dir(p, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fchmod(fd, e.mode & 0o777)
        finally:
            os.close(fd)
        if p not in result.dirs:
            result.dirs.append(p)
    return result


def _kind_now(fs: WorkspaceFS, path: str) -> str | None:
    try:
        return fs.stat(path).kind
    except FileNotFound:
        return None


def _stage_file(fs: WorkspaceFS, objects: CheckpointStore, e: Entry) -> AtomicWrite:
    """The file's content in a temp beside it (not yet renamed): the caller commits or aborts it."""
    pending = fs.open_write(e.path, mode=e.mode & 0o777)
    try:
        for chunk in objects.read_blob(e.ref):  # verifies the hash at the end, before the commit
            pending.write(chunk)
    except BaseException:
        pending.abort()
        raise
    return pending


def _commit(fs: WorkspaceFS, batch: list[AtomicWrite], result: ApplyResult) -> None:
    if batch:
        fs.commit_many(batch)
        result.written.extend(w.path for w in batch)
        batch.clear()


def _symlink(tree: Tree, e: Entry, owner: tuple[int, int] | None) -> None:
    parent, _, name = e.path.rpartition("/")
    try:
        pfd = tree.open_dir(parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ProviderError(f"cannot restore {e.path!r}: its folder changed during the restore") from exc
    tmp = f".sandbench-{secrets.token_hex(8)}.tmp"
    try:
        os.symlink(e.ref, tmp, dir_fd=pfd)
        try:
            if owner is not None:
                os.chown(tmp, owner[0], owner[1], dir_fd=pfd, follow_symlinks=False)
            os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=pfd)
            raise
    except OSError as exc:
        if exc.errno in (errno.EISDIR, errno.ENOTEMPTY):
            raise ProviderError(f"cannot restore {e.path!r}: a folder appeared there during the restore") from exc
        raise ProviderError(f"cannot restore {e.path!r}: {os.strerror(exc.errno or 0)}") from exc
    finally:
        os.close(pfd)

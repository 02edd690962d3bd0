"""CheckpointService: checkpoints, changes, restore and fork of local sandboxes, over `SandboxService`.

Every call goes through the service's ownership check and `ensure_running` (write calls need the sandbox to be
the caller's; reads honour `show_others`), runs its file work in a thread (`asyncio.to_thread`), and writes one
audit line per operation (`checkpoint`, `restore` — one per path asked for —, `fork`): ids and paths, never
contents. A restore always checkpoints the current state first, under the same store lock, so it can be undone
(or names the head checkpoint as that state, when the automatic checkpoints' marker proves the workspace is it).

Daytona sandboxes: the same operations on the same local store, the workspace scanned and written inside the
sandbox (services/checkpoints/remote.py; `_remote` picks it). What is not available there refuses by name.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services import paths
from services.checkpoints import auto, remote, states
from services.checkpoints.apply import ApplyResult, apply
from services.checkpoints.changes import DIFF_LIMIT, Change, compare, unified
from services.checkpoints.feeds import FEEDS_MAX, FeedSet
from services.checkpoints.scan import MAX_BYTES, MAX_FILES, ScanResult, Tree, scan
from services.checkpoints.store import Checkpoint, CheckpointStore, Entry
from services.errors import (
    AlreadyExists,
    FileNotFound,
    InvalidInput,
    PathRejected,
    ProviderError,
    SandbenchError,
    TooLarge,
)
from services.local.fsapi import WorkspaceFS
from services.local.names import validate_sandbox_name
from services.models import SandboxInfo, SandboxSpec

if TYPE_CHECKING:
    from services.checkpoints.retention import Deleted
    from services.sandbox_service import SandboxService

MESSAGE_MAX = 500
# what reads a workspace from the host (automatic checkpoints around commands among them) names itself on Daytona
REMOTE_UNAVAILABLE = (
    "automatic checkpoints around commands (and whatever reads the workspace from the host) are not available"
)
LATEST = ("latest", "HEAD", "@")


class CheckpointNotFound(SandbenchError):
    """No checkpoint by that id (or id prefix) in this sandbox."""

    exit_code = 3


@dataclass(frozen=True)
class ChangeSet:
    since: Checkpoint
    changes: list[Change]


@dataclass(frozen=True)
class RestoreResult:
    before: Checkpoint  # the checkpoint of the state before the restore: restoring it undoes this one
    target: Checkpoint
    paths: list[str] | None
    written: int
    deleted: int


@dataclass(frozen=True)
class _Workspace:
    sandbox_id: str
    root: Path
    owner: tuple[int, int] | None
    journal: Path | None


class CheckpointService:
    def __init__(self, svc: SandboxService) -> None:
        self.svc = svc
        self.max_files = MAX_FILES
        self.max_bytes = MAX_BYTES
        self._store: CheckpointStore | None = None
        # change feeds (services/checkpoints/feed.py): only a long-lived process turns them on (`enable_feeds`)
        self.feeds: FeedSet | None = None

    def enable_feeds(self, limit: int = FEEDS_MAX) -> None:
        """Keep a change feed per local sandbox scanned (at most `limit`), so later scans cost what changed. For a
        long-lived process (the app, `sandbench serve`): a one-shot CLI process scans once and goes."""
        if self.feeds is None and not self._remote:
            self.feeds = FeedSet(self.svc.counters, limit)

    def close(self) -> None:
        """Close every change feed (the service is closing)."""
        if self.feeds is not None:
            self.feeds.close_all()

    def forget(self, sandbox_id: str) -> None:
        """The sandbox was deleted or archived (or its workspace replaced): its change feed goes."""
        if self.feeds is not None:
            self.feeds.close(sandbox_id)

    def _bind(self) -> None:
        """Feeds read their events from the running loop as they arrive (so the kernel's queue does not overflow)."""
        if self.feeds is not None and self.feeds.loop is None:
            self.feeds.bind(asyncio.get_running_loop())

    def _scan(self, sandbox_id: str, tree: Tree, base: Mapping[str, Entry], *, store: bool) -> ScanResult:
        """The workspace's entries: from the sandbox's change feed when there is one, else a full scan."""
        if self.feeds is None:
            return scan(tree, base, self.store, store=store, max_files=self.max_files, max_bytes=self.max_bytes)
        return self.feeds.scan(
            sandbox_id, tree, base, self.store, store=store, max_files=self.max_files, max_bytes=self.max_bytes
        )

    # -- plumbing -----------------------------------------------------------------------------------------------
    @property
    def store(self) -> CheckpointStore:
        provider: Any = self.svc.provider
        if self._remote:
            if self._store is None:
                self._store = CheckpointStore(self.svc.config.data_dir)
            return self._store
        if getattr(provider, "name", None) != "local" or not hasattr(provider, "workspace_path"):
            raise ProviderError("checkpoints are available for local and Daytona sandboxes only")
        if self._store is None:
            # the provider's own (its snapshots and archives live in it): one manifest cache per data dir
            kept = getattr(provider, "kept", None)
            self._store = kept.store if kept is not None else CheckpointStore(provider.data_dir)
        return self._store

    @property
    def _remote(self) -> bool:
        """A Daytona sandbox: scans and restores run inside it (services/checkpoints/remote.py)."""
        return getattr(self.svc.provider, "name", None) == "daytona"

    def _workspace(self, sandbox_id: str) -> _Workspace:
        provider: Any = self.svc.provider
        if self._remote:  # what reaches here reads the workspace from the host, which a Daytona one is not on
            raise ProviderError(f"{REMOTE_UNAVAILABLE} on Daytona sandboxes (checkpoint, changes and restore are)")
        row = provider.store.get(sandbox_id)
        if row is None:
            raise ProviderError(f"no sandbox {sandbox_id!r}")
        owner = (row.uid, row.gid) if row.uid is not None and row.gid is not None else None
        journal = provider._journal(sandbox_id) if hasattr(provider, "_journal") else None
        return _Workspace(sandbox_id, provider.workspace_path(sandbox_id), owner, journal)

    async def _ready(self, sandbox_id: str, *, write: bool) -> SandboxInfo:
        _ = self.store  # refuse other providers before starting anything
        self._bind()
        return await self.svc.ensure_running(sandbox_id, write=write)

    def _fs(self, ws: _Workspace) -> WorkspaceFS:
        return WorkspaceFS(
            ws.root,
            owner_uid=ws.owner[0] if ws.owner else None,
            owner_gid=ws.owner[1] if ws.owner else None,
            # No soft-limit check: measuring usage walks the whole workspace (as long as the scan again), and a
            # restore brings back a state the workspace held; a sized filesystem still says ENOSPC, as ever.
            disk_limit_bytes=None,
            journal=ws.journal,
        )

    def _audit(
        self, op: str, sandbox_id: str, *, name: str | None = None, path: str | None = None, outcome: str = "ok"
    ) -> None:
        self.svc.audit.record(op, sandbox=sandbox_id, name=name, path=path, outcome=outcome)

    # -- resolving ----------------------------------------------------------------------------------------------
    def resolve(self, sandbox_id: str, ref: str | None) -> Checkpoint:
        """`ref`: an id, a unique prefix of one (4+ characters), or latest/HEAD/@ (None too): the checkpoint the
        workspace is at — the latest taken, or the one last restored in full."""
        store = self.store
        if ref is None or ref in LATEST:
            head = store.head(sandbox_id)
            ckpt = store.get(sandbox_id, head) if head else None
            if ckpt is None:
                raise CheckpointNotFound("this sandbox has no checkpoint yet (take one: sandbench checkpoint NAME)")
            return ckpt
        if not 4 <= len(ref) <= 12 or not all(c in "0123456789abcdef" for c in ref):
            raise CheckpointNotFound(f"no checkpoint {ref[:40]!r} (an id is 12 hex digits; 4 or more will do)")
        found = [c for c in store.all(sandbox_id) if c.id.startswith(ref)]
        if not found:
            raise CheckpointNotFound(f"no checkpoint {ref!r} in this sandbox")
        if len(found) > 1:
            raise InvalidInput(f"{ref!r} matches {len(found)} checkpoints: give more of the id")
        return found[0]

    # -- checkpoint ---------------------------------------------------------------------------------------------
    def _base(self, sandbox_id: str) -> tuple[Checkpoint | None, Mapping[str, Entry]]:
        return states.base(self.store, sandbox_id)

    def _checkpoint_locked(
        self,
        ws: _Workspace,
        message: str,
        kind: str,
        *,
        parent: Checkpoint | None = None,
        if_changed: bool = False,
    ) -> tuple[Checkpoint, list[Entry]]:
        """Checkpoint the workspace (the store lock held). `if_changed`: when nothing differs from the head
        checkpoint (content, kinds, modes), take none and return the head itself."""
        try:
            return self._take(ws, message, kind, parent=parent, if_changed=if_changed)
        except BaseException:
            self.forget(ws.sandbox_id)  # the blobs this scan stored are removed again: its feed would name them
            raise

    def _take(
        self, ws: _Workspace, message: str, kind: str, *, parent: Checkpoint | None, if_changed: bool
    ) -> tuple[Checkpoint, list[Entry]]:
        return states.take(
            self.store,
            ws.sandbox_id,
            ws.root,
            message,
            kind,
            self.svc.audit.actor(),  # an acting serve token's own name
            parent=parent,
            if_changed=if_changed,
            max_files=self.max_files,
            max_bytes=self.max_bytes,
            scanner=functools.partial(self._scan, ws.sandbox_id, store=True) if self.feeds is not None else None,
        )

    def _checkpoint_sync(self, ws: _Workspace, message: str, kind: str, *, if_changed: bool = False) -> Checkpoint:
        with self.store.locked():
            return self._checkpoint_locked(ws, message, kind, if_changed=if_changed)[0]

    async def create(self, sandbox_id: str, message: str = "", *, kind: str = "manual") -> Checkpoint:
        """Checkpoint the workspace now. Costs what changed since the last one (see services/checkpoints/scan)."""
        if len(message) > MESSAGE_MAX or "\x00" in message:
            raise InvalidInput(f"a checkpoint message is at most {MESSAGE_MAX} characters, without NUL")
        try:
            await self._ready(sandbox_id, write=True)
            if self._remote:
                ckpt = (await remote.checkpoint(self, sandbox_id, message, kind))[0]
            else:
                ws = self._workspace(sandbox_id)
                ckpt = await asyncio.to_thread(self._checkpoint_sync, ws, message, kind)
        except SandbenchError as exc:
            self._audit("checkpoint", sandbox_id, outcome=f"error:{type(exc).__name__}")
            raise
        self._audit("checkpoint", sandbox_id, name=ckpt.id)
        return ckpt

    async def list_checkpoints(self, sandbox_id: str) -> tuple[list[Checkpoint], str | None]:
        """This sandbox's checkpoints, oldest first, and the id of the one the workspace is at."""
        await self.svc.get(sandbox_id)  # ownership (read-only access is enough)
        store = self.store
        return await asyncio.to_thread(lambda: (store.all(sandbox_id), store.head(sandbox_id)))

    # -- changes ------------------------------------------------------------------------------------------------
    def _changes_sync(self, ws: _Workspace, since: str | None) -> ChangeSet:
        target = self.resolve(ws.sandbox_id, since)
        _, base = self._base(ws.sandbox_id)
        with Tree(ws.root) as tree:
            res = self._scan(ws.sandbox_id, tree, base, store=False)
        old = self.store.manifest(target)
        return ChangeSet(target, compare(old, res.entries, self.store.by_path(old)))

    async def changes(self, sandbox_id: str, since: str | None = None) -> ChangeSet:
        """What differs in the workspace now from checkpoint `since` (default: the one it is at)."""
        await self._ready(sandbox_id, write=False)
        if self._remote:
            return (await remote.changes(self, sandbox_id, since))[0]
        ws = self._workspace(sandbox_id)
        return await asyncio.to_thread(self._changes_sync, ws, since)

    def _diff_sync(self, ws: _Workspace, cs: ChangeSet) -> list[tuple[Change, list[str]]]:
        old = {e.path: e for e in self.store.manifest(cs.since)}
        out: list[tuple[Change, list[str]]] = []
        with self._fs(ws) as fs:
            for ch in cs.changes:
                if ch.kind == "dir" and ch.old_kind in (None, "dir"):
                    continue
                before = old.get(ch.path)
                lines: list[str]
                if ch.status == "mode-changed":
                    lines = [f"mode {ch.old_mode:o} -> {ch.new_mode:o}"]
                elif (before is not None and before.kind == "symlink") or ch.kind == "symlink":
                    was = f"symlink -> {before.ref}" if before and before.kind == "symlink" else before and before.kind
                    now = "deleted" if ch.status == "deleted" else _describe_now(fs, ch)
                    lines = [f"{was or 'absent'} => {now}"]
                else:
                    a = self.store.blob_bytes(before.ref, DIFF_LIMIT) if before and before.kind == "file" else b""
                    b: bytes | None = b""
                    if ch.status != "deleted" and ch.kind == "file":
                        try:
                            b = fs.read(ch.path, limit=DIFF_LIMIT).data
                        except TooLarge:
                            b = None
                        except (FileNotFound, PathRejected):
                            b = b""  # changed again since the scan
                    if a is None or b is None:
                        lines = [f"{ch.path}: over {DIFF_LIMIT // 1024} KiB, not diffed"]
                    else:
                        lines = unified(
                            ch.path, a if ch.status != "added" else None, b if ch.status != "deleted" else None
                        )
                out.append((ch, lines))
        return out

    async def diff(self, sandbox_id: str, since: str | None = None) -> tuple[ChangeSet, list[tuple[Change, list[str]]]]:
        if self._remote:
            await self._ready(sandbox_id, write=False)
            return await remote.diff(self, sandbox_id, since)
        cs = await self.changes(sandbox_id, since)
        ws = self._workspace(sandbox_id)
        return cs, await asyncio.to_thread(self._diff_sync, ws, cs)

    async def between(self, sandbox_id: str, old: str, new: str) -> ChangeSet:
        """What differs from checkpoint `old` to checkpoint `new` (both of this sandbox): read from the store alone,
        so it costs no scan and works on a stopped sandbox. `ChangeSet.since` is `old`."""
        await self.svc.get(sandbox_id)  # ownership (read-only access is enough)

        def run() -> ChangeSet:
            a, b = self.resolve(sandbox_id, old), self.resolve(sandbox_id, new)
            return ChangeSet(a, compare(self.store.manifest(a), self.store.manifest(b)))

        return await asyncio.to_thread(run)

    async def diff_between(
        self, sandbox_id: str, old: str, new: str
    ) -> tuple[ChangeSet, list[tuple[Change, list[str]]]]:
        """`between`, with each change's unified diff (bounded as `diff`'s), both sides read from the store."""
        cs = await self.between(sandbox_id, old, new)

        def run() -> list[tuple[Change, list[str]]]:
            store = self.store
            before = {e.path: e for e in store.manifest(cs.since)}
            after = {e.path: e for e in store.manifest(self.resolve(sandbox_id, new))}
            out: list[tuple[Change, list[str]]] = []
            for ch in cs.changes:
                if ch.kind == "dir" and ch.old_kind in (None, "dir"):
                    continue
                a_e, b_e = before.get(ch.path), after.get(ch.path)
                if ch.status == "mode-changed":
                    out.append((ch, [f"mode {ch.old_mode:o} -> {ch.new_mode:o}"]))
                    continue
                if (a_e and a_e.kind != "file") or (b_e and b_e.kind != "file"):
                    out.append((ch, [f"{_describe(a_e)} => {_describe(b_e)}"]))
                    continue
                a = store.blob_bytes(a_e.ref, DIFF_LIMIT) if a_e else None
                b = store.blob_bytes(b_e.ref, DIFF_LIMIT) if b_e else None
                if (a_e and a is None) or (b_e and b is None):
                    out.append((ch, [f"{ch.path}: over {DIFF_LIMIT // 1024} KiB, not diffed"]))
                else:
                    out.append((ch, unified(ch.path, a, b)))
            return out

        return cs, await asyncio.to_thread(run)

    # -- delete -------------------------------------------------------------------------------------------------
    async def delete(self, sandbox_id: str, ref: str) -> Deleted:
        """Delete one checkpoint (not the one the workspace is at): its children, in this sandbox or a fork, are
        re-based onto its parent so each stays restorable as it was, and blobs nothing names any more are freed."""
        from services.checkpoints.retention import delete_locked

        try:
            await self._owned(sandbox_id)
            store = self.store

            def run() -> Deleted:
                with store.locked():
                    target = self.resolve(sandbox_id, ref)
                    return delete_locked(store, sandbox_id, [target.id])

            result = await asyncio.to_thread(run)
        except SandbenchError as exc:
            self._audit("checkpoint-delete", sandbox_id, name=ref[:40], outcome=f"error:{type(exc).__name__}")
            raise
        self._audit("checkpoint-delete", sandbox_id, name=result.ids[0] if result.ids else ref[:40])
        return result

    async def _owned(self, sandbox_id: str) -> None:
        """Ownership for a store-only write (no need to start the sandbox): read it, and refuse others'."""
        _ = self.store
        self.svc._check_access(await self.svc.get(sandbox_id), sandbox_id, write=True)

    # -- restore ------------------------------------------------------------------------------------------------
    def _restore_sync(self, ws: _Workspace, ref: str, scope: list[str] | None) -> RestoreResult:
        store = self.store
        with store.locked():
            target = self.resolve(ws.sandbox_id, ref)
            entries = store.manifest(target)
            if scope is not None:  # a path neither side has is refused before a checkpoint is taken
                _refuse_unknown(ws, target, store.by_path(entries), scope)
            before, current = self._before_restore(ws, target)
            if scope is not None:
                # a path with anything beneath it is a folder, itself an entry: a lookup in the two maps decides
                there, here = store.by_path(entries), store.by_path(current)
                for p in scope:
                    if p not in there and p not in here:
                        raise FileNotFound(f"{p!r} is neither in checkpoint {target.id} nor in the workspace")
            result = ApplyResult()
            try:
                # a whole restore visits only the names that differ: found from the two lists (most entries are
                # the very same objects, so this costs little), not by walking every name of the target
                differ = (
                    None if scope is not None else [c.path for c in compare(entries, current, store.by_path(entries))]
                )
                with Tree(ws.root) as tree, self._fs(ws) as fs:
                    result = apply(tree, fs, store, current, entries, scope, owner=ws.owner, differ=differ)
            except SandbenchError as exc:
                store.set_index(ws.sandbox_id, None)  # what was written is unknown now: hash all next time
                self.forget(ws.sandbox_id)  # and scan all of it
                raise type(exc)(
                    f"{exc} — the restore stopped part-way; checkpoint {before.id} holds the state before it "
                    f"(restore it to undo)"
                ) from exc
            touched = result.touched
            store.set_index(ws.sandbox_id, before.id, touched)
            if scope is None:
                store.set_head(ws.sandbox_id, target.id)
        return RestoreResult(before, target, scope, len(result.written), len(result.deleted))

    def _before_restore(self, ws: _Workspace, target: Checkpoint) -> tuple[Checkpoint, list[Entry]]:
        """The checkpoint of the state before a restore (the store lock held), and its entries. When the automatic
        checkpoints' marker proves nothing moved since the scan that made the head, the head is that state: no scan,
        no new checkpoint (services/checkpoints/auto.py). Else a checkpoint taken now."""
        head_id = auto.still_clean(self.svc, ws.sandbox_id)
        auto.forget_clean(self.svc.config.data_dir, ws.sandbox_id)  # the restore moves it
        head = self.store.get(ws.sandbox_id, head_id) if head_id is not None else None
        if head is not None:
            self.svc.counters["restore.scan-skipped"] += 1
            return head, self.store.manifest(head)
        if self.feeds is None:
            return self._checkpoint_locked(ws, f"before restoring {target.id}", "before-restore")
        # with a change feed the scan is cheap, and when it finds the workspace is the head (nothing moved since the
        # head was taken) the head is the state before: no new checkpoint, as with the marker above
        was = self.store.head(ws.sandbox_id)
        ckpt, entries = self._checkpoint_locked(ws, f"before restoring {target.id}", "before-restore", if_changed=True)
        if ckpt.id == was:
            self.svc.counters["restore.head-is-before"] += 1
        return ckpt, entries

    async def restore(self, sandbox_id: str, ref: str, only: Sequence[str] = ()) -> RestoreResult:
        """Make the workspace (or the paths in `only`) what it was at checkpoint `ref`, after checkpointing it as it
        is. Running processes keep running and see the files change under them."""
        scope = [paths.normalize(p) for p in only] or None
        if scope is not None and "" in scope:
            scope = None
        try:
            await self._ready(sandbox_id, write=True)
            if self._remote:
                result = await remote.restore(self, sandbox_id, ref, scope)
            else:
                ws = self._workspace(sandbox_id)
                result = await asyncio.to_thread(self._restore_sync, ws, ref, scope)
        except SandbenchError as exc:
            self._audit("restore", sandbox_id, name=ref[:40], outcome=f"error:{type(exc).__name__}")
            raise
        for p in scope or [None]:  # type: ignore[list-item]
            self._audit("restore", sandbox_id, name=result.target.id, path=p)
        return result

    # -- fork ---------------------------------------------------------------------------------------------------
    def _fork_sync(self, src: Checkpoint, ws: _Workspace, note: str) -> Checkpoint:
        store = self.store
        # The copy runs without the store lock: it is one per data dir, and every sandbox's checkpoints (every
        # identity's, under serve; every command's, with automatic checkpoints) would wait for it. A checkpoint
        # deleted meanwhile makes a blob read fail, and the fork with it (`fork` deletes the new sandbox). The
        # mtimes come back too (as a create from a snapshot's do), so a build tool sees the files as they were.
        states.materialize(store, src, ws.root, ws.owner, ws.journal)
        with store.locked():
            if store.get(src.sandbox, src.id) is None:
                raise CheckpointNotFound(f"checkpoint {src.id} was deleted during the fork")
            return self._checkpoint_locked(ws, note, "fork", parent=src)[0]

    async def fork(self, sandbox_id: str, new_name: str, at: str | None = None) -> tuple[SandboxInfo, Checkpoint]:
        """A new sandbox (same resources, labels, network and lifecycle settings) whose workspace is checkpoint `at`
        (default: a checkpoint taken now). Its first checkpoint has that checkpoint as parent: forks are nodes of the
        checkpoint tree."""
        if self._remote:
            return await remote.fork(self, sandbox_id, new_name, at)
        validate_sandbox_name(new_name)  # refused after the checkpoint below, the name would leave it behind
        info = await self._ready(sandbox_id, write=True)
        if any(i.name == new_name for i in await self.svc.list_sandboxes()):
            # before the checkpoint below: a fork refused for its name leaves the source's tree as it was
            raise AlreadyExists(f"a sandbox named {new_name!r} already exists")
        src = self.resolve(sandbox_id, at) if at is not None else await self.create(sandbox_id, f"fork to {new_name}")
        labels = {k: v for k, v in info.labels.items() if k != self.svc.owner_label}
        spec = SandboxSpec(
            name=new_name,
            resources=info.resources,
            labels=labels,
            network=info.network,
            auto_stop_minutes=info.auto_stop_minutes,
            auto_archive_minutes=info.auto_archive_minutes,
            auto_delete_minutes=info.auto_delete_minutes,
        )
        new = await self.svc.create(spec)
        try:
            ws = self._workspace(new.id)
            first = await asyncio.to_thread(self._fork_sync, src, ws, f"forked from {info.name} at {src.id}")
        except BaseException as exc:
            self._audit("fork", sandbox_id, name=src.id, outcome="error")
            await self.svc.delete(new.id)
            if isinstance(exc, SandbenchError):
                raise
            raise ProviderError("fork failed unexpectedly (details in the log)") from exc
        # the Timeline's row names the new sandbox (`dest`), not only the checkpoint it came from
        self.svc.audit.record("fork", sandbox=sandbox_id, name=src.id, dest=new.name)
        self._audit("checkpoint", new.id, name=first.id)
        return new, first


def _refuse_unknown(ws: _Workspace, target: Checkpoint, there: Mapping[str, Entry], scope: list[str]) -> None:
    """`FileNotFound` for a path of `scope` that is neither in the checkpoint (`there`, by path) nor in the
    workspace now (looked up beneath the root without following symlinks)."""
    unknown = [p for p in scope if p not in there]
    if not unknown:
        return
    with Tree(ws.root) as tree:
        for p in unknown:
            if not _exists(tree, p):
                raise FileNotFound(f"{p!r} is neither in checkpoint {target.id} nor in the workspace")


def _exists(tree: Tree, path: str) -> bool:
    parent, _, name = path.rpartition("/")
    try:
        fd = tree.open_dir(parent)
    except OSError:
        return False
    try:
        os.lstat(name, dir_fd=fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _describe_now(fs: WorkspaceFS, ch: Change) -> str:
    try:
        entry = fs.stat(ch.path)
    except SandbenchError:
        return "gone"
    if entry.kind == "symlink":
        return f"symlink -> {entry.symlink_target}" if entry.symlink_target is not None else "symlink"
    return entry.kind


def _describe(entry: Entry | None) -> str:
    if entry is None:
        return "absent"
    return f"symlink -> {entry.ref}" if entry.kind == "symlink" else entry.kind

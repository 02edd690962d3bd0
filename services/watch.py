"""Change notifications for a sandbox's workspace (DESIGN §3 `watch.py`): UI-free, for the explorer and editors.

`WorkspaceWatcher` yields coalesced `ChangeBatch`es; `WatchHub` shares one watcher among every pane of a workspace
(the explorer re-lists from a batch's `dirs`, the git panel re-runs status): one inotify thread and one set of
watches per workspace, not one per pane; `watch_changes` is a thin form for a lone consumer (sets of relative
folder paths whose membership changed). Two ways to learn about changes:

- **native** (local sandboxes, whose workspace is a host folder): inotify through `watchfiles`' Rust watcher, in a
  thread. Not recursive on purpose: notify's recursive mode follows symlinks (measured: a sandbox's `ln -s / x`
  would make the host walk and watch the whole host filesystem). Instead the workspace is scanned without following
  symlinks (`.git` is watched but not descended into) and every real folder is watched on its own; when folders
  appear or vanish the watcher is rebuilt, and the new folders are reported so their first contents are not missed.
  Coalescing is watchfiles' own: a batch closes after `debounce_ms` of quiet (or `max_batch_ms` at the latest), so a
  `git checkout` of 5,000 files is one batch, and batches that queue up while the consumer is busy are merged.
- **polling** (remote providers, or forced): snapshots through the service, diffed every `poll_interval` seconds —
  `list_dir` of the folders the caller names (names, kinds, sizes, mtimes), or without such a list `list_files` of the
  whole workspace (paths only).

Cancelling the consumer stops either promptly (the thread sees its stop event within one `debounce_ms` step).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from services.errors import FileNotFound, SandbenchError
from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)

Mode = Literal["auto", "native", "poll"]
MAX_DIRS = 20_000  # folders watched natively; beyond that the shallowest are watched (inotify watches are finite)
MAX_POLL_DIRS = 256  # folders listed per polling round
BURST_PATHS = 50  # a batch this big is part of a burst: wait a little for the rest of it
STREAM_GAP = 1.0  # seconds: a batch this soon after the previous one continues a burst
_ADDED, _MODIFIED, _DELETED = 1, 2, 3  # watchfiles.Change values


@dataclass(frozen=True)
class ChangeBatch:
    """What changed during one quiet-terminated burst.

    `dirs`: relative folders whose membership changed (an entry added, removed or renamed): re-list these.
    `paths`: every relative path reported (content changes too): open editors compare against these.
    `git`: something directly under `.git` changed (HEAD, index, refs): a git panel may refresh.
    """

    dirs: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()
    git: bool = False

    def merge(self, other: ChangeBatch) -> ChangeBatch:
        return ChangeBatch(self.dirs | other.dirs, self.paths | other.paths, self.git or other.git)

    def __bool__(self) -> bool:
        return bool(self.dirs or self.paths or self.git)


def _parent(rel: str) -> str:
    return rel.rpartition("/")[0]


def local_workspace(service: SandboxService, sandbox_id: str) -> Path | None:
    """The host folder of a sandbox's workspace, when the provider has one (local), else None."""
    provider: Any = service.provider
    getter = getattr(provider, "workspace_path", None)
    if callable(getter):
        return Path(getter(sandbox_id))
    if getattr(provider, "name", None) == "local" and callable(getattr(provider, "_workspace", None)):
        # until LocalProvider.workspace_path lands
        return Path(provider._workspace(sandbox_id))
    return None


def scan_dirs(root: Path, limit: int = MAX_DIRS) -> list[str]:
    """Every real folder under `root` (relative paths, '' for root), breadth first, symlinks never followed,
    `.git` listed but not descended into. At most `limit`."""
    out = [""]
    queue = [""]
    while queue and len(out) < limit:
        nxt: list[str] = []
        for rel in queue:
            try:
                with os.scandir(root / rel if rel else root) as it:
                    for entry in it:
                        try:
                            if not entry.is_dir(follow_symlinks=False):
                                continue
                        except OSError:
                            continue
                        child = f"{rel}/{entry.name}" if rel else entry.name
                        out.append(child)
                        if entry.name != ".git":
                            nxt.append(child)
                        if len(out) >= limit:
                            return out
            except OSError:
                continue  # vanished or unreadable meanwhile: the next rebuild sees the truth
        queue = nxt
    return out


class _NativeThread(threading.Thread):
    """Runs watchfiles' Rust watcher over an explicit folder list and hands batches to the event loop."""

    def __init__(
        self,
        root: Path,
        emit: Callable[[ChangeBatch | BaseException], None],
        *,
        quiet_ms: int,
        max_batch_ms: int,
        max_dirs: int,
    ) -> None:
        super().__init__(name=f"watch:{root.name}", daemon=True)
        self.root = root
        self.emit = emit
        self.quiet_ms = max(10, quiet_ms)
        self.max_batch_ms = max(self.quiet_ms, max_batch_ms)
        self.max_dirs = max_dirs
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.rebuilds = 0

    def _open(self) -> tuple[Any, set[str]]:
        from watchfiles._rust_notify import RustNotify

        for _attempt in range(5):
            dirs = scan_dirs(self.root, self.max_dirs)
            paths = [str(self.root / d) if d else str(self.root) for d in dirs]
            try:
                # (paths, debug, force_polling, poll_delay_ms, recursive=False, ignore_permission_denied)
                return RustNotify(paths, False, False, 300, False, True), set(dirs)
            except FileNotFoundError:
                continue  # a folder vanished between the scan and the watch: scan again
        raise FileNotFoundError(f"workspace folders keep vanishing under {self.root}")

    def _convert(self, raw: set[tuple[int, str]], watched: set[str]) -> tuple[ChangeBatch, bool]:
        prefix = str(self.root) + os.sep
        dirs: set[str] = set()
        paths: set[str] = set()
        git = False
        rebuild = False
        for change, full in raw:
            if not full.startswith(prefix):
                continue  # the root itself (or nonsense): nothing to re-list
            rel = full[len(prefix) :]
            if rel.startswith(".git/"):
                git = True
            paths.add(rel)
            if change == _MODIFIED:
                continue
            dirs.add(_parent(rel))
            if change == _DELETED:
                if rel in watched:
                    rebuild = True
            elif not rebuild:
                try:
                    rebuild = stat.S_ISDIR(os.lstat(full).st_mode)  # lstat: a symlink to a folder is not one
                except OSError:
                    pass
        return ChangeBatch(frozenset(dirs), frozenset(paths), git), rebuild

    def run(self) -> None:
        try:
            notify, watched = self._open()
        except BaseException as exc:
            self.emit(exc)
            self.ready.set()
            return
        self.ready.set()
        try:
            while not self.stop_event.is_set():
                raw = notify.watch(self.max_batch_ms, self.quiet_ms, 1000, self.stop_event)
                if isinstance(raw, str):
                    if raw == "stop":
                        return
                    continue  # 'timeout' (or a signal meant for the main thread): keep waiting
                batch, rebuild = self._convert(raw, watched)
                if rebuild:
                    # Build the new watcher before closing the old one, then drain the old: nothing falls between.
                    new_notify, new_watched = self._open()
                    left = notify.watch(20, 5, 1, None)
                    if not isinstance(left, str):
                        batch = batch.merge(self._convert(left, watched)[0])
                    notify.close()
                    notify = new_notify
                    # new folders are listed by the consumer; their early contents were never evented
                    appeared = frozenset(new_watched - watched)
                    batch = batch.merge(ChangeBatch(dirs=appeared | {_parent(d) for d in appeared if d}))
                    watched = new_watched
                    self.rebuilds += 1
                if batch:
                    self.emit(batch)
        except BaseException as exc:
            self.emit(exc)
        finally:
            with contextlib.suppress(Exception):
                notify.close()


class WorkspaceWatcher:
    """Coalesced change batches for one sandbox's workspace. Iterate `batches()` (or the watcher itself).

    `dirs`: in polling mode, the folders worth polling with `list_dir` (e.g. the explorer's expanded folders);
    called before every round. Without it polling diffs `list_files` snapshots. Ignored in native mode.
    """

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        *,
        debounce_ms: int = 150,
        max_batch_ms: int = 2000,
        poll_interval: float = 2.0,
        dirs: Callable[[], Iterable[str]] | None = None,
        mode: Mode = "auto",
        max_dirs: int = MAX_DIRS,
    ) -> None:
        self.service = service
        self.sandbox_id = sandbox_id
        self.debounce_ms = debounce_ms
        self.max_batch_ms = max_batch_ms
        self.poll_interval = poll_interval
        self.dirs = dirs
        self.max_dirs = max_dirs
        root = local_workspace(service, sandbox_id) if mode != "poll" else None
        if mode == "native" and root is None:
            raise SandbenchError("this provider has no host folder to watch natively")
        self.root = root if root is not None and root.is_dir() else None
        self.mode: Literal["native", "poll"] = "native" if self.root is not None else "poll"
        self.batches_yielded = 0
        self._last_yield = float("-inf")
        # set once changes are being looked for (native: the watches are in place; polling: the first snapshot is
        # taken), so a caller can make a change knowing it will be seen
        self.ready = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[ChangeBatch]:
        return self.batches()

    async def batches(self) -> AsyncIterator[ChangeBatch]:
        source = self._native() if self.mode == "native" else self._poll()
        async for batch in source:
            self.batches_yielded += 1
            yield batch

    # -- native ---------------------------------------------------------------------------------------------
    async def _native(self) -> AsyncIterator[ChangeBatch]:
        assert self.root is not None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ChangeBatch | BaseException] = asyncio.Queue()

        def emit(item: ChangeBatch | BaseException) -> None:
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                loop.call_soon_threadsafe(queue.put_nowait, item)

        thread = _NativeThread(
            self.root, emit, quiet_ms=self.debounce_ms, max_batch_ms=self.max_batch_ms, max_dirs=self.max_dirs
        )
        thread.start()
        try:
            # Wait until the watches are in place, so a change made right after iteration starts is not missed.
            await asyncio.to_thread(thread.ready.wait)
            self.ready.set()
            while True:
                item = await queue.get()
                while not isinstance(item, BaseException) and not queue.empty():
                    more = queue.get_nowait()  # the consumer was busy: merge what piled up into one batch
                    item = more if isinstance(more, BaseException) else item.merge(more)
                if isinstance(item, BaseException):
                    log.warning("native watch of %s failed (%s): polling instead", self.sandbox_id, item)
                    break
                item = await self._settle(item, queue)
                if isinstance(item, BaseException):
                    break
                yield item
        finally:
            thread.stop_event.set()  # the thread notices within one step and closes its watcher
        # only reached when the native watcher failed: carry on by polling
        async for batch in self._poll():
            yield batch

    async def _settle(
        self, batch: ChangeBatch, queue: asyncio.Queue[ChangeBatch | BaseException]
    ) -> ChangeBatch | BaseException:
        """A big batch, or one hard on the heels of the previous, means a burst (a checkout, an unpack) is probably
        still going and the writer just paused longer than the quiet window (a loaded machine). Wait a little
        longer for the rest, so the consumer refreshes once more, not once per pause. A lone change is yielded at
        once."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        streaming = now - self._last_yield < STREAM_GAP
        if len(batch.paths) >= BURST_PATHS or streaming:
            deadline = now + self.max_batch_ms / 1000
            window = max(0.3, 2 * self.debounce_ms / 1000)
            while loop.time() < deadline:
                try:
                    more = await asyncio.wait_for(queue.get(), window)
                except TimeoutError:
                    break
                if isinstance(more, BaseException):
                    return more
                batch = batch.merge(more)
        self._last_yield = loop.time()
        return batch

    # -- polling --------------------------------------------------------------------------------------------
    async def _poll(self) -> AsyncIterator[ChangeBatch]:
        if self.dirs is not None:
            async for batch in self._poll_dirs(self.dirs):
                yield batch
        else:
            async for batch in self._poll_files():
                yield batch

    async def _poll_dirs(self, which: Callable[[], Iterable[str]]) -> AsyncIterator[ChangeBatch]:
        snapshots: dict[str, dict[str, tuple[str, int, float]]] = {}
        while True:
            wanted = list(dict.fromkeys(which()))[:MAX_POLL_DIRS]
            dirs: set[str] = set()
            paths: set[str] = set()
            for d in wanted:
                try:
                    entries = await self.service.list_dir(self.sandbox_id, d)
                except FileNotFound:
                    if d in snapshots:
                        del snapshots[d]
                        dirs.add(_parent(d))
                        paths.add(d)
                    continue
                except SandbenchError as exc:
                    log.debug("poll of %r failed: %s", d, exc)
                    continue
                now: dict[str, tuple[str, int, float]] = {e.name: (e.kind, e.size, e.mtime) for e in entries}
                before = snapshots.get(d)
                snapshots[d] = now
                if before is None:
                    continue  # first sight: this is the baseline
                prefix = f"{d}/" if d else ""
                if now.keys() != before.keys():
                    dirs.add(d)
                    paths.update(prefix + n for n in now.keys() ^ before.keys())
                for name, sig in now.items():
                    old = before.get(name)
                    if old is not None and old != sig:
                        paths.add(prefix + name)
            for gone in set(snapshots) - set(wanted):
                del snapshots[gone]  # no longer of interest; a fresh baseline if it comes back
            batch = ChangeBatch(frozenset(dirs), frozenset(paths), any(p.startswith(".git/") for p in paths))
            self.ready.set()
            if batch:
                yield batch
            await asyncio.sleep(self.poll_interval)

    async def _poll_files(self) -> AsyncIterator[ChangeBatch]:
        before: set[str] | None = None
        while True:
            try:
                now = set(await self.service.list_files(self.sandbox_id))
            except SandbenchError as exc:
                log.debug("poll of %s failed: %s", self.sandbox_id, exc)
                now = None
            if now is not None:
                if before is not None and now != before:
                    changed = now ^ before
                    yield ChangeBatch(dirs=_membership_changes(before, now, changed), paths=frozenset(changed))
                before = now
                self.ready.set()
            await asyncio.sleep(self.poll_interval)


class WatchHub:
    """One `WorkspaceWatcher` per workspace, its batches handed to every subscriber (issue 15 "one way").

    `subscribe(on_batch, dirs=...)` adds a listener: `on_batch(batch)` is called for each coalesced batch, on the
    event loop, and must not block (post a message, start a worker); `dirs` names the folders it would poll when
    the provider has no host folder (polling mode polls the union of every subscriber's). `run()` consumes the
    watcher until cancelled; the owner runs it once (in a worker), whoever subscribes.
    """

    def __init__(self, service: SandboxService, sandbox_id: str, *, mode: Mode = "auto", **options: Any) -> None:
        self._subscribers: list[tuple[Callable[[ChangeBatch], None], Callable[[], Iterable[str]] | None]] = []
        self.watcher = WorkspaceWatcher(service, sandbox_id, dirs=self._dirs, mode=mode, **options)
        self.running = False

    @property
    def mode(self) -> Literal["native", "poll"]:
        return self.watcher.mode

    def subscribe(
        self, on_batch: Callable[[ChangeBatch], None], *, dirs: Callable[[], Iterable[str]] | None = None
    ) -> Callable[[], None]:
        """Hear every batch from now on; returns the call that stops it."""
        entry = (on_batch, dirs)
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(entry)

        return unsubscribe

    def _dirs(self) -> list[str]:
        out: list[str] = []
        for _, dirs in list(self._subscribers):
            if dirs is not None:
                out += list(dirs())
        return list(dict.fromkeys(out)) or [""]

    async def run(self) -> None:
        self.running = True
        try:
            async for batch in self.watcher.batches():
                for on_batch, _ in list(self._subscribers):
                    try:
                        on_batch(batch)
                    except Exception:  # one listener's bug must not stop the others hearing changes
                        log.exception("a workspace change listener failed")
        finally:
            self.running = False


def _membership_changes(before: set[str], now: set[str], changed: set[str]) -> frozenset[str]:
    """Folders whose listing gained or lost an entry, from two file-path snapshots: each changed file's folder,
    and the parent of every folder that appeared or vanished along with it."""
    old_dirs = _ancestors(before)
    new_dirs = _ancestors(now)
    out = {_parent(p) for p in changed}
    out.update(_parent(d) for d in old_dirs ^ new_dirs)
    return frozenset(out)


def _ancestors(files: set[str]) -> set[str]:
    out: set[str] = set()
    for f in files:
        d = _parent(f)
        while d and d not in out:
            out.add(d)
            d = _parent(d)
    return out


async def watch_changes(
    service: SandboxService,
    sandbox_id: str,
    *,
    debounce_ms: int = 150,
    poll_interval: float = 2.0,
    dirs: Callable[[], Iterable[str]] | None = None,
    force_polling: bool = False,
) -> AsyncIterator[set[str]]:
    """Sets of relative folders ('' is the root) whose listing gained or lost entries, one set per burst.

    Content-only changes (a file rewritten in place) are not reported here: re-listing a folder because a log file
    grew would be wasted work; `WorkspaceWatcher.batches()` reports them in `ChangeBatch.paths`.
    """
    watcher = WorkspaceWatcher(
        service,
        sandbox_id,
        debounce_ms=debounce_ms,
        poll_interval=poll_interval,
        dirs=dirs,
        mode="poll" if force_polling else "auto",
    )
    async for batch in watcher.batches():
        if batch.dirs:
            yield set(batch.dirs)


__all__ = ["ChangeBatch", "WatchHub", "WorkspaceWatcher", "local_workspace", "scan_dirs", "watch_changes"]

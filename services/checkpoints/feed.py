"""A change feed per local sandbox, so a checkpoint scan in a long-lived process (the app, `sandbench serve`) costs
what changed instead of a walk of every name. A one-shot CLI process never has one: it scans in full, as before.

**Why a scan with a feed is right.** inotify queues an event inside the syscall that changes a name, before the
syscall returns. So a non-blocking read of the instance until EAGAIN (`drain`), done just before a scan, yields
every change completed before that moment. A feed keeps the manifest its last scan produced (the workspace as of
the drain before that scan) and the folders touched since; the next scan drains, then lstats again only the names
events named (and the folders holding them), hashes only what moved (against the wanted stat cache, as the full
scan does), walks whole any folder moved in, and keeps every other entry as it was. A change made during a scan
is an event still in the queue: the next scan sees it.

**Watches.** The full scan that starts a feed adds a watch on each folder's fd (`/proc/self/fd/N`, opened with
openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS by `Tree.open_dir`) *before* listing it — that exact inode, never a
path a sandbox could swap for a symlink. A folder watched again (moved, then walked at its new path) gets the same
watch descriptor back: its path is updated.

**Fail to the full scan, never to a wrong answer.** The feed is dropped, and the next scan is a full one that
starts a new feed, when: the kernel's queue overflowed (IN_Q_OVERFLOW); the root's watch went (IN_IGNORED,
IN_DELETE_SELF, IN_MOVE_SELF) or the root is another inode; a watch cannot be added (ENOSPC/EMFILE: the per-user
limits are shared with other tools, so this is logged once and the sandbox goes without a feed); the bytes read do
not parse; more than MAX_PENDING names changed since the last scan; any error in a feed scan (the full scan then
gives the answer, or the error).

**Hard links.** A file changed through another name of it is an event in that name's folder only. So every entry
whose link count is over 1 is lstat'ed again at each feed scan, and a name seen with a link count over 1 for the
first time has its other names (same inode in the manifest) lstat'ed too. What cannot be seen that way is a link
made since the last scan and gone before the next one (made, written through, removed): so a file name created
since the last scan that is removed, or replaced by a rename, before the scan drops the feed, and so does a folder
created since the last scan (names made inside it before its watch existed are not seen at all). Folders moved
within the workspace keep their watches and cost nothing of the kind.

**Known blind spot: shared mmap.** A write through a shared writable mapping makes no inotify event (only the
close of a descriptor opened for writing does: IN_CLOSE_WRITE). A file mapped, closed and then still written
through the mapping changes without an event; its mtime moves when the kernel writes the page back, which a full
scan sees and a feed scan does not. docs/checkpoints.md says so.

Events are read both at scan time and, when the service has an event loop, as they arrive (`loop.add_reader`), so a
busy sandbox does not overflow the kernel's queue between scans; the reader and the scan thread share `Feed.lock`,
and the reader only records (watch descriptor, name) pairs — translating them to paths is the scan's.

Bounded (services/checkpoints/feeds.py holds a service's feeds): at most `FeedSet.limit` of them, the least recently
used closed first; each closed with its sandbox's deletion or archive, when its root is replaced, and when the
service closes.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import operator
import os
import stat
import threading
from collections.abc import Mapping

from services.checkpoints import inotify
from services.checkpoints.inotify import Inotify
from services.checkpoints.scan import MAX_DEPTH, ScanResult, Tree, _entry, _read_file, _what, scan
from services.checkpoints.store import CheckpointStore, Entry
from services.errors import InvalidInput, PathRejected, ProviderError, TooLarge
from services.local import fsapi

MAX_PENDING = 65_536  # names changed between two scans past which a full scan is cheaper than remembering them
BORN = 1  # the name's file was created (or moved in) since the last scan
_path = operator.attrgetter("path")


class Feed:
    """One sandbox's feed: its inotify instance, watches, the last scan's manifest and what moved since."""

    def __init__(self, tree: Tree, loop: asyncio.AbstractEventLoop | None) -> None:
        self.ino = Inotify()
        st = os.fstat(tree.fd)
        self.root = (st.st_dev, st.st_ino)
        self.root_wd: int | None = None
        self.wds: dict[int, str] = {}  # watch descriptor -> folder (relative); only the scan thread uses it
        self.lock = threading.Lock()  # what the event reader records: it and the scan thread
        self.scan_lock = threading.Lock()  # one scan at a time
        self.pending: dict[int, dict[str, int]] = {}  # wd -> name ("" the folder itself) -> BORN or 0
        self.moving: dict[int, int] = {}  # a rename's cookie -> the flags of the name it left
        self.ignored: list[int] = []
        self.count = 0
        self.broken: str | None = None
        self.closed = False
        self.released = False
        # the last scan's answer: the workspace as of the drain before it
        self.entries: dict[str, Entry] = {}
        self.listed: list[Entry] = []
        self._keys: list[str] | None = None  # paths of `listed`, for dropping a folder's subtree
        self.links: set[str] = set()
        self.racy: set[str] = set()
        self.sockets: set[str] = set()
        # files hashed by a scan that stored nothing (`changes`): a scan that stores reads them again, so no
        # checkpoint names a blob that is not in the store
        self.unstored: set[str] = set()
        self.total = 0
        self.loop = loop
        self.reading = False
        # one scan's working state: whether names came or went, and the entries that replaced others
        self.reshaped = False
        self.replaced: dict[str, Entry] = {}
        self._new_inos: set[int] = set()
        self._done: set[str] = set()
        self._limits = (0, 0)

    # -- watches and events -------------------------------------------------------------------------------------
    def watch(self, dfd: int, folder: str) -> None:
        """The scan's hook: watch the folder open as `dfd` before it is listed."""
        wd = self.ino.add_watch(dfd)
        if not folder:
            self.root_wd = wd
        self.wds[wd] = folder

    def _take(self) -> None:
        """Read what the kernel queued and record it (the lock held)."""
        if self.closed:
            return
        try:
            events = self.ino.read()
        except (inotify.ParseError, OSError) as exc:
            self._break(f"the events could not be read: {exc}")
            return
        if self.broken is not None:
            return  # read only to keep the queue short until the feed is closed
        for ev in events:
            self._event(ev)
            if self.broken is not None:
                return

    def _break(self, why: str) -> None:
        if self.broken is None:
            self.broken = why
            self.pending.clear()
            self.moving.clear()

    def _event(self, ev: inotify.Event) -> None:
        m = ev.mask
        if m & inotify.IN_Q_OVERFLOW:
            return self._break("the kernel's event queue overflowed")
        if ev.wd == self.root_wd and m & (
            inotify.IN_IGNORED | inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_UNMOUNT
        ):
            return self._break("the workspace folder itself was moved or removed")
        if m & inotify.IN_IGNORED:
            self.ignored.append(ev.wd)
            return None
        names = self.pending.get(ev.wd)
        if names is None:
            names = self.pending[ev.wd] = {}
        name = ev.name
        flags = names.get(name)
        if flags is None:
            self.count += 1
            if self.count > MAX_PENDING or len(self.moving) > MAX_PENDING:
                return self._break(f"more than {MAX_PENDING} names changed since the last scan")
            flags = 0
        if not name:
            names[name] = 0  # the folder itself: its own entry is lstat'ed again
            return None
        if m & inotify.IN_ISDIR:
            if m & inotify.IN_CREATE:
                # names made inside it before its watch exists are never seen (a hard link made, written and
                # removed there would change a file elsewhere unseen)
                return self._break("a folder was created")
            if m & inotify.IN_MOVED_FROM:
                self.moving[ev.cookie] = 0
            elif m & inotify.IN_MOVED_TO and self.moving.pop(ev.cookie, None) is None:
                return self._break("a folder came from outside the watched folders")
            names[name] = 0
            return None
        if m & inotify.IN_CREATE:
            flags = BORN
        elif m & inotify.IN_MOVED_TO:
            if flags & BORN:
                return self._break("a file made since the last scan was replaced")
            flags = self.moving.pop(ev.cookie, BORN)
        elif m & inotify.IN_MOVED_FROM:
            self.moving[ev.cookie] = flags
            flags = 0
        elif m & inotify.IN_DELETE:
            if flags & BORN:
                # it may have been a hard link to a file elsewhere, written through and removed: unseen there
                return self._break("a file made since the last scan was removed")
            flags = 0
        names[name] = flags
        return None

    def on_readable(self) -> None:
        """The event loop's reader: record what arrived, so the kernel's queue does not overflow between scans. A
        feed that can no longer vouch is closed at once (its watches released; the next scan is a full one)."""
        with self.lock:
            self._take()
            broken = self.broken is not None
        if broken:
            self.close()

    def start_reading(self) -> None:
        loop = self.loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: events are read at scan time only
            loop.call_soon_threadsafe(self._add_reader)

    def _add_reader(self) -> None:
        if self.closed or self.loop is None or self.ino.fd < 0:
            return
        self.loop.add_reader(self.ino.fd, self.on_readable)
        self.reading = True

    def close(self) -> None:
        """Release the instance (its watches with it), from any thread. A scan running keeps the fd until it ends
        (FeedSet.scan releases it then): its number must not be reused under it. The fd leaves the event loop
        before it is closed."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        if not self.scan_lock.acquire(blocking=False):
            return
        try:
            self.release()
        finally:
            self.scan_lock.release()

    def release(self) -> None:
        """Close the fd of a closed feed (its scan lock held, or no scan possible)."""
        with self.lock:
            if self.released:
                return
            self.released = True
        loop = self.loop
        if loop is None:
            self.ino.close()
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._close_on_loop()
            return
        try:
            loop.call_soon_threadsafe(self._close_on_loop)
        except RuntimeError:  # the loop is closed: nothing is reading the fd any more
            self.ino.close()

    def _close_on_loop(self) -> None:
        if self.reading and self.loop is not None and self.ino.fd >= 0:
            self.loop.remove_reader(self.ino.fd)
            self.reading = False
        self.ino.close()

    # -- the state a scan leaves --------------------------------------------------------------------------------
    def adopt(self, res: ScanResult, links: list[str], base: Mapping[str, Entry], *, stored: bool) -> None:
        """After the full scan that added the watches: its answer is the state the next scan starts from."""
        self.listed = res.entries
        get = base.get
        self.unstored = set() if stored else {e.path for e in res.entries if e.kind == "file" and get(e.path) is not e}
        self.entries = {e.path: e for e in res.entries}
        self._keys = None
        self.links = set(links)
        self.racy = {e.path for e in res.entries if e.racy}
        self.sockets = set(res.skipped)
        self.total = sum(e.size for e in res.entries if e.kind == "file")

    def _put(self, path: str, e: Entry) -> None:
        old = self.entries.get(path)
        if old is e:
            return
        self.entries[path] = e
        if old is None:
            self.reshaped = True
        else:
            self.replaced[path] = e
        if old is not None and old.kind == "file":
            self.total -= old.size
        if e.kind == "file":
            self.total += e.size
        if e.racy:
            self.racy.add(path)
        else:
            self.racy.discard(path)

    def _remove(self, path: str) -> None:
        e = self.entries.pop(path, None)
        self.links.discard(path)
        self.racy.discard(path)
        self.unstored.discard(path)
        self.sockets.discard(path)
        if e is None:
            return
        self.reshaped = True
        if e.kind == "file":
            self.total -= e.size
        elif e.kind == "dir":
            self._drop_under(path)

    def _drop_under(self, folder: str) -> None:
        """Everything beneath `folder` goes (it went, or is another folder now): a contiguous run of the sorted
        paths of the last scan, `folder/` up to `folder0` ('0' follows '/')."""
        if self._keys is None:
            self._keys = [e.path for e in self.listed]
        keys = self._keys
        for p in keys[bisect.bisect_left(keys, folder + "/") : bisect.bisect_left(keys, folder + "0")]:
            e = self.entries.pop(p, None)
            if e is not None:
                self.reshaped = True
                if e.kind == "file":
                    self.total -= e.size
            self.links.discard(p)
            self.racy.discard(p)
            self.unstored.discard(p)
            self.sockets.discard(p)

    # -- a scan -------------------------------------------------------------------------------------------------
    def _drain(self, store: bool) -> dict[str, set[str]] | None:
        """Every change queued so far, as folder -> names to lstat again; None when the feed cannot vouch."""
        with self.lock:
            if self.closed:
                return None  # its events are no longer read: it cannot say what moved
            self._take()
            if self.broken is None and any(f & BORN for f in self.moving.values()):
                self._break("a file made since the last scan was moved out of the watched folders")
            pending, self.pending, self.count = self.pending, {}, 0
            ignored, self.ignored = self.ignored, []
            self.moving.clear()
            if self.broken is not None:
                return None
        dirty: dict[str, set[str]] = {}
        for wd, names in pending.items():
            folder = self.wds.get(wd)
            if folder is not None:  # a watch of a folder that went: its parent's event says so
                dirty.setdefault(folder, set()).update(names)
        for wd in ignored:
            self.wds.pop(wd, None)
        again = self.links | self.racy
        if store:
            again |= self.unstored
            self.unstored = set()  # read again below, storing (or the base's entry, whose blob is stored)
        for p in again:
            folder, _, name = p.rpartition("/")
            dirty.setdefault(folder, set()).add(name)
        return dirty

    def scan(
        self,
        tree: Tree,
        base: Mapping[str, Entry],
        objects: CheckpointStore,
        *,
        store: bool,
        max_files: int,
        max_bytes: int,
    ) -> ScanResult | None:
        """The workspace's entries, as `scan.scan` would give them, from what moved; None: scan in full."""
        dirty = self._drain(store)
        if dirty is None:
            return None
        st = os.fstat(tree.fd)
        if (st.st_dev, st.st_ino) != self.root:
            with self.lock:
                self._break("the workspace folder is another one now")
            return None
        out = ScanResult()
        self.reshaped = False
        self.replaced = {}
        self._new_inos = set()
        self._done = set()
        self._limits = (max_files, max_bytes)
        for folder in sorted(dirty, key=lambda p: (p.count("/"), p)):  # parents first: a folder that went, first
            self._visit(tree, folder, dirty[folder], base, objects, out, store)
        if self._new_inos:  # names newly seen hard-linked: their other names, wherever they are, again
            again: dict[str, set[str]] = {}
            for e in self.entries.values():
                if e.ino in self._new_inos and e.kind != "dir" and e.path not in self._done:
                    folder, _, name = e.path.rpartition("/")
                    again.setdefault(folder, set()).add(name)
                    self.links.add(e.path)
            for folder in sorted(again):
                self._visit(tree, folder, again[folder], base, objects, out, store)
        if self.reshaped:  # names came or went
            self.listed = sorted(self.entries.values(), key=_path)  # nearly in order already: cheap
            self._keys = None
        elif self.replaced:  # the same names: the last list with those entries swapped in (its paths still hold)
            if self._keys is None:
                self._keys = [e.path for e in self.listed]
            keys, listed = self._keys, self.listed.copy()
            for p, e in self.replaced.items():
                listed[bisect.bisect_left(keys, p)] = e
            self.listed = listed
        if self.reshaped or self.replaced:
            # the store's map of this list is a copy of ours (a C copy: far cheaper than building it from the list)
            objects.lists.know(self.listed, self.entries.copy(), self._keys)
        if len(self.listed) > max_files:
            raise TooLarge(f"the workspace holds more than {max_files} files and folders: over the checkpoint limit")
        if self.total > max_bytes:
            raise TooLarge("the workspace holds more bytes of files than the checkpoint limit")
        out.entries = self.listed
        out.skipped = sorted(self.sockets)
        return out

    def _visit(
        self,
        tree: Tree,
        folder: str,
        names: set[str],
        base: Mapping[str, Entry],
        objects: CheckpointStore,
        out: ScanResult,
        store: bool,
    ) -> None:
        own = self.entries.get(folder) if folder else None
        if folder and (own is None or own.kind != "dir"):
            return  # went, or is no folder now: its parent's events said so
        try:
            dfd = tree.open_dir(folder)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise PathRejected(f"{folder!r} is a mount point: checkpoints cover the workspace only") from exc
            if folder and exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return  # changed since the drain: an event for the next scan
            raise ProviderError(f"cannot read folder {folder or 'the workspace root'!r}") from exc
        try:
            if own is not None:
                fst = os.fstat(dfd)
                if fst.st_ino != own.ino:
                    return  # replaced since the drain: its parent's event is in the queue for the next scan
                old = base.get(folder)
                same = (
                    old is not None
                    and old.kind == "dir"
                    and (old.mtime_ns, old.ctime_ns, old.ino) == (fst.st_mtime_ns, fst.st_ctime_ns, fst.st_ino)
                    and old.mode == stat.S_IMODE(fst.st_mode)
                )
                self._put(folder, old if same and old is not None else _entry(folder, "dir", fst, ""))
            prefix = f"{folder}/" if folder else ""
            for name in names:
                if not name or (name[0] == "." and name.startswith(".sandbench-") and fsapi.is_temp_name(name)):
                    continue
                path = prefix + name
                self._done.add(path)
                self._name(tree, dfd, name, path, base, objects, out, store)
        finally:
            os.close(dfd)

    def _name(
        self,
        tree: Tree,
        dfd: int,
        name: str,
        path: str,
        base: Mapping[str, Entry],
        objects: CheckpointStore,
        out: ScanResult,
        store: bool,
    ) -> None:
        """One name again, as the full scan would see it now."""
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            self._remove(path)
            return
        mode = st.st_mode
        prev = self.entries.get(path)
        if stat.S_ISDIR(mode):
            if st.st_dev != tree.dev:
                raise PathRejected(f"{path!r} is a mount point: checkpoints cover the workspace only")
            if path.count("/") + 1 >= MAX_DEPTH:
                raise TooLarge(f"{path!r} is nested more than {MAX_DEPTH} folders deep")
            old = base.get(path)
            same = (
                old is not None
                and old.kind == "dir"
                and (old.mtime_ns, old.ctime_ns, old.ino) == (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                and old.mode == stat.S_IMODE(mode)
            )
            fresh = prev is None or prev.kind != "dir" or prev.ino != st.st_ino
            if fresh and prev is not None:
                self._remove(path)
            self.links.discard(path)
            self._put(path, old if same and old is not None else _entry(path, "dir", st, ""))
            if fresh:  # moved in (a folder created drops the feed): walked whole, and watched
                links: list[str] = []
                sub = scan(
                    tree,
                    base,
                    objects,
                    store=store,
                    max_files=self._limits[0],
                    max_bytes=self._limits[1],
                    start=path,
                    watch=self.watch,
                    links=links,
                )
                get = base.get
                for e in sub.entries:
                    self._put(e.path, e)
                    if not store and e.kind == "file" and get(e.path) is not e:
                        self.unstored.add(e.path)
                self.sockets.update(sub.skipped)
                for p in links:
                    if p not in self.links:
                        self.links.add(p)
                        got = self.entries.get(p)
                        if got is not None:
                            self._new_inos.add(got.ino)
                out.hashed_files += sub.hashed_files
                out.hashed_bytes += sub.hashed_bytes
                out.files_added += sub.files_added
                out.bytes_added += sub.bytes_added
            return
        if prev is not None and prev.kind == "dir":
            self._remove(path)
        if stat.S_ISREG(mode):
            old = base.get(path)
            if old is not None and old.kind == "file" and old.same_stat(st):
                entry: Entry | None = old
            else:
                entry = _read_file(dfd, name, path, objects, out, store=store)
                if not store:
                    self.unstored.add(path)
            if entry is None:
                self._remove(path)
                return
        elif stat.S_ISLNK(mode):
            entry = _entry(path, "symlink", st, os.readlink(name, dir_fd=dfd))
        elif stat.S_ISSOCK(mode):
            self._remove(path)
            self.sockets.add(path)
            return
        else:
            raise InvalidInput(
                f"{path!r} is {_what(mode)}: checkpoints hold files, folders and symlinks only; remove it and try again"
            )
        self.sockets.discard(path)
        self._put(path, entry)
        if st.st_nlink > 1:
            if path not in self.links:
                self.links.add(path)
                self._new_inos.add(st.st_ino)
        else:
            self.links.discard(path)

"""The change feeds of one checkpoint service (services/checkpoints/feed.py says what a feed is and why its scans
are right): at most `limit` of them, the least recently scanned closed first; a scan answered by a sandbox's feed
when it has a sound one, else by a full scan that starts a new feed. Counted in the service's counters as
`checkpoint.scan-feed` and `checkpoint.scan-full`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, MutableMapping

from services.checkpoints.feed import Feed
from services.checkpoints.inotify import InotifyUnavailable
from services.checkpoints.scan import ScanResult, Tree, scan
from services.checkpoints.store import CheckpointStore, Entry
from services.errors import SandbenchError

log = logging.getLogger(__name__)

FEEDS_MAX = 16
_warned = False


def _warn_once(exc: BaseException) -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning("checkpoint scans go without a change feed: %s", exc)


class FeedSet:
    """The feeds of one checkpoint service: at most `limit`, the least recently scanned closed first."""

    def __init__(self, counters: MutableMapping[str, int], limit: int = FEEDS_MAX) -> None:
        self.counters = counters
        self.limit = limit
        self.loop: asyncio.AbstractEventLoop | None = None
        self._feeds: OrderedDict[str, Feed] = OrderedDict()
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop new feeds read their events from as they arrive (the service's)."""
        self.loop = loop

    def get(self, sandbox_id: str) -> Feed | None:
        with self._lock:
            return self._feeds.get(sandbox_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._feeds)

    def scan(
        self,
        sandbox_id: str,
        tree: Tree,
        base: Mapping[str, Entry],
        objects: CheckpointStore,
        *,
        store: bool,
        max_files: int,
        max_bytes: int,
    ) -> ScanResult:
        """`scan.scan`'s answer: from the sandbox's feed when it has a sound one, else a full scan that starts one."""
        with self._lock:
            feed = self._feeds.get(sandbox_id)
            if feed is not None:
                self._feeds.move_to_end(sandbox_id)
        if feed is not None:
            with feed.scan_lock:
                try:
                    res = (
                        None
                        if feed.closed
                        else feed.scan(tree, base, objects, store=store, max_files=max_files, max_bytes=max_bytes)
                    )
                except (SandbenchError, OSError) as exc:
                    # whatever it was, the full scan below gives the answer (or the error) on its own
                    log.debug("change feed of %s dropped: %s", sandbox_id, exc)
                    res = None
                except Exception:
                    log.warning("change feed of %s failed; scanning in full", sandbox_id, exc_info=True)
                    res = None
                if feed.closed:  # closed while it scanned: its fd is released now, the scan done
                    feed.release()
                if res is not None:
                    self.counters["checkpoint.scan-feed"] += 1
                    return res
                log.debug("change feed of %s dropped: %s", sandbox_id, feed.broken)
            self.close(sandbox_id, feed)
        return self._full(sandbox_id, tree, base, objects, store=store, max_files=max_files, max_bytes=max_bytes)

    def _full(
        self,
        sandbox_id: str,
        tree: Tree,
        base: Mapping[str, Entry],
        objects: CheckpointStore,
        *,
        store: bool,
        max_files: int,
        max_bytes: int,
    ) -> ScanResult:
        self.counters["checkpoint.scan-full"] += 1
        feed: Feed | None = None
        try:
            feed = Feed(tree, self.loop)
        except InotifyUnavailable as exc:
            _warn_once(exc)
        links: list[str] = []
        watch = feed.watch if feed is not None else None

        def hook(dfd: int, folder: str) -> None:
            nonlocal watch
            if watch is None:
                return
            try:
                watch(dfd, folder)
            except (InotifyUnavailable, OSError) as exc:
                _warn_once(exc)
                watch = None  # the scan goes on; this sandbox gets no feed

        try:
            res = scan(
                tree,
                base,
                objects,
                store=store,
                max_files=max_files,
                max_bytes=max_bytes,
                watch=hook if feed is not None else None,
                links=links if feed is not None else None,
            )
        except BaseException:
            if feed is not None:
                feed.close()
            raise
        if feed is None:
            return res
        if watch is None:
            feed.close()
            return res
        feed.adopt(res, links, base, stored=store)
        feed.start_reading()
        evicted: list[Feed] = []
        with self._lock:
            old = self._feeds.pop(sandbox_id, None)
            if old is not None:
                evicted.append(old)
            self._feeds[sandbox_id] = feed
            while len(self._feeds) > self.limit:
                evicted.append(self._feeds.popitem(last=False)[1])
        for f in evicted:
            f.close()
        return res

    def close(self, sandbox_id: str, only: Feed | None = None) -> None:
        """Close the sandbox's feed (`only`: if it is still that one)."""
        with self._lock:
            feed = self._feeds.get(sandbox_id)
            if feed is None or (only is not None and feed is not only):
                feed = only
            else:
                del self._feeds[sandbox_id]
        if feed is not None:
            feed.close()

    def close_all(self) -> None:
        with self._lock:
            feeds = list(self._feeds.values())
            self._feeds.clear()
        for f in feeds:
            f.close()

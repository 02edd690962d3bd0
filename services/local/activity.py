"""Sandbox activity (what auto-stop measures idleness by), recorded without ever holding the event loop.

Every key typed into a terminal is activity. Writing each one to state.db on the event loop made typing wait on
SQLite: while another process (`sandbench serve`, a CLI call) held the database's write lock, a keystroke could
stall for the whole busy timeout (30 s). Here activity is kept in memory and written at most once per `EVERY`
seconds per sandbox, by one worker thread with its own connection, so a locked database delays only that write.
`flush()` writes what is pending (a sandbox being stopped, the provider closing); `last()` is the newest activity,
written or not, so readers of the rows never see it older than it is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

EVERY = 10.0  # seconds between activity writes per sandbox
BUSY_TIMEOUT_MS = 30_000


class ActivityLog:
    def __init__(self, db_path: Path, *, every: float = EVERY) -> None:
        self._path = db_path
        self._every = every
        self._latest: dict[str, float] = {}  # the newest activity per sandbox (wall clock)
        self._pending: dict[str, float] = {}  # ... not written yet
        self._written: dict[str, float] = {}  # when each sandbox's activity was last written (monotonic)
        self._inflight: asyncio.Future[None] | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbench-activity")
        self._local = threading.local()  # the worker's own connection: never shared with the loop's

    def note(self, sandbox_id: str, when: float | None = None) -> None:
        """Record activity now; returns at once. Written when this sandbox's last write is `EVERY` seconds old."""
        stamp = when if when is not None else time.time()
        self._latest[sandbox_id] = max(stamp, self._latest.get(sandbox_id, 0.0))
        self._pending[sandbox_id] = self._latest[sandbox_id]
        now = time.monotonic()
        if now - self._written.get(sandbox_id, -1e9) >= self._every and self._inflight is None:
            self._submit(now)

    def last(self, sandbox_id: str) -> float:
        """The newest activity recorded for a sandbox by this process (0.0 if none)."""
        return self._latest.get(sandbox_id, 0.0)

    def forget(self, sandbox_id: str) -> None:
        """A deleted sandbox: nothing of it is written any more."""
        for d in (self._latest, self._pending, self._written):
            d.pop(sandbox_id, None)

    async def flush(self) -> None:
        """Write everything pending and wait for it (in the worker thread: the loop goes on meanwhile). A failure
        is logged and the activity kept for the next write."""
        if self._inflight is not None:
            await asyncio.wait([self._inflight])
        if self._pending:
            await asyncio.wait([self._submit(time.monotonic())])

    async def close(self) -> None:
        await self.flush()
        await asyncio.get_running_loop().run_in_executor(self._pool, self._close_connection)
        self._pool.shutdown(wait=True)

    def _submit(self, now: float) -> asyncio.Future[None]:
        batch, self._pending = self._pending, {}
        for sandbox_id in batch:
            self._written[sandbox_id] = now
        fut = asyncio.get_running_loop().run_in_executor(self._pool, self._write, batch)
        self._inflight = fut
        fut.add_done_callback(lambda f: self._done(f, batch))
        return fut

    def _done(self, fut: asyncio.Future[None], batch: dict[str, float]) -> None:
        if self._inflight is fut:
            self._inflight = None
        if fut.cancelled() or fut.exception() is None:
            return
        log.warning("recording sandbox activity failed (kept to retry): %s", fut.exception())
        for sandbox_id, stamp in batch.items():  # keep it for the next try, unless newer activity came meanwhile
            if sandbox_id in self._latest:
                self._pending[sandbox_id] = max(stamp, self._pending.get(sandbox_id, 0.0))

    # -- the worker thread ---------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.db = db
        return db

    def _write(self, batch: dict[str, float]) -> None:
        db = self._connection()
        # one transaction for the batch; an older stamp never overwrites a newer one another process wrote
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "UPDATE sandboxes SET last_activity = ? WHERE id = ? AND last_activity < ?",
                [(stamp, sandbox_id, stamp) for sandbox_id, stamp in batch.items()],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _close_connection(self) -> None:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

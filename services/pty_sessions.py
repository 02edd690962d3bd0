"""Terminal sessions that outlive their clients: a shell, a bounded replay buffer, and any number of attached
clients. Shared by `sandbench serve` (PTYs over the Daytona WebSocket protocol, `services/server/pty.py`) and the
local session host (`services/local/session_host.py`, PTYs over a unix socket), so both keep one implementation.

A session lives in its server, not in a connection: the shell keeps running when its client disconnects, recent
output is kept (at most `REPLAY_BYTES` per session), and a client that connects again gets that output replayed and
then the live stream. Every attached client has its own queue, so one slow client never reorders another's output,
and the replay and the live stream cannot interleave (`attach` primes the queue without awaiting).

Back-pressure: a client far behind (`CLIENT_BACKLOG`) makes the pump wait, so the PTY's own flow control slows the
program instead of memory growing; one stalled for `STALL_LIMIT` seconds is dropped (it can reattach).

`PtyManager` holds the sessions of one server by (sandbox id, session id). With an `idle_timeout`, a session with no
client attached is ended after that long (serve: a client that never comes back must not pin a shell); without one
(the session host), a detached session lives until its shell exits, it is killed, or its sandbox stops.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from services.terminal import TerminalSession

log = logging.getLogger(__name__)

REPLAY_BYTES = 256 * 1024  # recent output kept per session for clients that reconnect
CLIENT_BACKLOG = 2 * 1024 * 1024  # bytes queued for one client before the shell is made to wait for it
STALL_LIMIT = 5.0  # seconds a client may hold the shell back before it is disconnected

Item = bytes | tuple[str, int]  # output chunk, or ("exit", code) / ("drop", 0)


class Client:
    """One attached connection's queue, counting the bytes waiting in it."""

    def __init__(self, limit: int = CLIENT_BACKLOG) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.limit = limit  # bytes queued beyond which the shell waits for this client
        self.backlog = 0
        self.drained = asyncio.Event()

    def put(self, item: Item) -> None:
        if isinstance(item, bytes):
            self.backlog += len(item)
            self.drained.clear()
        self.queue.put_nowait(item)

    def got(self, item: Item) -> None:
        if isinstance(item, bytes):
            self.backlog -= len(item)
            if self.backlog <= self.limit // 2:
                self.drained.set()


@dataclass(eq=False)
class PtySession:
    id: str
    sandbox_id: str
    terminal: TerminalSession
    cwd: str
    envs: dict[str, str]
    cols: int
    rows: int
    created_at: float = field(default_factory=time.time)
    command: str = ""  # what the session runs, for a list of sessions ("bash")
    buffer: deque[bytes] = field(default_factory=deque)
    buffered: int = 0
    clients: set[Client] = field(default_factory=set)
    exit_code: int | None = None
    pump: asyncio.Task[None] | None = None
    owner: str = ""
    last_io: float = field(default_factory=time.time)  # wall clock of the newest output or input
    on_idle: Callable[[PtySession], None] | None = None  # the last client left (PtyManager starts the reap timer)
    on_output: Callable[[PtySession], None] | None = None  # output arrived (the host records activity)
    idle_timer: asyncio.TimerHandle | None = None
    reaper: asyncio.Task[None] | None = None  # the kill started by the idle timer, kept so it is not collected
    # bytes queued for one client before the shell waits for it: a WebSocket client far away needs slack; the
    # app's session host, a local socket away, keeps it small, since what waits here when the program ends is
    # what the pane still has to show (the screen lagging the stream)
    client_backlog: int = CLIENT_BACKLOG

    def _remember(self, chunk: bytes) -> None:
        self.buffer.append(chunk)
        self.buffered += len(chunk)
        while self.buffered > REPLAY_BYTES and len(self.buffer) > 1:
            self.buffered -= len(self.buffer.popleft())

    def replay(self) -> bytes:
        return b"".join(self.buffer)

    def attach(self) -> Client:
        """A queue for one client, primed with the recent output; no await in here, so nothing slips between."""
        c = Client(self.client_backlog)
        if self.idle_timer is not None:  # a client is back in time: the session stays
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.buffer:
            c.put(self.replay())
        if self.exit_code is not None:
            c.put(("exit", self.exit_code))
        else:
            self.clients.add(c)
        return c

    def detach(self, c: Client) -> None:
        self.clients.discard(c)
        self.check_idle()

    def check_idle(self) -> None:
        if not self.clients and self.exit_code is None and self.idle_timer is None and self.on_idle is not None:
            self.on_idle(self)

    async def write(self, data: bytes) -> None:
        """Input from a client, in the order clients' frames arrived (the terminal's `OrderedWriter` keeps it)."""
        self.last_io = time.time()
        await self.terminal.write(data)

    async def resize(self, cols: int, rows: int) -> None:
        await self.terminal.resize(cols, rows)
        self.cols, self.rows = cols, rows

    async def _keep_pace(self) -> None:
        """Back-pressure: a client far behind makes the pump wait (so the PTY's own flow control slows the
        program, instead of memory growing); one stalled for too long is disconnected and can reconnect."""
        for c in [c for c in self.clients if c.backlog > c.limit]:
            try:
                await asyncio.wait_for(c.drained.wait(), STALL_LIMIT)
            except TimeoutError:
                self.clients.discard(c)
                c.put(("drop", 0))
                self.check_idle()

    async def run_pump(self, on_exit: Callable[[PtySession], None]) -> None:
        try:
            async for chunk in self.terminal.output():
                self._remember(chunk)
                self.last_io = time.time()
                for c in list(self.clients):
                    c.put(chunk)
                if self.on_output is not None:
                    self.on_output(self)
                await self._keep_pace()
            code = await self.terminal.wait()
        except Exception:
            log.exception("pty %s pump failed", self.id)
            code = -1
        self.exit_code = code
        for c in list(self.clients):
            c.put(("exit", code))
        self.clients.clear()
        on_exit(self)


class PtyManager:
    """The live sessions of one server, by (sandbox id, session id)."""

    def __init__(
        self, *, idle_timeout: float | None = None, on_ended: Callable[[PtySession], None] | None = None
    ) -> None:
        self._sessions: dict[tuple[str, str], PtySession] = {}
        self.idle_timeout = idle_timeout
        self._on_ended = on_ended

    def __len__(self) -> int:
        return len(self._sessions)

    def count(self, owner: str) -> int:
        return sum(1 for s in self._sessions.values() if s.owner == owner)

    def _idle(self, session: PtySession) -> None:
        if self.idle_timeout is None:
            return
        loop = asyncio.get_running_loop()
        session.idle_timer = loop.call_later(self.idle_timeout, self._reap, session)

    def _reap(self, session: PtySession) -> None:
        session.idle_timer = None
        if session.clients or self._sessions.get((session.sandbox_id, session.id)) is not session:
            return
        log.info(
            "pty %s in sandbox %s had no client for %g s: ended", session.id, session.sandbox_id, self.idle_timeout
        )
        session.reaper = asyncio.ensure_future(self.kill(session))

    def get(self, sandbox_id: str, pty_id: str) -> PtySession | None:
        return self._sessions.get((sandbox_id, pty_id))

    def list(self, sandbox_id: str) -> list[PtySession]:
        return [s for (sb, _), s in self._sessions.items() if sb == sandbox_id]

    def all(self) -> builtins.list[PtySession]:
        return list(self._sessions.values())

    def add(self, session: PtySession) -> None:
        self._sessions[(session.sandbox_id, session.id)] = session
        session.on_idle = self._idle
        session.check_idle()  # no client yet: one that never completes its attach must not pin the session
        session.pump = asyncio.ensure_future(session.run_pump(self._ended))

    def _ended(self, session: PtySession) -> None:
        if session.idle_timer is not None:
            session.idle_timer.cancel()
            session.idle_timer = None
        if self._sessions.get((session.sandbox_id, session.id)) is session:
            del self._sessions[(session.sandbox_id, session.id)]
        if self._on_ended is not None:
            self._on_ended(session)

    async def kill(self, session: PtySession) -> None:
        await session.terminal.close()
        if session.pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(session.pump), timeout=5)

    async def forget_sandbox(self, sandbox_id: str) -> None:
        """The sandbox is stopping: its shells die with it; end the sessions cleanly first."""
        for session in self.list(sandbox_id):
            await self.kill(session)

    async def close_all(self) -> None:
        for session in list(self._sessions.values()):
            await self.kill(session)

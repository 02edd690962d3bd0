"""`DaytonaTerminal`: a `TerminalSession` on one of the SDK's PTY sessions.

A dropped WebSocket reconnects to the same session with backoff (`PTY_RECONNECT`; the shell lives on the server),
and `status` says what the pane should show meanwhile. Output is queued from the SDK's callback; input is written
in order through `OrderedWriter`. Input typed while the link is down waits for the reconnect and goes then, in
order (as mosh or an ssh ControlMaster would keep it): it is dropped only when the session ends, which the pane
shows (the writer's back-pressure holds the typist meanwhile, so nothing piles up unbounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from services.errors import FileNotFound, SandbenchError, SandboxNotFound
from services.terminal import CANNOT_TELL, OrderedWriter, next_output

if TYPE_CHECKING:
    from services.daytona.provider import DaytonaProvider

log = logging.getLogger(__name__)

PTY_RECONNECT = (0.2, 0.5, 1.0, 2.0, 4.0)
FOREGROUND_FIELD = "sandbenchForeground"  # serve's addition to a PTY session's info: its foreground program
SEND_RETRY_WAIT = 10.0  # after a failed send, how long input waits for a new link before trying the old one again


class DaytonaTerminal:
    """A `TerminalSession` on an SDK PTY handle. A dropped WebSocket reconnects to the same session with backoff
    (the shell lives on the server); `status` says what the pane should show meanwhile."""

    def __init__(self, provider: DaytonaProvider, sandbox: Any, session_id: str):
        self._provider = provider
        self._sandbox = sandbox
        self._id = session_id
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._handle: Any = None
        self._exit_code: int | None = None
        self._closed = False
        self._done = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._writer = OrderedWriter(self._deliver)
        self._link = asyncio.Event()  # set while a handle is connected; input waits on it during a reconnect
        # connected | reconnecting | disconnected | detached | exited: what the pane should say
        self.status = "connecting"
        self.reconnects = 0
        self.undelivered = 0  # bytes typed that never reached the shell (its session ended while they waited)

    @property
    def session_id(self) -> str:
        return self._id

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    def _on_data(self, data: bytes) -> None:
        self._queue.put_nowait(bytes(data))

    async def open(self, cols: int, rows: int, cwd: str, env: dict[str, str]) -> None:
        from daytona import PtySize

        proc = self._sandbox.process
        self._handle = await self._provider._call(
            "open terminal",
            lambda: proc.create_pty_session(
                id=self._id, on_data=self._on_data, cwd=cwd, envs=env or None, pty_size=PtySize(rows=rows, cols=cols)
            ),
            idempotent=False,
        )
        self._started()

    async def connect(self) -> None:
        await self._attach("attach terminal")
        self._started()

    async def _attach(self, what: str) -> None:
        """Connect to the existing PTY session (an attach, or a reattach after a drop); `what` names it in errors."""
        proc = self._sandbox.process
        self._handle = await self._provider._call(
            what,
            lambda: proc.connect_pty_session(self._id, on_data=self._on_data),
            idempotent=False,
            kind="terminal",
        )

    def _started(self) -> None:
        self.status = "connected"
        self._link.set()
        self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        """Wait for the handle to end; an exit ends the session, a dropped connection reconnects."""
        while True:
            try:
                result = await self._handle.wait()
                code = result.exit_code
            except Exception:
                log.debug("pty %s wait failed", self._id, exc_info=True)
                code = None
            if code is not None or self._closed:
                self._finish(code)
                return
            self.status = "reconnecting"
            self._link.clear()
            for delay in PTY_RECONNECT:
                await asyncio.sleep(delay)
                if self._closed:
                    break
                try:
                    await self.connect_handle()
                    break
                except SandbenchError as exc:
                    log.info("pty %s reconnect failed: %s", self._id, exc)
                    if isinstance(exc, SandboxNotFound | FileNotFound) or "not found" in exc.message:
                        break
            if self.status != "connected":
                self.status = "disconnected"
                self._finish(None)
                return

    async def connect_handle(self) -> None:
        await self._attach("reattach terminal")
        self.reconnects += 1
        self.status = "connected"
        self._link.set()

    def _finish(self, code: int | None) -> None:
        if self._done.is_set():
            return
        if code is not None or self.status != "detached":  # a detached shell has not exited: no exit code
            self._exit_code = code if code is not None else (self._exit_code if self._exit_code is not None else -1)
        if self.status not in ("disconnected", "detached"):
            self.status = "exited"
        self._queue.put_nowait(None)
        self._done.set()
        self._link.set()  # wakes input waiting for a link: the session is over, it is dropped
        self.undelivered = self._writer.close()

    async def write(self, data: bytes) -> None:
        if self._handle is None or self._done.is_set():
            return
        await self._writer.write(data)

    async def _deliver(self, data: bytes) -> None:
        """The writer's one drain task: one message at a time, in order (concurrent sends could overtake). While
        the link is down the data waits for the reconnect; a send that fails is sent again on the next link."""
        while not self._done.is_set():
            await self._link.wait()
            handle = self._handle
            if handle is None or self._done.is_set():
                return
            try:
                await handle.send_input(data)
                return
            except Exception as exc:
                log.debug("pty %s write failed: %s", self._id, type(exc).__name__)
            if self._handle is handle:  # the link broke under the send: wait for the watcher's new one
                self._link.clear()
                try:
                    await asyncio.wait_for(self._link.wait(), SEND_RETRY_WAIT)
                except TimeoutError:
                    if self.status == "connected":
                        self._link.set()  # the watcher saw no drop: try this handle again

    async def resize(self, cols: int, rows: int) -> None:
        from daytona import PtySize

        if self._handle is None or self._done.is_set():
            return
        with contextlib.suppress(SandbenchError):
            await self._provider._call("resize terminal", lambda: self._handle.resize(PtySize(rows=rows, cols=cols)))

    async def ask_foreground(self) -> str | None:
        """The program in this shell's foreground ("" when the shell has the terminal), or `CANNOT_TELL`.

        The SDK's PTY session info says nothing of it; `sandbench serve` adds it to the info as `FOREGROUND_FIELD`
        (the SDK keeps unknown fields in `additional_properties`). Elsewhere it cannot be known from here, so the
        caller asks before closing anyway. The name is sandbox text: callers show it as plain text."""
        if self._handle is None or self._done.is_set():
            return ""
        proc = self._sandbox.process
        info = await self._provider._call("terminal info", lambda: proc.get_pty_session_info(self._id), kind="terminal")
        extra = getattr(info, "additional_properties", None)
        named = extra.get(FOREGROUND_FIELD) if isinstance(extra, dict) else None
        if not isinstance(named, str):
            return CANNOT_TELL
        return named[:64]

    async def output(self) -> AsyncIterator[bytes]:
        while (chunk := await next_output(self._queue)) is not None:
            yield chunk

    async def wait(self) -> int:
        await self._done.wait()
        return self._exit_code if self._exit_code is not None else -1

    async def detach(self) -> None:
        """Close only the connection: the shell keeps running on the server for a later `attach_terminal`.
        The output stream ends; `exit_code` stays None (the shell has not exited) and `status` says "detached"."""
        self._closed = True
        self.status = "detached"
        if self._handle is not None:
            with contextlib.suppress(Exception):
                await self._handle.disconnect()
        if self._watcher is not None:
            self._watcher.cancel()
        self._finish(None)

    async def close(self) -> None:
        if self._closed and self._done.is_set():
            return
        self._closed = True
        if self._handle is not None:
            with contextlib.suppress(Exception):
                await self._handle.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._done.wait(), timeout=5)
            with contextlib.suppress(Exception):
                await self._handle.disconnect()
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
        if not self._done.is_set():
            self._finish(None)

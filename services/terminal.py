"""`TerminalSession`: the contract between a terminal pane and whatever runs the shell (a local PTY, a Daytona PTY).

Output is a stream of raw bytes (the pane's emulator parses them); `output()` ends when the shell's side closes.
Input goes through one `OrderedWriter` per session, so concurrent writes (a paste, then keys) arrive whole and in
order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class TerminalSession(Protocol):
    @property
    def session_id(self) -> str: ...

    @property
    def exit_code(self) -> int | None:
        """The shell's exit status once it has exited, else None."""
        ...

    async def write(self, data: bytes) -> None:
        """Queue input for the shell, in call order, never dropped while the session lives; returns once it is
        queued, or once the backlog is back under its bound (back-pressure)."""
        ...

    async def resize(self, cols: int, rows: int) -> None: ...

    def output(self) -> AsyncIterator[bytes]:
        """Chunks of output as they arrive; ends at EOF. Only one consumer at a time."""
        ...

    async def wait(self) -> int:
        """Wait for the shell to exit and return its exit status."""
        ...

    async def close(self) -> None:
        """End the shell and everything it started; idempotent."""
        ...


def foreground_program(session: TerminalSession) -> str | None:
    """The program in the session's foreground when the provider can tell (local PTYs), else None (the shell
    itself has it, or a remote session that does not say)."""
    ask = getattr(session, "foreground", None)
    if not callable(ask):
        return None
    try:
        answer = ask()
    except Exception:  # a courtesy for a confirmation message: never a reason to fail
        log.debug("asking a terminal for its foreground program failed", exc_info=True)
        return None
    return answer if isinstance(answer, str) and answer else None


# What `ask_foreground` answers when the provider cannot tell whether a program runs (a Daytona terminal other than
# serve's): callers ask anyway, saying a program may be running. NUL is in no program's name (the kernel's are
# NUL-terminated), so the sentinel cannot be mistaken for one.
CANNOT_TELL = "\x00"
FOREGROUND_TIMEOUT = 5.0  # seconds a remote provider gets to say what runs before the answer is CANNOT_TELL


async def ask_foreground(session: TerminalSession) -> str | None:
    """The program in the session's foreground, None while the shell itself has the terminal, or `CANNOT_TELL`.
    A local PTY answers at once (`foreground_program`); a remote session that can say (`ask_foreground`, a Daytona
    terminal: one request) is asked, bounded by `FOREGROUND_TIMEOUT`; a failure is CANNOT_TELL, never an error:
    closing must still be possible, after asking."""
    ask = getattr(session, "ask_foreground", None)
    if not callable(ask):
        return foreground_program(session)
    try:
        answer = await asyncio.wait_for(ask(), FOREGROUND_TIMEOUT)
    except Exception:
        log.debug("asking a terminal for its foreground program failed", exc_info=True)
        return CANNOT_TELL
    return answer if isinstance(answer, str) and answer else None


async def next_output(queue: asyncio.Queue[bytes | None]) -> bytes | None:
    """The next chunk of a session's output queue joined with whatever else is queued already (one bigger chunk
    costs the emulator less than many small ones); None at the end, which stays queued for later callers."""
    chunk = await queue.get()
    if chunk is None:
        queue.put_nowait(None)
        return None
    parts = [chunk]
    while not queue.empty():
        nxt = queue.get_nowait()
        if nxt is None:
            queue.put_nowait(None)
            break
        parts.append(nxt)
    return b"".join(parts)


WRITE_BACKLOG = 1024 * 1024  # bytes a session holds for its shell before a writer that awaits is held back
MAX_JOINED = 64 * 1024  # the most queued input joined into one delivery


class OrderedWriter:
    """One ordered stream of input into a session: every `write` joins one queue, drained by one task, so bytes
    reach the shell whole and in the order they were written, however many callers write at once.

    A PTY (or a WebSocket) takes input only as fast as the program reads it. Two writers each waiting for room
    on their own would race (with `loop.add_writer` the second replaced the first's callback, and the first
    write never finished: a paste followed by a key lost most of the paste). Here only the drain task waits.
    `write` queues its data at once (the order is the order of the calls) and then, while more than `backlog`
    bytes wait, holds its caller back: back-pressure, never a drop. The data is dropped only when the session
    ends (`close()`) or `send` fails (logged), and then nothing could deliver it: the session's own end (its exit
    code, its output ending) is what the user sees.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        *,
        backlog: int = WRITE_BACKLOG,
        send_now: Callable[[bytes], bool] | None = None,
    ) -> None:
        self._send = send
        self._send_now = send_now  # hands data over without waiting, or says it cannot (False)
        self._backlog = backlog
        self._pending: deque[bytes] = deque()
        self._size = 0
        self._task: asyncio.Task[None] | None = None
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False

    async def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        if self._size > self._backlog:
            self._room.clear()
        while not self._room.is_set() and not self._closed:
            await self._room.wait()

    def write_now(self, data: bytes) -> bool:
        """Deliver `data` within this call, when nothing written before it is still queued and the session can take
        it without waiting; False: nothing was done, `write` it. A typed key goes this way: through `write` it
        waited two turns of the event loop (the caller's task, then the drain task) before reaching the socket."""
        if (
            self._send_now is None
            or self._closed
            or self._pending
            or (self._task is not None and not self._task.done())
        ):
            return False
        return self._send_now(data)

    async def _drain(self) -> None:
        try:
            while self._pending and not self._closed:
                # keys typed faster than the shell reads go as one write (one syscall, one WebSocket message)
                data = self._pending.popleft()
                while self._pending and len(data) + len(self._pending[0]) <= MAX_JOINED:
                    data += self._pending.popleft()
                await self._send(data)
                if self._closed:
                    return
                self._size -= len(data)
                if self._size <= self._backlog:
                    self._room.set()
        except asyncio.CancelledError:
            raise
        except Exception:  # the session cannot take input any more: nothing queued can be delivered
            log.debug("terminal input ended", exc_info=True)
            self.close()

    def close(self) -> int:
        """End the writer: what is still queued is dropped (the shell is gone) and waiting writers return. Returns
        how many bytes were dropped (so a caller can say typed input was not delivered)."""
        dropped = self._size if not self._closed else 0
        self._closed = True
        self._pending.clear()
        self._size = 0
        self._room.set()
        task, self._task = self._task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        return dropped

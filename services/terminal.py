"""`TerminalSession`: the contract between a terminal pane and whatever runs the shell (a local PTY, a Daytona PTY).

Output is a stream of raw bytes (the pane's emulator parses them); `output()` ends when the shell's side closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class TerminalSession(Protocol):
    @property
    def session_id(self) -> str: ...

    @property
    def exit_code(self) -> int | None:
        """The shell's exit status once it has exited, else None."""
        ...

    async def write(self, data: bytes) -> None: ...

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

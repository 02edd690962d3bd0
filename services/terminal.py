"""`TerminalSession`: the contract between a terminal pane and whatever runs the shell (a local PTY, a Daytona PTY).

Output is a stream of raw bytes (the pane's emulator parses them); `output()` ends when the shell's side closes.
"""

from __future__ import annotations

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

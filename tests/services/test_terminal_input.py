"""Terminal input arrives whole and in order: a 1 MiB paste into `cat > f`, written while the shell's terminal is
busy with a background job's output and immediately followed by more keys, lands in the file byte for byte
(sha256 of the file read back through the file API). Over a real local PTY, and over Daytona's PTY WebSocket
against `sandbench serve`.

The writes are started the way the pane starts them: one task per key or paste, none awaited before the next.
(Before the ordered writer, the local PTY delivered the keys and a few KiB of the paste, and the paste's write
never returned; the Daytona SDK's WebSocket sends happened to stay in order, the writer now makes sure of it.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

import pytest

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from services.terminal import TerminalSession
from tests.services import test_daytona_terminals as daytona_terminals
from tests.services import test_server_harness as harness

serve = harness.serve  # the shared fixtures
dservice = daytona_terminals.dservice
box = daytona_terminals.box

pytestmark = [pytest.mark.timeout(180), pytest.mark.bwrap]

MIB = 1024 * 1024


def paste_text(size: int = MIB) -> bytes:
    """About `size` bytes of distinct lines: short ones (a canonical-mode terminal takes at most 4095 bytes per
    line) and no control characters, so the line discipline passes every byte on."""
    lines = []
    total = 0
    i = 0
    while total < size:
        line = f"{i:07d} {hashlib.sha256(str(i).encode()).hexdigest()}\n".encode()
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)[:size].rsplit(b"\n", 1)[0] + b"\n"


class Output:
    """Reads a session's output for the whole test (an unread PTY would stop the shell), noting what was seen."""

    def __init__(self, term: TerminalSession) -> None:
        self.buf = bytearray()
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read(term))

    async def _read(self, term: TerminalSession) -> None:
        async for chunk in term.output():
            self.buf += chunk
            self._changed.set()

    async def until(self, needle: bytes, timeout: float = 60) -> None:
        async def wait() -> None:
            start = 0
            while needle not in self.buf[start:]:
                start = max(0, len(self.buf) - len(needle))
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def _paste_arrives_whole(service: SandboxService, sandbox_id: str) -> None:
    paste = paste_text()
    term = await service.open_terminal(sandbox_id, 120, 40)
    out = Output(term)
    try:
        # busy: a background job keeps printing to the same terminal while the paste goes in
        await term.write(b"(while :; do echo busy; done) & cat > pasted.txt\n")
        await out.until(b"busy\r\nbusy\r\n")
        keys = (paste, b"t", b"a", b"il\n", b"\x04", b"kill %1; echo DONE-$((6*7))\n")
        tasks = [asyncio.ensure_future(term.write(data)) for data in keys]
        await out.until(b"DONE-42")
        got = (await service.read_file(sandbox_id, "pasted.txt", limit=4 * MIB)).data
        want = paste + b"tail\n"
        assert (len(got), hashlib.sha256(got).hexdigest()) == (len(want), hashlib.sha256(want).hexdigest())
        await asyncio.wait_for(asyncio.gather(*tasks), 10)  # and every write has returned
    finally:
        await out.stop()
        await term.close()


async def test_local_paste_then_keys_arrive_whole_and_in_order(service: SandboxService, sandbox: SandboxInfo) -> None:
    await _paste_arrives_whole(service, sandbox.id)


async def test_daytona_paste_then_keys_arrive_whole_and_in_order(dservice: SandboxService, box: SandboxInfo) -> None:
    await _paste_arrives_whole(dservice, box.id)

"""The local `TerminalSession`: a PTY whose slave is the controlling terminal of a sandboxed shell.

The shell runs as `setsid --ctty --wait SHELL -i` inside bwrap, so it gets job control on its own PTY and never
sees the app's terminal (isolation.md: "Interactive terminals"). Output is read with the event loop's reader
callback; when the consumer falls behind, reading pauses, so the kernel's PTY buffer applies back-pressure to
the program instead of our memory growing without bound. Input goes through one `OrderedWriter`, whose single
drain task is the only one ever waiting for room in the PTY.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import secrets
import signal
import struct
import termios
from collections.abc import AsyncIterator, Callable

from services.local.launch import Launched
from services.terminal import OrderedWriter, next_output

READ_CHUNK = 65536
# Measured (bench/terminal.py, 2 cores): a PTY read returns at most ~4 KiB and costs ~150 us here, so a wakeup that
# drains 64 KiB holds the event loop ~2.5 ms. 4 KiB per wakeup drained seq at 48-74 % of tmux; 64 KiB at 64-90 %;
# 128 KiB gained little more and made another terminal's echo wait longer.
MAX_READ_PER_WAKEUP = 64 * 1024
# A chunk the consumer has not come back for pauses reading. With more read ahead (64 chunks) a flooding terminal
# kept reading (2.5 ms a time) while another waited for its echo: p99 14-17 ms instead of 7 ms; 1 costs ~10-15 %
# of flood throughput (still 64-76 % of tmux).
MAX_QUEUED = 1


def set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class LocalTerminal:
    def __init__(self, launched: Launched, master_fd: int, on_activity: Callable[[], None] | None = None):
        self._launched = launched
        self._fd = master_fd
        self._id = secrets.token_hex(6)
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._reading = False
        self._eof = False
        self._on_activity = on_activity
        self._exit_code: int | None = None
        self._writer = OrderedWriter(self._deliver)
        os.set_blocking(master_fd, False)
        self._resume_reading()
        self._waiter = self._loop.create_task(self._wait_exit())

    @property
    def session_id(self) -> str:
        return self._id

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    @property
    def pid(self) -> int:
        return self._launched.process.pid

    def foreground(self) -> str | None:
        """The name of the program in this terminal's foreground (`htop`), or None while the shell itself has it
        (or it cannot be told). What a workspace names when it asks before ending this terminal. The kernel
        reports the foreground group in the caller's pid namespace, so the sandbox's own namespace is no hurdle;
        the name is the sandbox's to choose: callers show it as plain text."""
        if self._fd < 0 or self._eof:
            return None
        try:
            group = os.tcgetpgrp(self._fd)
            if group <= 0 or os.getsid(group) == group:
                return None  # the session leader, the shell, has the terminal
            with open(f"/proc/{group}/comm", "rb") as comm:
                name = comm.read(64)
        except OSError:
            return None
        return name.decode("utf-8", "replace").strip() or None

    def _resume_reading(self) -> None:
        if not self._reading and not self._eof and self._fd >= 0:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _on_readable(self) -> None:
        # A PTY hands out at most a few KiB per read; draining what is there now (up to a bound) costs one
        # event-loop turn per burst instead of one per 4 KiB, which is most of a flood's overhead.
        parts: list[bytes] = []
        size = 0
        eof = False
        while size < MAX_READ_PER_WAKEUP:
            try:
                data = os.read(self._fd, READ_CHUNK)
            except BlockingIOError:
                break
            except OSError as exc:
                # EIO: every slave fd is closed (the shell and its children are gone)
                if exc.errno not in (errno.EIO, errno.EBADF):
                    raise
                eof = True
                break
            if not data:
                eof = True
                break
            parts.append(data)
            size += len(data)
        if parts:
            self._queue.put_nowait(b"".join(parts))
        if eof:
            self._eof = True
            self._pause_reading()
            self._queue.put_nowait(None)
            return
        if self._queue.qsize() >= MAX_QUEUED:
            self._pause_reading()

    async def output(self) -> AsyncIterator[bytes]:
        while True:
            # reading resumes when the consumer comes back for more, not before: a consumer that holds off (a
            # terminal giving way to another one's echo) then costs the event loop no reads meanwhile
            if not self._reading and self._queue.qsize() < MAX_QUEUED:
                self._resume_reading()
            chunk = await next_output(self._queue)
            if chunk is None:
                return
            yield chunk

    async def write(self, data: bytes) -> None:
        if self._fd < 0 or self._eof:
            return
        if self._on_activity:
            self._on_activity()
        await self._writer.write(data)

    async def _deliver(self, data: bytes) -> None:
        """The writer's one drain task: all of `data` into the PTY, waiting for room while the program has not read
        what is there (only this task ever waits on the fd, so no waiter can replace another's)."""
        view = memoryview(data)
        while view:
            if self._fd < 0:
                return
            try:
                n = os.write(self._fd, view)
                view = view[n:]
            except BlockingIOError:
                fut: asyncio.Future[None] = self._loop.create_future()
                self._loop.add_writer(self._fd, fut.set_result, None)
                try:
                    await fut
                finally:
                    if self._fd >= 0:
                        self._loop.remove_writer(self._fd)
            except OSError:  # EIO: the shell and every process holding the terminal are gone
                self._writer.close()
                return

    async def resize(self, cols: int, rows: int) -> None:
        if self._fd >= 0:
            set_winsize(self._fd, max(1, cols), max(1, rows))

    async def _wait_exit(self) -> int:
        code = await self._launched.process.wait()
        # bwrap passes the shell's status through; a signal shows as 128+n like a shell would report it
        self._exit_code = code if code >= 0 else 128 - code
        await self._launched.cleanup()
        return self._exit_code

    async def wait(self) -> int:
        return await asyncio.shield(self._waiter)

    async def close(self) -> None:
        proc = self._launched.process
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._waiter), timeout=5)
        self._pause_reading()
        self._writer.close()
        if self._fd >= 0:
            self._loop.remove_writer(self._fd)  # the drain task, cancelled, may not have run its own yet
            os.close(self._fd)
            self._fd = -1
        if not self._eof:
            self._eof = True
            self._queue.put_nowait(None)

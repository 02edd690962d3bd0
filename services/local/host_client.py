"""The app's side of the local session host (`session_host.py`): starting it on demand, asking it for shells, and
`HostTerminal`, the `TerminalSession` over its socket.

`HostClient.open` connects to `<data dir>/run/host.sock` (after checking the folder is 0700 and the socket 0600,
both ours), starting the host as a detached process when none listens, and asks for a shell; `attach` reconnects
to one (its recent output replays, then it streams); `list` never starts a host just to look. A `HostTerminal`
ends its shell on `close()` and only drops the connection on `detach()`; the app dying has the same effect as
`detach()`, which is the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from services import errors
from services.errors import ProviderError, SandbenchError
from services.local import host_wire as hw
from services.terminal import OrderedWriter

log = logging.getLogger(__name__)

START_TIMEOUT = 20.0  # seconds for a new host to listen (a cold Python start on a busy machine)
# output bytes held for a consumer before reading the socket pauses: small, since what is held when the program
# ends is what the pane has yet to show (the pane keeps its own burst)
READ_AHEAD = 64 * 1024


def _error(reply: dict[str, Any]) -> SandbenchError:
    cls = getattr(errors, str(reply.get("error")), None)
    message = str(reply.get("message") or "the terminal session host refused")
    public = reply.get("public")
    if isinstance(cls, type) and issubclass(cls, SandbenchError):
        try:
            return cls(message, public=public if isinstance(public, str) else None)
        except TypeError:  # an error type with its own constructor
            pass
    return ProviderError(message)


class _Conn:
    """One connection to the host: the reply to its request, then (for a terminal) output and the exit."""

    def __init__(self) -> None:
        self.proto = hw.FrameProtocol(self._on_frame, self._on_lost)
        self.reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.terminal: HostTerminal | None = None
        self.early: list[tuple[bytes, bytes]] = []  # frames that came with the reply, before the terminal existed

    def _on_frame(self, kind: bytes, payload: bytes) -> None:
        if not self.reply.done():
            try:
                obj = json.loads(payload) if kind == hw.JSON else None
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                self.reply.set_result(obj)
            else:
                self.reply.set_exception(ProviderError("the terminal session host sent a bad reply"))
            return
        if self.terminal is not None:
            self.terminal._frame(kind, payload)
        else:
            self.early.append((kind, payload))

    def _on_lost(self) -> None:
        if not self.reply.done():
            self.reply.set_exception(ConnectionResetError("the session host closed the connection"))
        if self.terminal is not None:
            self.terminal._lost()
        else:
            self.early.append((b"", b""))


class HostClient:
    def __init__(self, data_dir: Path, *, bwrap: str | None = None, isolation_required: bool = False) -> None:
        self.data_dir = data_dir
        self.bwrap = bwrap
        self.isolation_required = isolation_required
        self._starting = asyncio.Lock() if _has_loop() else None

    # -- connecting ----------------------------------------------------------------------------------------
    def _check(self) -> Path:
        hw.check_private(hw.run_dir(self.data_dir), kind="dir")
        path = hw.socket_path(self.data_dir)
        hw.check_private(path, kind="socket")
        return path

    async def _connect_once(self) -> _Conn:
        path = self._check()
        conn = _Conn()
        loop = asyncio.get_running_loop()
        with hw.address(path) as addr:
            await loop.create_unix_connection(lambda: conn.proto, addr)
        return conn

    async def _connect(self, *, start: bool) -> _Conn | None:
        try:
            return await self._connect_once()
        except (FileNotFoundError, ConnectionRefusedError):
            if not start:
                return None
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
                return await self._connect_once()  # another task started it meanwhile
            self._spawn()
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    return await self._connect_once()
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.monotonic() > deadline:
                        raise ProviderError(
                            "the terminal session host did not start (details in the log file)"
                        ) from None
                    await asyncio.sleep(0.02)

    def _spawn(self) -> None:
        """Start the host detached: a session of its own (the app's terminal closing does not reach it), stdio
        on /dev/null, cwd /; a thread reaps it if it exits while we still run."""
        repo = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.local.session_host", str(self.data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            cwd="/",
            env=env,
        )
        threading.Thread(target=proc.wait, name="sandbench-host-reaper", daemon=True).start()
        log.info("started the terminal session host (pid %d)", proc.pid)

    async def _request(self, req: dict[str, Any], *, start: bool) -> tuple[_Conn, dict[str, Any]] | None:
        for attempt in (1, 2):
            conn = await self._connect(start=start)
            if conn is None:
                return None
            conn.proto.send(hw.json_frame(req))
            try:
                reply = await conn.reply
            except ConnectionResetError:
                # the host was exiting (empty) as we connected: nothing was done; a new one is started
                conn.proto.close()
                if attempt == 2:
                    raise ProviderError("the terminal session host closed the connection") from None
                await asyncio.sleep(0.05)
                continue
            if not reply.get("ok"):
                conn.proto.close()
                raise _error(reply)
            return conn, reply
        return None  # pragma: no cover

    async def _simple(self, req: dict[str, Any], *, start: bool = False) -> dict[str, Any] | None:
        got = await self._request(req, start=start)
        if got is None:
            return None
        conn, reply = got
        conn.proto.close()
        return reply

    # -- operations ----------------------------------------------------------------------------------------
    async def open(
        self, sandbox_id: str, cols: int, rows: int, *, cwd: str = "", env: dict[str, str] | None = None
    ) -> HostTerminal:
        req = {
            "op": "open",
            "sandbox": sandbox_id,
            "cols": cols,
            "rows": rows,
            "cwd": cwd,
            "env": env or {},
            "bwrap": self.bwrap,
            "isolation_required": self.isolation_required,
        }
        got = await self._request(req, start=True)
        assert got is not None
        return HostTerminal(sandbox_id, *got, reattached=False)

    async def attach(self, sandbox_id: str, session_id: str) -> HostTerminal:
        got = await self._request({"op": "attach", "sandbox": sandbox_id, "id": session_id}, start=False)
        if got is None:
            raise errors.SandboxNotFound("that terminal session has ended")
        return HostTerminal(sandbox_id, *got, reattached=True)

    async def list(self, sandbox_id: str) -> list[dict[str, Any]]:
        reply = await self._simple({"op": "list", "sandbox": sandbox_id})
        sessions = reply.get("sessions", []) if reply else []
        return [s for s in sessions if isinstance(s, dict)]

    async def kill(self, sandbox_id: str, session_id: str) -> None:
        await self._simple({"op": "kill", "sandbox": sandbox_id, "id": session_id})

    async def forget(self, sandbox_id: str) -> None:
        """End the sandbox's shells in the host, if one runs (never starts one)."""
        await self._simple({"op": "forget", "sandbox": sandbox_id})

    async def ping(self) -> dict[str, Any] | None:
        return await self._simple({"op": "ping"})


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class HostTerminal:
    """A shell held by the session host, as a `TerminalSession`."""

    def __init__(self, sandbox_id: str, conn: _Conn, reply: dict[str, Any], *, reattached: bool) -> None:
        self.sandbox_id = sandbox_id
        self._conn = conn
        self._id = str(reply.get("id", ""))
        self.created_at = float(reply.get("created_at") or time.time())
        self.command = str(reply.get("command") or "")
        self.reattached = reattached  # this connection found the shell running (the tab bar marks it)
        self._exit_code: int | None = None
        self._exited = asyncio.get_running_loop().create_future()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._ready = asyncio.Event()
        self._eof = False
        self._paused = False
        self._foreground: str | None = None
        self._writer = OrderedWriter(self._send, send_now=self._send_now)
        conn.terminal = self
        early, conn.early = conn.early, []
        for kind, payload in early:
            if kind:
                self._frame(kind, payload)
            else:
                self._lost()

    @property
    def session_id(self) -> str:
        return self._id

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    def foreground(self) -> str | None:
        """The program in the shell's foreground, as the host last reported it (None: the shell itself)."""
        return self._foreground

    # -- frames from the host ------------------------------------------------------------------------------
    def _frame(self, kind: bytes, payload: bytes) -> None:
        if kind == hw.DATA:
            self._chunks.append(payload)
            self._buffered += len(payload)
            self._ready.set()
            if self._buffered > READ_AHEAD and not self._paused:
                self._paused = True
                self._conn.proto.pause_reading()  # the host's queue, then the PTY, push back on the program
        elif kind == hw.EXIT and len(payload) == hw.CODE.size:
            self._exit_code = hw.CODE.unpack(payload)[0]
        elif kind == hw.FOREGROUND:
            self._foreground = payload.decode("utf-8", "replace") or None

    def _lost(self) -> None:
        self._eof = True
        self._ready.set()
        self._writer.close()
        if not self._exited.done():
            # no exit status: the connection was dropped (detach) or the host went away
            self._exited.set_result(self._exit_code if self._exit_code is not None else -1)

    # -- TerminalSession -----------------------------------------------------------------------------------
    async def output(self) -> AsyncIterator[bytes]:
        while True:
            if not self._chunks:
                if self._eof:
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._buffered = 0
            if self._paused:
                self._paused = False
                self._conn.proto.resume_reading()
            yield data

    async def _send(self, data: bytes) -> None:
        proto = self._conn.proto
        if proto.closed:
            raise ConnectionResetError("the session host connection is closed")
        proto.send(hw.frame(hw.DATA, data))
        await proto.drain()

    def _send_now(self, data: bytes) -> bool:
        proto = self._conn.proto
        if not proto.writable:
            return False
        proto.send(hw.frame(hw.DATA, data))
        return True

    async def write(self, data: bytes) -> None:
        if self._eof:
            return
        await self._writer.write(data)

    def write_now(self, data: bytes) -> bool:
        """`data` sent to the host within this call (a typed key), or False: `write` it."""
        return not self._eof and self._writer.write_now(data)

    async def resize(self, cols: int, rows: int) -> None:
        self._conn.proto.send(hw.frame(hw.RESIZE, hw.SIZE.pack(max(1, min(cols, 1000)), max(1, min(rows, 1000)))))

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    async def close(self) -> None:
        """End the shell (and everything it started), then the connection."""
        if not self._conn.proto.closed:
            self._conn.proto.send(hw.frame(hw.KILL))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._exited), timeout=5)
        await self.detach()

    async def detach(self) -> None:
        """Drop the connection; the shell keeps running in the host for a later `attach`."""
        self._writer.close()
        self._conn.proto.close()
        self._eof = True
        self._ready.set()


def stop_host(data_dir: Path, timeout: float = 10.0) -> bool:
    """End a running host and every shell it holds (SIGTERM; it closes its sessions, then exits). True when no
    host is left. For tests and `sandbench` clean-up; blocking."""
    try:
        pid = int(hw.pid_path(data_dir).read_text())
    except (OSError, ValueError):
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    if b"services.local.session_host" not in cmdline:
        return True  # the pid file outlived its host and the pid was reused
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return True
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return False


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] == ["Z"]

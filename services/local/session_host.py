"""The local session host: one process per user and data directory that owns the local sandboxes' terminals, so a
shell outlives the app that opened it (issue 11 §1), as a tmux server does.

`python -m services.local.session_host DATA_DIR` (started on demand by `host_client.HostClient`, detached, in a
session of its own) listens on `<data dir>/run/host.sock` (0600 in a 0700 folder; every peer's uid is checked),
spawns shells through the LocalProvider's launcher (so they are sandboxed exactly as before and recorded in the
run folder, where `stop` from any process finds and kills them), and keeps each in a `pty_sessions.PtySession`:
output replays to a client that attaches again, then streams live. It exits by itself once it has held no session
and no connection for `LINGER` seconds, and at SIGTERM ends every shell it holds first.

Auto-stop: a detached shell's output and input are the sandbox's activity (recorded in state.db like typing); a
sandbox whose shells are all detached and quiet past its auto-stop interval is stopped here, so an idle sandbox is
stopped even when no app runs. A shell with a client attached counts as busy, as in `SandboxService.reap_idle`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services import errors
from services.errors import InvalidInput, SandbenchError
from services.local import host_wire as hw
from services.local.provider import LocalProvider
from services.models import SandboxState
from services.periodic import every
from services.pty_sessions import Client, PtyManager, PtySession
from services.terminal import foreground_program

log = logging.getLogger("sandbench.host")

LINGER = 3.0  # seconds with nothing held before the host exits (a tab closed and another opened reuse it)
REAP_EVERY = 30.0  # seconds between auto-stop passes
MAX_SESSIONS = 256  # shells one host holds (a bound, as serve has one per token)
MAX_SIZE = 1000
# output queued for the app before the shell waits for it: a few PTY reads, so the app is never far behind the
# program (a 2 MiB backlog was ~100 ms of a flood still to show after the program ended)
CLIENT_BACKLOG = 64 * 1024
# the socket's own buffer toward the app, and the transport's above it (the defaults hold ~270 KiB more)
SEND_BUFFER = 64 * 1024
FOREGROUND_EVERY = 1.0
WATCH_EVERY = 1.0  # seconds between checks that the socket is still ours


class SessionHost:
    def __init__(self, data_dir: Path, *, linger: float = LINGER) -> None:
        self.data_dir = data_dir
        self.linger = linger
        self.ptys = PtyManager(on_ended=self._ended)
        self._providers: dict[tuple[str | None, bool], LocalProvider] = {}
        self._connections = 0
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()

    # -- providers -----------------------------------------------------------------------------------------
    def provider(self, bwrap: str | None = None, isolation_required: bool = False) -> LocalProvider:
        """The provider for a client's settings (its config's `bwrap` and `isolation`): one per distinct pair."""
        key = (bwrap, isolation_required)
        p = self._providers.get(key)
        if p is None:
            p = LocalProvider(self.data_dir, isolation_required=isolation_required, bwrap=bwrap)
            self._providers[key] = p
        return p

    def _any_provider(self) -> LocalProvider:
        return next(iter(self._providers.values())) if self._providers else self.provider()

    # -- lifetime ------------------------------------------------------------------------------------------
    def _ended(self, session: PtySession) -> None:
        log.info("shell %s of %s ended (%s)", session.id, session.sandbox_id, session.exit_code)
        self._changed.set()

    def empty(self) -> bool:
        return len(self.ptys) == 0 and self._connections == 0

    async def run_until_empty(self, still_ours: Callable[[], bool] = lambda: True) -> None:
        """Wait until stopped, until nothing has been held for `linger` seconds, or until `still_ours()` says the
        socket is gone (the data directory was removed or taken over: its shells have nowhere to be found)."""
        reaper = asyncio.ensure_future(every(REAP_EVERY, self.reap_idle, "auto-stop pass", log))
        idle_since: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while not self._stop.is_set():
                self._changed.clear()
                if not still_ours():
                    log.warning("the session host's socket is gone: ending its shells")
                    return
                if self.empty():
                    idle_since = idle_since if idle_since is not None else loop.time()
                    if loop.time() - idle_since >= self.linger:
                        return
                else:
                    idle_since = None
                waiters = [asyncio.ensure_future(self._changed.wait()), asyncio.ensure_future(self._stop.wait())]
                wait = min(WATCH_EVERY, self.linger) if idle_since is not None else WATCH_EVERY
                _done, pending = await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                for w in pending:
                    w.cancel()
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        await self.ptys.close_all()
        for p in self._providers.values():
            with contextlib.suppress(Exception):
                await p.close()

    # -- auto-stop -----------------------------------------------------------------------------------------
    async def reap_idle(self, now: float | None = None) -> list[str]:
        """Stop sandboxes whose shells here are all detached and quiet past the sandbox's auto-stop interval."""
        wall = now if now is not None else time.time()
        stopped: list[str] = []
        provider = self._any_provider()
        for sandbox_id in {s.sandbox_id for s in self.ptys.all()}:
            sessions = self.ptys.list(sandbox_id)
            if any(s.clients for s in sessions):
                continue  # a client is attached: the app counts it as busy, and so do we
            row = provider.store.get(sandbox_id)
            if row is None or row.state is not SandboxState.STARTED or row.auto_stop <= 0:
                continue
            last = max([row.last_activity, provider.activity.last(sandbox_id), *(s.last_io for s in sessions)])
            if wall - last < row.auto_stop * 60:
                continue
            log.info("auto-stop: %s idle for %.0f s with only detached shells", row.name, wall - last)
            try:
                await self.ptys.forget_sandbox(sandbox_id)
                await provider.stop(sandbox_id)
                stopped.append(sandbox_id)
            except SandbenchError:
                log.exception("auto-stop of %s failed", row.name)
        return stopped

    # -- requests ------------------------------------------------------------------------------------------
    async def handle(self, conn: Connection, req: dict[str, Any]) -> None:
        op = req.get("op")
        if op == "ping":
            conn.reply({"ok": True, "pid": os.getpid(), "sessions": len(self.ptys)})
        elif op == "list":
            sandbox_id = _str(req, "sandbox")
            conn.reply({"ok": True, "sessions": [_info(s) for s in self.ptys.list(sandbox_id)]})
        elif op == "open":
            session = await self._open(req)
            conn.reply({"ok": True, **_info(session)})
            conn.stream(session)
            return
        elif op == "attach":
            session = self._find(req)
            conn.reply({"ok": True, **_info(session)})
            conn.stream(session)
            return
        elif op == "kill":
            await self.ptys.kill(self._find(req))
            conn.reply({"ok": True})
        elif op == "forget":
            await self.ptys.forget_sandbox(_str(req, "sandbox"))
            conn.reply({"ok": True})
        elif op == "shutdown":
            conn.reply({"ok": True})
            self.stop()
        else:
            raise InvalidInput("unknown request")
        conn.close()

    def _find(self, req: dict[str, Any]) -> PtySession:
        session = self.ptys.get(_str(req, "sandbox"), _str(req, "id"))
        if session is None:
            raise errors.SandboxNotFound("that terminal session has ended")
        return session

    async def _open(self, req: dict[str, Any]) -> PtySession:
        if len(self.ptys) >= MAX_SESSIONS:
            raise errors.ProviderError(f"the terminal session host holds {MAX_SESSIONS} shells, its limit")
        sandbox_id = _str(req, "sandbox")
        cols, rows = _dim(req.get("cols")), _dim(req.get("rows"))
        cwd = req.get("cwd") or ""
        env = req.get("env") or {}
        bwrap = req.get("bwrap")
        if not isinstance(cwd, str) or not isinstance(env, dict) or not isinstance(bwrap, (str, type(None))):
            raise InvalidInput("bad terminal request")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise InvalidInput("bad terminal environment")
        provider = self.provider(bwrap, bool(req.get("isolation_required")))
        terminal = await provider.open_terminal(sandbox_id, cols, rows, cwd=cwd, env=env)
        session = PtySession(
            secrets.token_hex(8),
            sandbox_id,
            terminal,
            cwd,
            dict(env),
            cols,
            rows,
            command=provider.shell_name,
            client_backlog=CLIENT_BACKLOG,
        )
        session.on_output = lambda s: provider.activity.note(s.sandbox_id)
        self.ptys.add(session)
        self._changed.set()
        return session


def _str(req: dict[str, Any], key: str) -> str:
    value = req.get(key)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise InvalidInput(f"bad {key}")
    return value


def _dim(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIZE:
        raise InvalidInput(f"terminal size must be 1-{MAX_SIZE}")
    return value


def _info(s: PtySession) -> dict[str, Any]:
    return {
        "id": s.id,
        "created_at": s.created_at,
        "cols": s.cols,
        "rows": s.rows,
        "active": s.exit_code is None,
        "command": foreground_program(s.terminal) or s.command,
        "attached": len(s.clients),
        "last_io": s.last_io,
    }


class Connection:
    """One client connection: a request, then (open/attach) the terminal's frames both ways."""

    def __init__(self, host: SessionHost) -> None:
        self.host = host
        self.proto = hw.FrameProtocol(self._on_frame, self._on_lost)
        self.session: PtySession | None = None
        self.client: Client | None = None
        self._requested = False
        self._writer: asyncio.Task[None] | None = None
        self._inputs = 0  # input writes scheduled and not finished (reading pauses while many are)
        self._tasks: set[asyncio.Task[Any]] = set()

    def made(self) -> None:
        transport = self.proto.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        try:
            uid = hw.peer_uid(sock) if sock is not None else -1
        except OSError:
            uid = -1
        if uid != os.geteuid():  # fail closed: only this user's processes reach its shells
            log.warning("refused a connection from uid %s", uid)
            self.proto.close()
            return
        self.host._connections += 1
        self._counted = True

    def _on_lost(self) -> None:
        if getattr(self, "_counted", False):
            self._counted = False
            self.host._connections -= 1
            self.host._changed.set()
        if self.session is not None and self.client is not None:
            self.session.detach(self.client)
        if self._writer is not None:
            self._writer.cancel()

    def reply(self, obj: dict[str, Any]) -> None:
        self.proto.send(hw.json_frame(obj))

    def close(self) -> None:
        self.proto.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_frame(self, kind: bytes, payload: bytes) -> None:
        if not self._requested:
            self._requested = True
            if kind != hw.JSON:
                self.close()
                return
            try:
                req = json.loads(payload)
                if not isinstance(req, dict):
                    raise ValueError
            except ValueError:
                self.close()
                return
            self._spawn(self._request(req))
            return
        session = self.session
        if session is None:
            return
        if kind == hw.DATA:
            self._inputs += 1
            if self._inputs > 64:
                self.proto.pause_reading()  # back-pressure: the shell is not reading its input
            task = self._spawn(session.write(payload))  # tasks start in order: input stays in order
            task.add_done_callback(self._input_done)
        elif kind == hw.RESIZE and len(payload) == hw.SIZE.size:
            cols, rows = hw.SIZE.unpack(payload)
            if 1 <= cols <= MAX_SIZE and 1 <= rows <= MAX_SIZE:
                self._spawn(session.resize(cols, rows))
        elif kind == hw.KILL:
            self._spawn(self.host.ptys.kill(session))

    def _input_done(self, _task: asyncio.Task[Any]) -> None:
        self._inputs -= 1
        if self._inputs == 32:
            self.proto.resume_reading()

    async def _request(self, req: dict[str, Any]) -> None:
        try:
            await self.host.handle(self, req)
        except SandbenchError as exc:
            self.reply({"ok": False, "error": type(exc).__name__, "message": exc.message, "public": exc.public})
            self.close()
        except Exception:
            log.exception("request %s failed", req.get("op"))
            self.reply({"ok": False, "error": "ProviderError", "message": "the terminal session host failed"})
            self.close()

    def stream(self, session: PtySession) -> None:
        if self.proto.closed:
            return
        self.session = session
        transport = self.proto.transport
        if transport is not None:
            # little output waits on its way to the app: what waits when the program ends is what it has yet to show
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            transport.set_write_buffer_limits(high=SEND_BUFFER)
        self.client = session.attach()
        self._writer = self._spawn(self._send_output(self.client))
        self._spawn(self._watch_foreground(session))

    async def _watch_foreground(self, session: PtySession) -> None:
        """Tell the client which program has the shell's terminal when that changes (the app names it before
        ending a workspace); looked up once a second, a syscall and a /proc read."""
        last: str | None = None
        while not self.proto.closed and session.exit_code is None:
            name = foreground_program(session.terminal) or ""
            if name != last:
                last = name
                self.proto.send(hw.frame(hw.FOREGROUND, name.encode()[:64]))
            await asyncio.sleep(FOREGROUND_EVERY)

    async def _send_output(self, client: Client) -> None:
        queue = client.queue
        proto = self.proto
        while True:
            item = await queue.get()
            parts: list[bytes] = []
            end: tuple[str, int] | None = None
            while True:
                if isinstance(item, bytes):
                    parts.append(item)
                else:
                    end = item
                    break
                if queue.empty():
                    break
                item = queue.get_nowait()
            if parts:
                data = b"".join(parts)
                proto.send(hw.frame(hw.DATA, data))
                client.got(data)
                await proto.drain()
            if end is not None:
                if end[0] == "exit":
                    proto.send(hw.frame(hw.EXIT, hw.CODE.pack(end[1])))
                self.close()
                return


def _take_lock(run: Path) -> int | None:
    fd = os.open(run / "host.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


async def serve(data_dir: Path, *, linger: float = LINGER) -> int:
    run = hw.run_dir(data_dir)
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    hw.check_private(run, kind="dir")
    lock = _take_lock(run)
    if lock is None:
        log.info("another session host holds %s", run)
        return 0
    path = hw.socket_path(data_dir)
    host = SessionHost(data_dir, linger=linger)
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.Protocol:
        conn = Connection(host)
        proto = conn.proto
        made = proto.connection_made

        def connection_made(transport: asyncio.BaseTransport) -> None:
            made(transport)
            conn.made()

        proto.connection_made = connection_made  # type: ignore[method-assign]
        return proto

    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket of a host that died: we hold the lock, so nobody listens on it
    old = os.umask(0o177)  # the socket is created 0600: never a moment when another user could connect
    try:
        with hw.address(path) as addr:
            server = await loop.create_unix_server(factory, path=addr)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    inode = os.stat(path).st_ino
    hw.pid_path(data_dir).write_text(str(os.getpid()))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, host.stop)
    log.info("session host %d listening on %s", os.getpid(), path)
    try:

        def still_ours() -> bool:
            try:
                return os.stat(path).st_ino == inode
            except OSError:
                return False

        await host.run_until_empty(still_ours)
    finally:
        server.close()
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:
                path.unlink()
        with contextlib.suppress(OSError):
            hw.pid_path(data_dir).unlink()
        await host.close()
        os.close(lock)
        log.info("session host %d exits", os.getpid())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.local.session_host")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--linger", type=float, default=LINGER)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal that started the app going away is no reason
    logging.basicConfig(
        filename=str(args.data_dir / "sandbench.log"),
        level=logging.INFO,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    try:
        return asyncio.run(serve(args.data_dir, linger=args.linger))
    except SandbenchError as exc:
        log.error("session host: %s", exc.message)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""PTY sessions of `sandbench serve`, spoken in the SDK's WebSocket protocol (daytona-wire.md §5.3).

A session lives in the server, not in a connection: the shell keeps running when its client disconnects, recent
output is kept (a bounded buffer per session), and a client that connects again gets that output replayed and
then the live stream. Every attached client has its own queue, so one slow client never reorders another's
output, and the replay and the live stream cannot interleave.

Frames: a TEXT `{"type":"control","status":"connected"}` first, PTY output as BINARY only (a JSON-looking TEXT
frame would kill the SDK's reader), input arrives BINARY; on exit, every queued byte, then the `exited` control
message, then a close with code 1000/1011 and `{"exitCode":N}` as the reason.

Lifetime: a session with no client attached is ended after `ServeLimits.pty_idle_timeout` (a client that
reattaches in time cancels that), and each identity may hold at most `pty_max_sessions` live sessions; past it a
create is refused with the SDK's error control message, which it raises with the text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from services.errors import InvalidInput, SandbenchError
from services.server import wire
from services.server.app import json_body, service_of
from services.server.limits import ServeLimits
from services.terminal import TerminalSession

log = logging.getLogger(__name__)

EXIT_CONTROL = "X-Daytona-Pty-Exit-Control"
ENVS_PREFIX = "X-Daytona-Pty-Envs~"
REPLAY_BYTES = 256 * 1024  # recent output kept per session for clients that reconnect
MAX_SIZE = 1000
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

_Item = bytes | tuple[str, int]  # output chunk, or ("exit", code) / ("drop", 0)
CLIENT_BACKLOG = 2 * 1024 * 1024  # bytes queued for one client before the shell is made to wait for it
STALL_LIMIT = 5.0  # seconds a client may hold the shell back before it is disconnected


class Client:
    """One attached WebSocket's queue, counting the bytes waiting in it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.backlog = 0
        self.drained = asyncio.Event()

    def put(self, item: _Item) -> None:
        if isinstance(item, bytes):
            self.backlog += len(item)
            self.drained.clear()
        self.queue.put_nowait(item)

    def got(self, item: _Item) -> None:
        if isinstance(item, bytes):
            self.backlog -= len(item)
            if self.backlog <= CLIENT_BACKLOG // 2:
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
    buffer: deque[bytes] = field(default_factory=deque)
    buffered: int = 0
    clients: set[Client] = field(default_factory=set)
    exit_code: int | None = None
    pump: asyncio.Task[None] | None = None
    owner: str = ""
    on_idle: Callable[[PtySession], None] | None = None  # the last client left (PtyManager starts the reap timer)
    idle_timer: asyncio.TimerHandle | None = None
    reaper: asyncio.Task[None] | None = None  # the kill started by the idle timer, kept so it is not collected

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cwd": self.cwd,
            "envs": self.envs,
            "cols": self.cols,
            "rows": self.rows,
            "createdAt": wire.iso(self.created_at),
            "active": self.exit_code is None,
            "lazyStart": False,
        }

    def _remember(self, chunk: bytes) -> None:
        self.buffer.append(chunk)
        self.buffered += len(chunk)
        while self.buffered > REPLAY_BYTES and len(self.buffer) > 1:
            self.buffered -= len(self.buffer.popleft())

    def attach(self) -> Client:
        """A queue for one client, primed with the recent output; no await in here, so nothing slips between."""
        c = Client()
        if self.idle_timer is not None:  # a client is back in time: the session stays
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.buffer:
            c.put(b"".join(self.buffer))
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

    async def _keep_pace(self) -> None:
        """Back-pressure: a client far behind makes the pump wait (so the PTY's own flow control slows the
        program, instead of memory growing); one stalled for too long is disconnected and can reconnect."""
        for c in [c for c in self.clients if c.backlog > CLIENT_BACKLOG]:
            try:
                await asyncio.wait_for(c.drained.wait(), STALL_LIMIT)
            except TimeoutError:
                self.clients.discard(c)
                c.put(("drop", 0))
                self.check_idle()

    async def run_pump(self, on_exit: Any) -> None:
        try:
            async for chunk in self.terminal.output():
                self._remember(chunk)
                for c in list(self.clients):
                    c.put(chunk)
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
    def __init__(self, limits: ServeLimits | None = None) -> None:
        self._sessions: dict[tuple[str, str], PtySession] = {}
        self.limits = limits or ServeLimits()

    def count(self, owner: str) -> int:
        return sum(1 for s in self._sessions.values() if s.owner == owner)

    def full_message(self, owner: str) -> str | None:
        """Why `owner` may not open another session, or None when it may."""
        cap = self.limits.pty_max_sessions
        if self.count(owner) < cap:
            return None
        return (
            f"too many PTY sessions: {cap} are open for this token, the limit; kill one "
            "(or raise sandbench serve --pty-max-sessions)"
        )

    def _idle(self, session: PtySession) -> None:
        loop = asyncio.get_running_loop()
        session.idle_timer = loop.call_later(self.limits.pty_idle_timeout, self._reap, session)

    def _reap(self, session: PtySession) -> None:
        session.idle_timer = None
        if session.clients or self._sessions.get((session.sandbox_id, session.id)) is not session:
            return
        log.info(
            "pty %s in sandbox %s had no client for %g s: ended",
            session.id,
            session.sandbox_id,
            self.limits.pty_idle_timeout,
        )
        session.reaper = asyncio.ensure_future(self.kill(session))

    def get(self, sandbox_id: str, pty_id: str) -> PtySession | None:
        return self._sessions.get((sandbox_id, pty_id))

    def list(self, sandbox_id: str) -> list[PtySession]:
        return [s for (sb, _), s in self._sessions.items() if sb == sandbox_id]

    def add(self, session: PtySession) -> None:
        self._sessions[(session.sandbox_id, session.id)] = session
        session.on_idle = self._idle
        session.check_idle()  # no client yet: one that never completes its upgrade must not pin the session
        session.pump = asyncio.ensure_future(session.run_pump(self._ended))

    def _ended(self, session: PtySession) -> None:
        if session.idle_timer is not None:
            session.idle_timer.cancel()
            session.idle_timer = None
        if self._sessions.get((session.sandbox_id, session.id)) is session:
            del self._sessions[(session.sandbox_id, session.id)]

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


def manager(request: web.Request) -> PtyManager:
    from services.server.app import state_of

    return state_of(request).ptys


def exit_reason(code: int) -> str | None:
    if code == 0:
        return None
    return {130: "Ctrl+C", 137: "SIGKILL", 143: "SIGTERM"}.get(code) or (
        f"signal {code - 128}" if code > 128 else "non-zero exit"
    )


def _envs_from_protocols(header: str) -> dict[str, str]:
    for proto in (p.strip() for p in header.split(",")):
        if proto.startswith(ENVS_PREFIX):
            token = proto[len(ENVS_PREFIX) :]
            try:
                data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            except (binascii.Error, ValueError) as exc:
                raise InvalidInput("bad PTY envs token") from exc
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise InvalidInput("PTY envs must map strings to strings")
            return data
    return {}


def _size(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_SIZE:
        raise InvalidInput(f"terminal size must be 1-{MAX_SIZE}")
    return int(value)


async def _serve(request: web.Request, session: PtySession | None, error: str | None = None) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=(EXIT_CONTROL,), max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    if session is None:
        await ws.send_str(json.dumps({"type": "control", "status": "error", "error": error or "not found"}))
        await ws.close(code=1011, message=(error or "not found").encode()[:120])
        return ws
    await ws.send_str(json.dumps({"type": "control", "status": "connected"}))
    client = session.attach()
    queue = client.queue

    async def send_exit(code: int) -> None:
        msg: dict[str, Any] = {"type": "control", "status": "exited", "exitCode": code}
        reason: dict[str, Any] = {"exitCode": code}
        if (why := exit_reason(code)) is not None:
            msg["exitReason"] = reason["exitReason"] = why
        await ws.send_str(json.dumps(msg))
        await ws.close(code=1000 if code == 0 else 1011, message=json.dumps(reason).encode()[:123])

    async def finish(item: tuple[str, int]) -> None:
        if item[0] == "drop":
            await ws.close(code=1011, message=b"client too slow; reconnect to resume")
        else:
            await send_exit(item[1])

    async def writer() -> None:
        while True:
            item = await queue.get()
            if not isinstance(item, bytes):
                await finish(item)
                return
            # coalesce what is already queued: fewer, larger frames under bursts of output
            parts: list[bytes] = [item]
            ended: tuple[str, int] | None = None
            while not queue.empty():
                nxt = queue.get_nowait()
                if not isinstance(nxt, bytes):
                    ended = nxt
                    break
                parts.append(nxt)
            data = b"".join(parts)
            await ws.send_bytes(data)
            client.got(data)
            if ended is not None:
                await finish(ended)
                return

    write_task = asyncio.ensure_future(writer())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await session.terminal.write(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await session.terminal.write(msg.data.encode())
            elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
            if write_task.done():
                break
    finally:
        session.detach(client)
        if not write_task.done():
            write_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, Exception):
            await write_task
    return ws


async def create_connect(request: web.Request) -> web.StreamResponse:
    sandbox_id = request.match_info["sid"]
    svc = service_of(request)
    pty_id = request.query.get("id", "")
    if not ID_RE.match(pty_id):
        raise InvalidInput("a PTY session id is 1-128 letters, digits, '.', '_' or '-'")
    cols, rows = _size(request.query.get("cols"), 80), _size(request.query.get("rows"), 24)
    cwd_rel, _ = wire.workspace_path(request.query.get("cwd"))
    envs = _envs_from_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
    mgr = manager(request)
    owner: str = request["identity"]
    await svc.ensure_running(sandbox_id)  # ownership before anything, so ids in others' sandboxes reveal nothing
    if mgr.get(sandbox_id, pty_id) is not None:
        return wire.error_response(409, f"PTY session {pty_id!r} already exists", "CONFLICT", request)
    # refused after the upgrade: the SDK raises the error control message's text, but only a status for a non-101
    if (full := mgr.full_message(owner)) is not None:
        return await _serve(request, None, full)
    from services.server.app import state_of

    env = {"TERM": "xterm-256color", **state_of(request).env.merged(sandbox_id, envs)}
    terminal = await svc.open_terminal(sandbox_id, cols, rows, cwd=cwd_rel, env=env)
    if mgr.get(sandbox_id, pty_id) is not None:  # lost a race with a concurrent create of the same id
        await terminal.close()
        return wire.error_response(409, f"PTY session {pty_id!r} already exists", "CONFLICT", request)
    if (full := mgr.full_message(owner)) is not None:  # lost a race with concurrent creates
        await terminal.close()
        return await _serve(request, None, full)
    cwd_abs = wire.to_sandbox_path(cwd_rel, wire.HOME)
    session = PtySession(pty_id, sandbox_id, terminal, cwd_abs, envs, cols, rows, owner=owner)
    mgr.add(session)
    return await _serve(request, session)


async def _owned_session(request: web.Request) -> PtySession | None:
    sandbox_id = request.match_info["sid"]
    # ownership first (404 for others' sandboxes); `get`, not `ensure_running`: looking must not start a sandbox
    await service_of(request).get(sandbox_id)
    return manager(request).get(sandbox_id, request.match_info["pid"])


async def connect(request: web.Request) -> web.StreamResponse:
    try:
        session = await _owned_session(request)
    except SandbenchError as exc:
        return await _serve(request, None, exc.public)
    return await _serve(request, session, None if session else f"PTY session {request.match_info['pid']!r} not found")


async def list_sessions(request: web.Request) -> web.Response:
    sandbox_id = request.match_info["sid"]
    await service_of(request).get(sandbox_id)
    return wire.json_response({"sessions": [s.info() for s in manager(request).list(sandbox_id)]})


async def session_info(request: web.Request) -> web.Response:
    session = await _owned_session(request)
    if session is None:
        return wire.error_response(404, "PTY session not found", "PROCESS_NOT_FOUND", request)
    return wire.json_response(session.info())


async def resize(request: web.Request) -> web.Response:
    session = await _owned_session(request)
    if session is None:
        return wire.error_response(404, "PTY session not found", "PROCESS_NOT_FOUND", request)
    if session.exit_code is not None:
        return wire.error_response(410, "PTY session has ended", "SESSION_ENDED", request)
    body = await json_body(request)
    cols, rows = body.get("cols", session.cols), body.get("rows", session.rows)
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE for v in (cols, rows)):
        raise InvalidInput(f"terminal size must be 1-{MAX_SIZE}")
    await session.terminal.resize(cols, rows)
    session.cols, session.rows = cols, rows
    return wire.json_response(session.info())


async def kill(request: web.Request) -> web.Response:
    session = await _owned_session(request)
    if session is None:
        return wire.error_response(404, "PTY session not found", "PROCESS_NOT_FOUND", request)
    await manager(request).kill(session)
    return wire.json_response({"message": "PTY session deleted"})


def add_routes(app: web.Application, base: str) -> None:
    r = app.router
    r.add_get(f"{base}/process/pty", list_sessions)
    r.add_get(f"{base}/process/pty/create-connect", create_connect)
    r.add_get(f"{base}/process/pty/{{pid}}/connect", connect)
    r.add_get(f"{base}/process/pty/{{pid}}", session_info)
    r.add_post(f"{base}/process/pty/{{pid}}/resize", resize)
    r.add_delete(f"{base}/process/pty/{{pid}}", kill)

"""PTY sessions of `sandbench serve`, spoken in the SDK's WebSocket protocol (daytona-wire.md §5.3).

A session lives in the server, not in a connection: the shell keeps running when its client disconnects, recent
output is kept (a bounded buffer per session), and a client that connects again gets that output replayed and
then the live stream. That part (sessions, replay, per-client queues, back-pressure) is `services/pty_sessions.py`,
shared with the local session host; this module is the WebSocket protocol around it.

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
from typing import Any

from aiohttp import WSMsgType, web

from services import pty_sessions
from services.errors import InvalidInput, SandbenchError
from services.pty_sessions import PtySession
from services.server import wire
from services.server.context import identity_of, json_body, prepared_socket, service_of, state_of
from services.server.limits import ServeLimits
from services.terminal import foreground_program

log = logging.getLogger(__name__)

EXIT_CONTROL = "X-Daytona-Pty-Exit-Control"
ENVS_PREFIX = "X-Daytona-Pty-Envs~"
MAX_SIZE = 1000
FOREGROUND_FIELD = "sandbenchForeground"  # as services/daytona/terminal.py reads it
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def info_of(session: PtySession) -> dict[str, Any]:
    """A session as the SDK's `PtySessionInfo` reads it."""
    return {
        "id": session.id,
        "cwd": session.cwd,
        "envs": session.envs,
        "cols": session.cols,
        "rows": session.rows,
        "createdAt": wire.iso(session.created_at),
        "active": session.exit_code is None,
        "lazyStart": False,
        # an addition of serve's (the SDK keeps it in `additional_properties`): the program in the shell's
        # foreground, "" while the shell has it, so a client can ask before closing a tab that runs one
        FOREGROUND_FIELD: (foreground_program(session.terminal) or "") if session.exit_code is None else "",
    }


class PtyManager(pty_sessions.PtyManager):
    """serve's sessions: a detached one is ended after `pty_idle_timeout`, an identity holds at most
    `pty_max_sessions`."""

    def __init__(self, limits: ServeLimits | None = None) -> None:
        self.limits = limits or ServeLimits()
        super().__init__(idle_timeout=self.limits.pty_idle_timeout)

    def full_message(self, owner: str) -> str | None:
        """Why `owner` may not open another session, or None when it may."""
        cap = self.limits.pty_max_sessions
        if self.count(owner) < cap:
            return None
        return (
            f"too many PTY sessions: {cap} are open for this owner, the limit; kill one "
            "(or raise sandbench serve --pty-max-sessions)"
        )


MANAGER_KEY: web.AppKey[PtyManager] = web.AppKey("sandbench_ptys")  # set by build_app


def manager(request: web.Request) -> PtyManager:
    return request.app[MANAGER_KEY]


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
    ws = await prepared_socket(request, web.WebSocketResponse(protocols=(EXIT_CONTROL,), max_msg_size=4 * 1024 * 1024))
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
                await session.write(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await session.write(msg.data.encode())
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


class PtyExists(SandbenchError):
    title = "PTY session exists"
    http_status = 409
    http_code = "CONFLICT"


async def start_session(
    request: web.Request, pty_id: str, cols: int, rows: int, cwd: str | None, envs: dict[str, str]
) -> PtySession | str:
    """A new PTY session `pty_id` in the request's sandbox, its shell started; or why the identity may not open
    another (the caller says so its own way). Raises PtyExists for an id in use."""
    sandbox_id = request.match_info["sid"]
    svc = service_of(request)
    if not ID_RE.match(pty_id):
        raise InvalidInput("a PTY session id is 1-128 letters, digits, '.', '_' or '-'")
    cwd_rel, _ = wire.workspace_path(cwd)
    mgr = manager(request)
    owner = identity_of(request)
    await svc.ensure_running(sandbox_id)  # ownership before anything, so ids in others' sandboxes reveal nothing
    if mgr.get(sandbox_id, pty_id) is not None:
        raise PtyExists(f"PTY session {pty_id!r} already exists")
    if (full := mgr.full_message(owner)) is not None:
        return full
    env = {"TERM": "xterm-256color", **state_of(request).env.merged(sandbox_id, envs)}
    terminal = await svc.open_terminal(sandbox_id, cols, rows, cwd=cwd_rel, env=env)
    if mgr.get(sandbox_id, pty_id) is not None:  # lost a race with a concurrent create of the same id
        await terminal.close()
        raise PtyExists(f"PTY session {pty_id!r} already exists")
    if (full := mgr.full_message(owner)) is not None:  # lost a race with concurrent creates
        await terminal.close()
        return full
    cwd_abs = wire.to_sandbox_path(cwd_rel, wire.HOME)
    session = PtySession(pty_id, sandbox_id, terminal, cwd_abs, envs, cols, rows, owner=owner)
    mgr.add(session)
    return session


async def create_connect(request: web.Request) -> web.StreamResponse:
    cols, rows = _size(request.query.get("cols"), 80), _size(request.query.get("rows"), 24)
    envs = _envs_from_protocols(request.headers.get("Sec-WebSocket-Protocol", ""))
    try:
        started = await start_session(request, request.query.get("id", ""), cols, rows, request.query.get("cwd"), envs)
    except PtyExists as exc:
        return wire.error_response(409, exc.message, "CONFLICT", request)
    # refused after the upgrade: the SDK raises the error control message's text, but only a status for a non-101
    if isinstance(started, str):
        return await _serve(request, None, started)
    return await _serve(request, started)


async def create(request: web.Request) -> web.Response:
    """`POST .../process/pty` (SDK 0.190 and the generated client's `create_pty_session`): the session starts now,
    answered 201 `{"sessionId"}`; the client then connects with `.../process/pty/{id}/connect`. Until it does, the
    session counts as detached (ended after `pty_idle_timeout`), and its output is kept for the replay."""
    body = await json_body(request)
    pty_id = body.get("id")
    cwd, envs = body.get("cwd"), body.get("envs") or {}
    if not isinstance(pty_id, str):
        raise InvalidInput("a PTY session needs an id")
    if cwd is not None and not isinstance(cwd, str):
        raise InvalidInput("cwd must be a string")
    if not isinstance(envs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in envs.items()):
        raise InvalidInput("PTY envs must map strings to strings")
    size = []
    for key, default in (("cols", 80), ("rows", 24)):
        value = body.get(key, default)
        value = default if value is None else value
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIZE:
            raise InvalidInput(f"terminal size must be 1-{MAX_SIZE}")
        size.append(value)
    started = await start_session(request, pty_id, size[0], size[1], cwd, envs)
    if isinstance(started, str):
        return wire.error_response(429, started, "TOO_MANY_SESSIONS", request)
    return wire.json_response({"sessionId": started.id}, status=201)


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
    return wire.json_response({"sessions": [info_of(s) for s in manager(request).list(sandbox_id)]})


async def session_info(request: web.Request) -> web.Response:
    session = await _owned_session(request)
    if session is None:
        return wire.error_response(404, "PTY session not found", "PROCESS_NOT_FOUND", request)
    return wire.json_response(info_of(session))


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
    await session.resize(cols, rows)
    return wire.json_response(info_of(session))


async def kill(request: web.Request) -> web.Response:
    session = await _owned_session(request)
    if session is None:
        return wire.error_response(404, "PTY session not found", "PROCESS_NOT_FOUND", request)
    await manager(request).kill(session)
    return wire.json_response({"message": "PTY session deleted"})


def add_routes(app: web.Application, base: str) -> None:
    r = app.router
    r.add_get(f"{base}/process/pty", list_sessions)
    r.add_post(f"{base}/process/pty", create)
    r.add_get(f"{base}/process/pty/create-connect", create_connect)
    r.add_get(f"{base}/process/pty/{{pid}}/connect", connect)
    r.add_get(f"{base}/process/pty/{{pid}}", session_info)
    r.add_post(f"{base}/process/pty/{{pid}}/resize", resize)
    r.add_delete(f"{base}/process/pty/{{pid}}", kill)

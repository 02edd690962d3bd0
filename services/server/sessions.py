"""Process sessions of `sandbench serve` (daytona-wire.md §5.2): named shells whose commands share a working
directory and exported variables, with per-command logs, exit codes, and streaming log follow.

A Daytona session is one long-lived shell. Here each command is its own sandboxed process (the provider's exec),
and a constant script carries the shell's state from one command to the next: it enters the previous command's
directory, re-exports its variables, runs the client's command, and prints a random marker followed by the new
`pwd` and `export -p`, which the server strips from the output and keeps. `cd` and `export` therefore persist
across commands; shell functions, aliases and unexported variables do not. Commands of one session run one at a
time, in order, as in a shell. A command run asynchronously reads its stdin from a pipe that stays open while it
runs: `…/command/{id}/input` writes to it (echoed into the command's output unless it was run with
`suppressInputEcho`, as Daytona's sessions do). A synchronous command's stdin is empty, as before: nobody could type
into it while the request waits.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from services.errors import InvalidInput, SandbenchError
from services.sandbox_service import SandboxService
from services.server import wire
from services.server.app import json_body, service_of, state_of

log = logging.getLogger(__name__)

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_LOG = 8 * 1024 * 1024  # per stream per command: the rest is dropped, with a note
MAX_INPUT_PENDING = 1024 * 1024  # bytes of input sent to a command that has not read it yet
STDOUT_MARK, STDERR_MARK = b"\x01\x01\x01", b"\x02\x02\x02"
# The client's command arrives in $SB_CMD and the saved state in $SB_CWD/$SB_EXPORTS: data, never spliced into
# this script. It runs under the sandbox's shell.
SCRIPT = r"""
cd -- "$SB_CWD" 2>/dev/null || cd
eval "$SB_EXPORTS"
__sb_mark=$SB_MARK
unset SB_CWD SB_EXPORTS SB_MARK
eval "$SB_CMD"
__sb_rc=$?
unset SB_CMD
printf '%s' "$__sb_mark"
pwd
printf '\000'
export -p
exit $__sb_rc
"""
WRAPPER = 'exec "${SHELL:-/bin/sh}" -c "$0"'


@dataclass(eq=False)
class Command:
    id: str
    command: str
    exit_code: int | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    output: bytearray = field(default_factory=bytearray)
    listeners: set[asyncio.Queue[tuple[bytes, bytes] | None]] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    input: CommandInput | None = None

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "command": self.command}
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        return out

    def emit(self, which: bytes, data: bytes) -> None:
        buf = self.stdout if which == STDOUT_MARK else self.stderr
        room = MAX_LOG - len(buf)
        if room <= 0:
            return
        data = data[:room]
        buf += data
        self.output += data
        for q in list(self.listeners):
            q.put_nowait((which, data))

    def finish(self, code: int) -> None:
        self.exit_code = code
        for q in list(self.listeners):
            q.put_nowait(None)
        self.listeners.clear()
        self.done.set()


class CommandInput:
    """The open stdin of a running command: chunks queued by the input route, read by the provider's exec."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.pending = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()

    def send(self, data: bytes) -> None:
        if self.pending + len(data) > MAX_INPUT_PENDING:
            raise _InputFull(f"the command has not read the {self.pending} bytes of input sent before; try again")
        self.pending += len(data)
        self._queue.put_nowait(data)

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            data = await self._queue.get()
            self.pending -= len(data)
            yield data


@dataclass(eq=False)
class Session:
    id: str
    sandbox_id: str
    cwd: str = wire.HOME
    exports: str = ""
    commands: dict[str, Command] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def info(self) -> dict[str, Any]:
        return {"sessionId": self.id, "commands": [c.info() for c in self.commands.values()]}


class _StdoutFilter:
    """Forward stdout as it comes, except the state trailer after the marker: hold back just enough bytes that a
    marker split across chunks is never forwarded, and keep everything after it."""

    def __init__(self, mark: bytes, cmd: Command):
        self.mark = mark
        self.cmd = cmd
        self.pending = b""
        self.trailer: bytearray | None = None

    def feed(self, data: bytes) -> None:
        if self.trailer is not None:
            self.trailer += data
            return
        buf = self.pending + data
        at = buf.find(self.mark)
        if at >= 0:
            if at:
                self.cmd.emit(STDOUT_MARK, buf[:at])
            self.trailer = bytearray(buf[at + len(self.mark) :])
            self.pending = b""
            return
        # hold back only a tail that could be the start of the marker, so short interactive output (a prompt, an
        # answer to input) is forwarded at once
        keep = next((n for n in range(min(len(buf), len(self.mark) - 1), 0, -1) if self.mark.startswith(buf[-n:])), 0)
        if len(buf) > keep:
            self.cmd.emit(STDOUT_MARK, buf[: len(buf) - keep])
        self.pending = buf[len(buf) - keep :]

    def close(self) -> None:
        if self.pending and self.trailer is None:
            self.cmd.emit(STDOUT_MARK, self.pending)
        self.pending = b""


class SessionManager:
    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str], Session] = {}

    def get(self, sandbox_id: str, session_id: str) -> Session:
        s = self._sessions.get((sandbox_id, session_id))
        if s is None:
            raise _NotFound(f"session {session_id!r} not found")
        return s

    def create(self, sandbox_id: str, session_id: str) -> Session:
        if not ID_RE.match(session_id):
            raise InvalidInput("a session id is 1-128 letters, digits, '.', '_' or '-'")
        if (sandbox_id, session_id) in self._sessions:
            raise _Exists(f"session {session_id!r} already exists")
        s = Session(session_id, sandbox_id)
        self._sessions[(sandbox_id, session_id)] = s
        return s

    def list(self, sandbox_id: str) -> list[Session]:
        return [s for (sb, _), s in self._sessions.items() if sb == sandbox_id]

    async def delete(self, sandbox_id: str, session_id: str) -> None:
        s = self.get(sandbox_id, session_id)
        del self._sessions[(sandbox_id, session_id)]
        for cmd in s.commands.values():
            if cmd.task is not None and not cmd.task.done():
                cmd.task.cancel()  # cancelling the exec kills its process (the provider's contract)

    async def close_all(self) -> None:
        for sandbox_id, session_id in list(self._sessions):
            await self.delete(sandbox_id, session_id)


class _NotFound(SandbenchError):
    http_status, http_code = 404, "PROCESS_NOT_FOUND"


class _Exists(SandbenchError):
    http_status, http_code = 409, "CONFLICT"


class _Completed(SandbenchError):
    http_status, http_code = 410, "COMMAND_ALREADY_COMPLETED"


class _InputFull(SandbenchError):
    http_status, http_code = 429, "INPUT_BACKLOG"


def manager(request: web.Request) -> SessionManager:
    return state_of(request).sessions


async def _run(svc: SandboxService, session: Session, cmd: Command, base_env: dict[str, str]) -> None:
    async with session.lock:
        mark = secrets.token_hex(16).encode()
        out = _StdoutFilter(mark, cmd)

        def on_output(stream: str, data: bytes) -> None:
            if stream == "stdout":
                out.feed(data)
            else:
                cmd.emit(STDERR_MARK, data)

        env = {
            **base_env,
            "SB_CMD": cmd.command,
            "SB_CWD": session.cwd,
            "SB_EXPORTS": session.exports,
            "SB_MARK": mark.decode(),
        }
        try:
            stdin = cmd.input.chunks() if cmd.input is not None else None
            result = await svc.exec(
                session.sandbox_id, ["/bin/sh", "-c", WRAPPER, SCRIPT], env=env, stdin=stdin, on_output=on_output
            )
        except SandbenchError as exc:
            cmd.emit(STDERR_MARK, f"sandbench: {exc.message}\n".encode())
            cmd.finish(-1)
            return
        except Exception:
            log.exception("session command failed")
            cmd.finish(-1)
            raise
        out.close()
        if out.trailer is not None:
            cwd, _, exports = bytes(out.trailer).partition(b"\x00")
            session.cwd = cwd.decode("utf-8", "surrogateescape").strip() or session.cwd
            session.exports = exports.decode("utf-8", "surrogateescape")
        cmd.finish(result.exit_code)


def _text(data: bytearray) -> str:
    return bytes(data).decode("utf-8", "surrogateescape")


# -- handlers ---------------------------------------------------------------------------------------------------
async def create_session(request: web.Request) -> web.Response:
    sandbox_id = request.match_info["sid"]
    await service_of(request).ensure_running(sandbox_id)
    body = await json_body(request)
    session_id = body.get("sessionId")
    if not isinstance(session_id, str):
        raise InvalidInput("sessionId is required")
    manager(request).create(sandbox_id, session_id)
    return web.Response(status=201)


async def list_sessions(request: web.Request) -> web.Response:
    sandbox_id = request.match_info["sid"]
    await service_of(request).get(sandbox_id)
    return wire.json_response([s.info() for s in manager(request).list(sandbox_id)])


async def _session(request: web.Request) -> Session:
    sandbox_id = request.match_info["sid"]
    await service_of(request).get(sandbox_id)  # ownership first; looking must not start a sandbox
    return manager(request).get(sandbox_id, request.match_info["session"])


async def get_session(request: web.Request) -> web.Response:
    return wire.json_response((await _session(request)).info())


async def delete_session(request: web.Request) -> web.Response:
    session = await _session(request)
    await manager(request).delete(session.sandbox_id, session.id)
    return web.Response(status=204)


async def execute(request: web.Request) -> web.Response:
    session = await _session(request)
    body = await json_body(request)
    command = body.get("command")
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput("command must be a non-empty string")
    run_async = bool(body.get("runAsync") or body.get("async"))
    cmd = Command(secrets.token_hex(8), command)
    if run_async:
        cmd.input = CommandInput(echo=not body.get("suppressInputEcho"))
    session.commands[cmd.id] = cmd
    base_env = state_of(request).env.get(session.sandbox_id)  # the sandbox's env_vars under every command
    cmd.task = asyncio.ensure_future(_run(service_of(request), session, cmd, base_env))
    if run_async:
        return wire.json_response({"cmdId": cmd.id}, status=202)
    await asyncio.shield(cmd.done.wait())
    return wire.json_response(
        {
            "cmdId": cmd.id,
            "output": _text(cmd.output),
            "stdout": _text(cmd.stdout),
            "stderr": _text(cmd.stderr),
            "exitCode": cmd.exit_code,
        }
    )


def _command(session: Session, request: web.Request) -> Command:
    cmd = session.commands.get(request.match_info["cmd"])
    if cmd is None:
        raise _NotFound(f"command {request.match_info['cmd']!r} not found")
    return cmd


async def get_command(request: web.Request) -> web.Response:
    return wire.json_response(_command(await _session(request), request).info())


async def command_logs(request: web.Request) -> web.StreamResponse:
    cmd = _command(await _session(request), request)
    if request.query.get("follow", "").lower() != "true":
        return wire.json_response(
            {"output": _text(cmd.output), "stdout": _text(cmd.stdout), "stderr": _text(cmd.stderr)}
        )
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    queue: asyncio.Queue[tuple[bytes, bytes] | None] = asyncio.Queue()
    # what is already there, then the live stream; no await in between, so nothing is lost or doubled
    if cmd.stdout:
        queue.put_nowait((STDOUT_MARK, bytes(cmd.stdout)))
    if cmd.stderr:
        queue.put_nowait((STDERR_MARK, bytes(cmd.stderr)))
    if cmd.done.is_set():
        queue.put_nowait(None)
    else:
        cmd.listeners.add(queue)
    try:
        while (item := await queue.get()) is not None:
            await ws.send_bytes(item[0] + item[1])
        await ws.close(code=1000)
    except (ConnectionError, RuntimeError):
        pass
    finally:
        cmd.listeners.discard(queue)
    return ws


async def command_input(request: web.Request) -> web.Response:
    cmd = _command(await _session(request), request)
    body = await json_body(request)
    data = body.get("data")
    if not isinstance(data, str):
        raise InvalidInput("data must be a string")
    if cmd.done.is_set():
        raise _Completed(f"command {cmd.id!r} has already completed")
    if cmd.input is None:
        raise InvalidInput("input goes to commands run asynchronously (run_async=True)")
    raw = data.encode("utf-8", "surrogateescape")
    cmd.input.send(raw)
    if cmd.input.echo:
        cmd.emit(STDOUT_MARK, raw)
    return web.Response(status=204)


def add_routes(app: web.Application, base: str) -> None:
    r = app.router
    s = f"{base}/process/session"
    r.add_post(s, create_session)
    r.add_get(s, list_sessions)
    r.add_get(f"{s}/{{session}}", get_session)
    r.add_delete(f"{s}/{{session}}", delete_session)
    r.add_post(f"{s}/{{session}}/exec", execute)
    r.add_get(f"{s}/{{session}}/command/{{cmd}}", get_command)
    r.add_get(f"{s}/{{session}}/command/{{cmd}}/logs", command_logs)
    r.add_post(f"{s}/{{session}}/command/{{cmd}}/input", command_input)

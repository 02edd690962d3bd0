"""Process sessions of `sandbench serve` (daytona-wire.md §5.2): named shells whose commands share a working
directory and exported variables, with per-command logs, exit codes, and streaming log follow.

A Daytona session is one long-lived shell. Here each command is its own sandboxed process (the provider's exec),
and a constant script carries the shell's state from one command to the next: it enters the previous command's
directory, re-exports its variables, runs the client's command, and prints a random marker followed by the new
`pwd` and `export -p`, which the server strips from the output and keeps. `cd` and `export` therefore persist
across commands; shell functions, aliases and unexported variables do not. Commands of one session run one at a
time, in order, as in a shell. A command run asynchronously reads its stdin from a pipe that stays open while it
runs: `…/command/{id}/input` writes to it (echoed unless run with `suppressInputEcho`, as Daytona's sessions do).
A synchronous command's stdin is empty: nobody could type into it while the request waits.

Bounds (`ServeLimits`, README "serve"): sessions per identity; commands kept per session (the oldest finished one is
forgotten to make room; a session whose kept commands are all queued or running refuses another); bytes per stream
per command (`MAX_LOG`); log bytes per identity over all its sessions (the oldest finished commands are forgotten
first; past it, a running command's output is dropped with a note); the carried state (`STATE_MAX`); input not yet
read by its command (`MAX_INPUT_PENDING`). The logs are kept once, as the chunks that arrived: a log-follow client's
queue holds references to the same chunks, not copies, and an identity has at most `follow_max_streams` log-follow
WebSockets open. A session with nothing queued or running and no request for the idle timeout is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from services.errors import InvalidInput, NotSupported, SandbenchError
from services.sandbox_service import SandboxService
from services.server import wire
from services.server.context import identity_of, json_body, prepared_socket, service_of, state_of
from services.server.limits import MiB, OverLimit, ServeLimits

log = logging.getLogger(__name__)

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_LOG = 8 * 1024 * 1024  # per stream per command: the rest is dropped, with a note
STATE_MAX = 256 * 1024  # bytes of `pwd` + `export -p` carried to the next command (the kernel takes 128 KiB per var)
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
_Chunk = tuple[bytes, bytes]  # (STDOUT_MARK or STDERR_MARK, data)
CHUNK_COST = 128  # bytes a kept chunk costs beyond its data (the objects around it), counted against the bounds
MERGE = 64 * 1024  # consecutive output of one stream is kept in chunks up to this size


@dataclass(eq=False)
class Command:
    id: str
    command: str
    # whether n more bytes may be kept (the identity's log budget); never once the command is forgotten
    reserve: Callable[[int], bool] = lambda n: True
    exit_code: int | None = None
    chunks: list[_Chunk] = field(default_factory=list)  # sealed: shared as they are with log followers
    tail: tuple[bytes, bytearray] | None = None  # the chunk still growing
    sizes: dict[bytes, int] = field(default_factory=lambda: {STDOUT_MARK: 0, STDERR_MARK: 0})
    kept: int = 0  # bytes counted against the identity's budget (the command text included)
    cut: bool = False  # output was dropped for the budget (noted once; notes cost nothing)
    capped: set[bytes] = field(default_factory=set)  # streams past MAX_LOG
    listeners: set[asyncio.Queue[_Chunk | None]] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    input: CommandInput | None = None

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "command": self.command}
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        return out

    def text(self, which: bytes | None = None) -> str:
        parts: list[tuple[bytes, bytes | bytearray]] = [*self.chunks, *([self.tail] if self.tail else [])]
        data = b"".join(c for w, c in parts if which is None or w == which)
        return data.decode("utf-8", "surrogateescape")

    def sealed(self) -> list[_Chunk]:
        """Every chunk kept so far, none still growing: what a new log follower is sent first."""
        if self.tail is not None:
            self.chunks.append((self.tail[0], bytes(self.tail[1])))
            self.tail = None
        return list(self.chunks)

    def emit(self, which: bytes, data: bytes) -> None:
        """Keep `data` of stream `which` within MAX_LOG and the identity's budget, and pass it to followers."""
        if not data or which in self.capped:
            return
        room = MAX_LOG - self.sizes[which]
        over = len(data) > room
        if over:
            data = data[: max(0, room)]
        if data:
            cost = len(data) + (0 if self._merges(which, data) else CHUNK_COST)
            if self.reserve(cost):
                self._keep(which, data, cost)
            elif not self.cut:
                self.cut = True
                note = b"\n[sandbench serve: output dropped, this owner's session log budget is full]\n"
                self._keep(which, note, 0)
        if over:
            self.capped.add(which)
            self._keep(which, f"\n[sandbench serve: output past {MAX_LOG // MiB} MiB dropped]\n".encode(), 0)

    def _merges(self, which: bytes, data: bytes) -> bool:
        return self.tail is not None and self.tail[0] == which and len(self.tail[1]) + len(data) <= MERGE

    def _keep(self, which: bytes, data: bytes, cost: int) -> None:
        # many small writes become one chunk of up to MERGE bytes: a log of single bytes costs what its bytes do
        if self.tail is not None and self._merges(which, data):
            self.tail[1].extend(data)
        else:
            self.sealed()
            self.tail = (which, bytearray(data))
        self.sizes[which] += cost
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
    owner: str = ""
    cwd: str = wire.HOME
    exports: str = ""
    commands: dict[str, Command] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)

    def info(self) -> dict[str, Any]:
        return {"sessionId": self.id, "commands": [c.info() for c in self.commands.values()]}

    def busy(self) -> bool:
        return any(not c.done.is_set() for c in self.commands.values())


class _StdoutFilter:
    """Forward stdout as it comes, except the state trailer after the marker: hold back just enough bytes that a
    marker split across chunks is never forwarded, and keep everything after it."""

    def __init__(self, mark: bytes, cmd: Command):
        self.mark = mark
        self.cmd = cmd
        self.pending = b""
        self.trailer: bytearray | None = None
        self.overflow = False  # the trailer passed STATE_MAX: the state is not carried

    def feed(self, data: bytes) -> None:
        if self.trailer is not None:
            if len(self.trailer) + len(data) > STATE_MAX:
                self.overflow = True
            else:
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
    """The process sessions of every identity, and the bounds on them (module docstring)."""

    def __init__(self, limits: ServeLimits | None = None) -> None:
        self.limits = limits or ServeLimits()
        self._sessions: dict[tuple[str, str], Session] = {}
        self._used: dict[str, int] = {}  # log bytes kept, per identity
        self._finished: dict[str, dict[Command, Session]] = {}  # per identity, oldest finished first
        self._sweeper: asyncio.Task[None] | None = None
        self.following: dict[str, int] = {}  # log-follow WebSockets open, per identity

    def get(self, sandbox_id: str, session_id: str) -> Session:
        s = self._sessions.get((sandbox_id, session_id))
        if s is None:
            raise _NotFound(f"session {session_id!r} not found")
        s.last_used = time.monotonic()
        return s

    def count(self, owner: str) -> int:
        return sum(1 for s in self._sessions.values() if s.owner == owner)

    def used(self, owner: str) -> int:
        return self._used.get(owner, 0)

    def create(self, sandbox_id: str, session_id: str, owner: str = "") -> Session:
        if not ID_RE.match(session_id):
            raise InvalidInput("a session id is 1-128 letters, digits, '.', '_' or '-'")
        if (sandbox_id, session_id) in self._sessions:
            raise _Exists(f"session {session_id!r} already exists")
        cap = self.limits.session_max_sessions
        if self.count(owner) >= cap:
            raise OverLimit(
                f"too many process sessions: {cap} are open for this owner, the limit; delete one "
                "(or raise sandbench serve --session-max-sessions)"
            )
        s = Session(session_id, sandbox_id, owner)
        self._sessions[(sandbox_id, session_id)] = s
        self._start_sweeper()
        return s

    def new_command(self, session: Session, command: str) -> Command:
        """A command to run in `session`, room made for it by forgetting the session's oldest finished one."""
        cap = self.limits.session_max_commands
        if len(session.commands) >= cap:
            oldest = next((c for c in session.commands.values() if c.done.is_set()), None)
            if oldest is None:
                raise OverLimit(
                    f"too many commands in session {session.id!r}: {cap} are queued or running, the limit; wait "
                    "for one to finish (or raise sandbench serve --session-max-commands)"
                )
            self._forget(session, oldest)
        cmd = Command(secrets.token_hex(8), command)
        cmd.reserve = lambda n: self._reserve(session.owner, cmd, n)
        if not self._reserve(session.owner, cmd, len(command.encode("utf-8", "surrogateescape")) + CHUNK_COST):
            budget = self.limits.session_log_budget_bytes / MiB
            raise OverLimit(
                f"this owner's session logs are at their budget ({budget:g} MiB) with commands still running; "
                "wait for one to finish or delete a session (or raise sandbench serve --session-log-budget-mib)"
            )
        session.commands[cmd.id] = cmd
        return cmd

    def _reserve(self, owner: str, cmd: Command, n: int) -> bool:
        """Room for n more bytes of `cmd`'s log under the identity's budget, made by forgetting its oldest
        finished commands if need be; False if even that is not enough."""
        limit = self.limits.session_log_budget_bytes
        finished = self._finished.get(owner, {})
        while self.used(owner) + n > limit and finished:
            old, where = next(iter(finished.items()))
            self._forget(where, old)
        if self.used(owner) + n > limit:
            return False
        self._used[owner] = self.used(owner) + n
        cmd.kept += n
        return True

    def finished(self, session: Session, cmd: Command) -> None:
        session.last_used = time.monotonic()
        if session.commands.get(cmd.id) is cmd:
            self._finished.setdefault(session.owner, {})[cmd] = session

    def _forget(self, session: Session, cmd: Command) -> None:
        """Drop `cmd` and its log (a running one is not touched here: `delete` cancels it first)."""
        if session.commands.get(cmd.id) is cmd:
            del session.commands[cmd.id]
        self._finished.get(session.owner, {}).pop(cmd, None)
        self._used[session.owner] = self.used(session.owner) - cmd.kept
        cmd.kept = 0
        cmd.reserve = lambda n: False

    def list(self, sandbox_id: str) -> list[Session]:
        return [s for (sb, _), s in self._sessions.items() if sb == sandbox_id]

    async def delete(self, sandbox_id: str, session_id: str) -> None:
        s = self._sessions.pop((sandbox_id, session_id), None)
        if s is None:
            raise _NotFound(f"session {session_id!r} not found")
        for cmd in list(s.commands.values()):
            if cmd.task is not None and not cmd.task.done():
                cmd.task.cancel()  # cancelling the exec kills its process (the provider's contract)
            self._forget(s, cmd)

    async def forget_sandbox(self, sandbox_id: str) -> None:
        """The sandbox is stopping or going away: its sessions, and their running commands, go with it."""
        for s in self.list(sandbox_id):
            await self.delete(sandbox_id, s.id)

    def _start_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep())

    async def _sweep(self) -> None:
        timeout = self.limits.session_idle_timeout
        while self._sessions:
            await asyncio.sleep(min(30.0, timeout / 4))
            now = time.monotonic()
            for s in list(self._sessions.values()):
                if not s.busy() and now - s.last_used > timeout:
                    log.info("process session %s in sandbox %s unused for %g s: deleted", s.id, s.sandbox_id, timeout)
                    with contextlib.suppress(_NotFound):
                        await self.delete(s.sandbox_id, s.id)

    async def close_all(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
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


MANAGER_KEY: web.AppKey[SessionManager] = web.AppKey("sandbench_sessions")  # set by build_app


def manager(request: web.Request) -> SessionManager:
    return request.app[MANAGER_KEY]


async def _run(
    svc: SandboxService, mgr: SessionManager, session: Session, cmd: Command, base_env: dict[str, str]
) -> None:
    try:
        async with session.lock:
            code = await _exec(svc, session, cmd, base_env)
    except asyncio.CancelledError:
        cmd.finish(-1)  # the session was deleted: log followers get their end
        raise
    except Exception:
        log.exception("session command failed")
        code = -1
    cmd.finish(code)
    mgr.finished(session, cmd)


async def _exec(svc: SandboxService, session: Session, cmd: Command, base_env: dict[str, str]) -> int:
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
        # the log is kept here, bounded; the provider keeps none of it
        result = await svc.exec(
            session.sandbox_id,
            ["/bin/sh", "-c", WRAPPER, SCRIPT],
            env=env,
            stdin=stdin,
            on_output=on_output,
            keep_output=0,
            shown_argv=["sh", "-c", cmd.command],  # the agent's command, not the session wrapper
            shown_cwd=session.cwd,
            shown_output=lambda: b"".join(data for _which, data in cmd.sealed()),  # without the state trailer
        )
    except SandbenchError as exc:
        cmd.emit(STDERR_MARK, f"sandbench: {exc.public}\n".encode())
        return -1
    out.close()
    if out.overflow:
        note = f"sandbench serve: the directory and exported variables are over {STATE_MAX // 1024} KiB; not kept\n"
        cmd.emit(STDERR_MARK, note.encode())
    elif out.trailer is not None:
        cwd, _, exports = bytes(out.trailer).partition(b"\x00")
        session.cwd = cwd.decode("utf-8", "surrogateescape").strip() or session.cwd
        session.exports = exports.decode("utf-8", "surrogateescape")
    return result.exit_code


# -- handlers ---------------------------------------------------------------------------------------------------
async def create_session(request: web.Request) -> web.Response:
    sandbox_id = request.match_info["sid"]
    await service_of(request).ensure_running(sandbox_id)
    body = await json_body(request)
    session_id = body.get("sessionId")
    if not isinstance(session_id, str):
        raise InvalidInput("sessionId is required")
    manager(request).create(sandbox_id, session_id, identity_of(request))
    return web.Response(status=201)


async def list_sessions(request: web.Request) -> web.Response:
    sandbox_id = request.match_info["sid"]
    await service_of(request).get(sandbox_id)
    return wire.json_response([s.info() for s in manager(request).list(sandbox_id)])


ENTRYPOINT = "entrypoint"  # Daytona's session for the image's entrypoint


async def _session(request: web.Request) -> Session:
    sandbox_id = request.match_info["sid"]
    await service_of(request).get(sandbox_id)  # ownership first; looking must not start a sandbox
    session_id = request.match_info["session"]
    try:
        return manager(request).get(sandbox_id, session_id)
    except _NotFound:
        if session_id == ENTRYPOINT:
            # Daytona's entrypoint session (get_entrypoint_session): named, not a bare 404 the SDK calls "not found"
            raise NotSupported(
                "the sandbox entrypoint session is not supported by sandbench serve: local sandboxes run no "
                "entrypoint; use a session of your own"
            ) from None
        raise


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
    mgr = manager(request)
    cmd = mgr.new_command(session, command)
    if run_async:
        cmd.input = CommandInput(echo=not body.get("suppressInputEcho"))
    base_env = state_of(request).env.get(session.sandbox_id)  # the sandbox's env_vars under every command
    cmd.task = asyncio.ensure_future(_run(service_of(request), mgr, session, cmd, base_env))
    if run_async:
        return wire.json_response({"cmdId": cmd.id}, status=202)
    await asyncio.shield(cmd.done.wait())
    return wire.json_response(
        {
            "cmdId": cmd.id,
            "output": cmd.text(),
            "stdout": cmd.text(STDOUT_MARK),
            "stderr": cmd.text(STDERR_MARK),
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
            {"output": cmd.text(), "stdout": cmd.text(STDOUT_MARK), "stderr": cmd.text(STDERR_MARK)}
        )
    mgr, owner = manager(request), identity_of(request)
    ws = await prepared_socket(request, web.WebSocketResponse())
    # refused after the upgrade: the SDK raises a close's reason (with its code), but only a status for a non-101
    cap = mgr.limits.follow_max_streams
    if mgr.following.get(owner, 0) >= cap:
        reason = f"too many log streams: {cap} are open for this owner (sandbench serve --follow-max-streams)"
        await ws.close(code=1011, message=reason.encode()[:123])
        return ws
    mgr.following[owner] = mgr.following.get(owner, 0) + 1
    try:
        await _follow(ws, cmd)
    finally:
        mgr.following[owner] -= 1
    return ws


async def _follow(ws: web.WebSocketResponse, cmd: Command) -> None:
    queue: asyncio.Queue[_Chunk | None] = asyncio.Queue()
    # what is already there, then the live stream; no await in between, so nothing is lost or doubled. The queue
    # holds the log's own chunks, not copies: a follower, however slow, costs no more than the log it follows.
    for chunk in cmd.sealed():
        queue.put_nowait(chunk)
    if cmd.done.is_set():
        queue.put_nowait(None)
    else:
        cmd.listeners.add(queue)

    async def send() -> None:
        while (item := await queue.get()) is not None:
            await ws.send_bytes(item[0] + item[1])
        await ws.close(code=1000)

    sender = asyncio.ensure_future(send())
    try:  # until the client leaves (or a shutdown closes it), not only until the command's next output
        async for _msg in ws:
            pass
    finally:
        cmd.listeners.discard(queue)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


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

"""The code interpreter of `sandbench serve` (`sandbox.code_interpreter`): stateful Python contexts in a sandbox.

Routes (toolbox, as the SDK calls them): `POST/GET /process/interpreter/context`, `DELETE .../context/{id}`, and the
WebSocket `GET /process/interpreter/execute`, whose first client message is `{"code", "contextId"?, "envs"?,
"timeout"?}`. The answer is TEXT frames `{"type": "stdout"|"stderr", "text"}`, `{"type": "error", "name", "value",
"traceback"}`, `{"type": "control", "text": "completed"|"interrupted"}`, then a close: 1000 when the run ended,
4008 when it timed out (the SDK raises `DaytonaTimeoutError`), 1008 for a bad request or an unknown context, 1011
when the interpreter could not start or its process ended.

Each context is one persistent Python process *inside the sandbox* (`interp_driver.py`), started on a sandbox PTY
through the service (so ownership, auto-start and the audit log apply, and everything runs under bwrap). The only
text typed into the PTY's shell is the constant `LAUNCH` line; the driver's source, its working directory and its
ready marker travel as environment variables, requests as JSON lines. Contexts never share a process, so they never
see each other's variables. A sandbox has a `default` context, made on its first run without a context id, which
`list_contexts` leaves out and `delete_context` refuses, as Daytona's daemon does.

Runs of one context are served one at a time, in order. A timeout (default 10 minutes, 0 = none) interrupts the run
(KeyboardInterrupt in the user's code, variables kept); a run that does not stop within `GRACE` has its process
killed, and the context starts afresh, without its variables, on its next run. A client that disconnects mid-run
interrupts it the same way. Each identity may hold `ServeLimits.interpreter_max_contexts` contexts, and one run
streams at most `interpreter_max_output_bytes` of output (the rest is dropped, with a note on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import posixpath
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from services.errors import InvalidInput, ProviderError, SandbenchError, SandboxNotFound
from services.sandbox_service import SandboxService
from services.server import wire
from services.server.context import identity_of, json_body, service_of, state_of
from services.server.limits import MiB, OverLimit
from services.server.sandbox_env import SandboxEnvStore
from services.server.volumes import exec_cwd
from services.terminal import TerminalSession

log = logging.getLogger(__name__)

DRIVER = Path(__file__).with_name("interp_driver.py").read_text()
# typed into the sandbox shell of the context's PTY: constant text, the driver comes from the environment
LAUNCH = b'exec python3 -c "$SANDBENCH_INTERP"\n'
DEFAULT_ID = "default"
DEFAULT_TIMEOUT = 600  # seconds, when the client gives none (Daytona's default)
GRACE = 2.0  # seconds an interrupted run has to end before its process is killed
START_TIMEOUT = 30.0  # seconds for a context's process to be ready
CODE_MAX = 16 * MiB  # bytes of one execute request
LINE_MAX = 2 * MiB  # bytes of one line from the driver; a longer one is not a frame and is dropped
PREAMBLE_MAX = 1 * MiB  # bytes the shell may print before the driver's ready marker
FRAME_QUEUE = 64  # frames read ahead of the client: past it the process waits (back-pressure)
WS_TIMEOUT = 4008  # close code the SDK turns into DaytonaTimeoutError
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_ERROR = 1000, 1008, 1011

Frame = dict[str, str]


class _NotFound(SandbenchError):
    http_status, http_code = 404, "PROCESS_NOT_FOUND"


def _clean(value: Any) -> str:
    """A string from the driver as text safe to send on: lone surrogates and non-strings never reach the wire."""
    if not isinstance(value, str):
        return ""
    return value.encode("utf-8", "replace").decode("utf-8")


def _parse(line: bytes) -> Frame | None:
    """One line of the driver's output as a frame (only its known keys, as clean text); None if it is not one."""
    try:
        raw = json.loads(line)
    except ValueError:
        log.debug("interpreter: a line that is not a frame was dropped")
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return None
    return {k: _clean(raw.get(k)) for k in ("type", "text", "name", "value", "traceback") if k in raw}


class _Process:
    """One running driver: its PTY, the task turning its output into frames, the queue of the current run's."""

    def __init__(self, terminal: TerminalSession, marker: str) -> None:
        self.terminal = terminal
        self.frames: asyncio.Queue[Frame | None] = asyncio.Queue(FRAME_QUEUE)
        self.in_run = False  # frames outside a run (a background child's late output) are dropped
        self._run = 0  # which run frames are read for; a read that straddles two runs never leaks into the next
        self.exited = False
        self._marker = marker.encode()
        self._ready: asyncio.Future[Frame | None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        buf = b""
        skipping = False
        found = False
        try:
            async for chunk in self.terminal.output():
                buf += chunk
                if not found:
                    at = buf.find(self._marker + b"\n")
                    if at < 0:
                        if len(buf) > PREAMBLE_MAX:
                            break
                        continue
                    found = True
                    buf = buf[at + len(self._marker) + 1 :]
                *lines, buf = buf.split(b"\n")
                if skipping and lines:  # the rest of a line that was too long
                    lines, skipping = lines[1:], False
                if len(buf) > LINE_MAX:
                    buf, skipping = b"", True
                await self._deliver([f for f in map(_parse, lines) if f is not None])
        except Exception:
            log.exception("interpreter output reader failed")
        finally:
            self.exited = True
            if not self._ready.done():
                self._ready.set_result(None)
            await self.terminal.close()
            if self.in_run:  # the run's end; `end_run` drains the queue, so this put cannot wait forever
                await self.frames.put(None)

    async def _deliver(self, frames: list[Frame]) -> None:
        """Queue one read's frames for the run, consecutive output of one stream joined into one frame: a loop of
        prints costs one WebSocket message per read, not one per line."""
        run = self._run
        merged: list[Frame] = []
        for frame in frames:
            if not self._ready.done():
                if frame["type"] == "fatal" or (frame["type"] == "control" and frame.get("text") == "ready"):
                    self._ready.set_result(frame)
                continue
            last = merged[-1] if merged else None
            if last is not None and frame["type"] in ("stdout", "stderr") and last["type"] == frame["type"]:
                last["text"] = last.get("text", "") + frame.get("text", "")
            else:
                merged.append(frame)
        for frame in merged:
            if not self.in_run or self._run != run:
                return
            await self.frames.put(frame)

    async def wait_ready(self) -> None:
        try:
            frame = await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT)
        except TimeoutError:
            await self.kill()
            raise ProviderError(f"the interpreter did not start within {START_TIMEOUT:g} s") from None
        if frame is None:
            raise ProviderError("the interpreter ended as it started (is python3 in the sandbox?)")
        if frame["type"] == "fatal":
            await self.kill()
            raise InvalidInput(frame.get("text") or "the interpreter could not start")

    async def send(self, message: dict[str, Any]) -> None:
        await self.terminal.write(json.dumps(message, ensure_ascii=True).encode() + b"\n")

    def begin_run(self) -> None:
        while not self.frames.empty():
            self.frames.get_nowait()
        self._run += 1
        self.in_run = True
        if self.exited:
            self.frames.put_nowait(None)

    def end_run(self) -> None:
        self.in_run = False
        while not self.frames.empty():
            self.frames.get_nowait()

    async def kill(self) -> None:
        """End the process and everything it started (the PTY's close kills the sandboxed process tree)."""
        await self.terminal.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), timeout=10)


@dataclass(eq=False)
class Context:
    id: str
    sandbox_id: str
    owner: str
    cwd: str  # as the client named it
    inside_cwd: str  # the absolute path inside the sandbox the driver enters
    created_at: float = field(default_factory=time.time)
    process: _Process | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one run at a time, in order (Lock is FIFO)

    @property
    def active(self) -> bool:
        return self.process is not None and not self.process.exited

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cwd": self.cwd,
            "createdAt": wire.iso(self.created_at),
            "active": self.active,
            "language": "python",
        }

    async def ensure_process(self, svc: SandboxService, base_env: Mapping[str, str]) -> _Process:
        """The context's Python, started if need be with the sandbox's environment (`env_vars`, `update_env`) as it
        is now; a running one keeps the environment it started with, as every running process does."""
        if self.process is not None and not self.process.exited:
            return self.process
        marker = secrets.token_hex(16)
        env = {
            **base_env,
            "SANDBENCH_INTERP": DRIVER,
            "SANDBENCH_INTERP_READY": marker,
            "SANDBENCH_INTERP_CWD": self.inside_cwd,
            "HISTFILE": "/dev/null",
        }
        terminal = await svc.open_terminal(self.sandbox_id, 200, 50, env=env)
        proc = _Process(terminal, marker)
        try:
            await terminal.write(LAUNCH)
            await proc.wait_ready()
        except BaseException:
            await proc.kill()
            raise
        self.process = proc
        return proc

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.kill()
            self.process = None


class InterpreterManager:
    """Every context of every sandbox, keyed by (sandbox id, context id)."""

    def __init__(self, max_contexts: int, max_output: int, env: SandboxEnvStore | None = None) -> None:
        self.max_contexts = max_contexts
        self.max_output = max_output
        self.env = env
        self._contexts: dict[tuple[str, str], Context] = {}

    def base_env(self, sandbox_id: str) -> dict[str, str]:
        """The sandbox's kept variables, under every context process it starts."""
        return self.env.get(sandbox_id) if self.env is not None else {}

    def get(self, sandbox_id: str, context_id: str) -> Context | None:
        return self._contexts.get((sandbox_id, context_id))

    def list(self, sandbox_id: str) -> list[Context]:
        return [c for (sb, cid), c in self._contexts.items() if sb == sandbox_id and cid != DEFAULT_ID]

    async def _room(self, svc: SandboxService, owner: str) -> None:
        if sum(1 for c in self._contexts.values() if c.owner == owner) < self.max_contexts:
            return
        # contexts of sandboxes deleted meanwhile do not count: forget them first
        for sandbox_id in {c.sandbox_id for c in self._contexts.values() if c.owner == owner}:
            try:
                await svc.get(sandbox_id)
            except SandboxNotFound:
                await self.forget_sandbox(sandbox_id)
        if sum(1 for c in self._contexts.values() if c.owner == owner) >= self.max_contexts:
            raise OverLimit(
                f"too many interpreter contexts: {self.max_contexts} are open for this owner, the limit; delete "
                "one (or raise sandbench serve --interpreter-max-contexts)"
            )

    async def create(self, svc: SandboxService, sandbox_id: str, owner: str, cwd: str, inside: str) -> Context:
        await self._room(svc, owner)
        ctx = Context(str(uuid.uuid4()), sandbox_id, owner, cwd, inside)
        self._contexts[(sandbox_id, ctx.id)] = ctx  # counted while it starts, so concurrent creates stay capped
        try:
            async with ctx.lock:  # a run naming the new id meanwhile waits for this process, never starts a second
                await ctx.ensure_process(svc, self.base_env(sandbox_id))
        except BaseException:
            del self._contexts[(sandbox_id, ctx.id)]
            raise
        return ctx

    async def default(self, svc: SandboxService, sandbox_id: str, owner: str) -> Context:
        ctx = self.get(sandbox_id, DEFAULT_ID)
        if ctx is None:
            await self._room(svc, owner)
            ctx = self.get(sandbox_id, DEFAULT_ID)  # made by a concurrent run meanwhile
            if ctx is None:
                ctx = Context(DEFAULT_ID, sandbox_id, owner, wire.HOME, wire.HOME)
                self._contexts[(sandbox_id, DEFAULT_ID)] = ctx
        return ctx

    async def delete(self, ctx: Context) -> None:
        if self._contexts.get((ctx.sandbox_id, ctx.id)) is ctx:
            del self._contexts[(ctx.sandbox_id, ctx.id)]
        await ctx.stop()

    async def forget_sandbox(self, sandbox_id: str) -> None:
        for ctx in [c for (sb, _), c in self._contexts.items() if sb == sandbox_id]:
            await self.delete(ctx)

    async def close_all(self) -> None:
        for ctx in list(self._contexts.values()):
            await self.delete(ctx)


MANAGER_KEY: web.AppKey[InterpreterManager] = web.AppKey("sandbench_interpreter")


def manager(request: web.Request) -> InterpreterManager:
    return request.app[MANAGER_KEY]


def _cwd(raw: Any) -> tuple[str, str]:
    """(the path as the client named it, the absolute path inside the sandbox). The driver enters it from inside
    bwrap, so any directory that exists in the sandbox is fine (a missing one is refused when the context
    starts); the Daytona image's home names the sandbox's home."""
    if raw is None or raw == "":
        return wire.HOME, wire.HOME
    if not isinstance(raw, str) or "\x00" in raw or len(raw) > 4096:
        raise InvalidInput("cwd must be a path")
    if not raw.startswith("/"):
        inside = posixpath.normpath(posixpath.join(wire.HOME, raw))
        return inside, inside
    for home in wire.HOME_ALIASES:
        if raw == home or raw.startswith(home + "/"):
            return raw, posixpath.normpath(wire.HOME + raw[len(home) :])
    return raw, posixpath.normpath(raw)


# -- handlers ---------------------------------------------------------------------------------------------------
async def create_context(request: web.Request) -> web.Response:
    sandbox_id = request.match_info["sid"]
    svc = service_of(request)
    await svc.get(sandbox_id)  # ownership first
    body = await json_body(request)
    language = body.get("language")
    if language is not None and language != "python":
        raise InvalidInput(f"unsupported language: {str(language)[:40]} (only 'python' is supported)")
    cwd, inside = _cwd(body.get("cwd"))
    inside = await exec_cwd(request, inside)  # under a volume's mount point: the volume, where the sandbox sees it
    ctx = await manager(request).create(svc, sandbox_id, identity_of(request), cwd, inside)
    return wire.json_response(ctx.info())


async def list_contexts(request: web.Request) -> web.Response:
    sandbox_id = request.match_info["sid"]
    await service_of(request).get(sandbox_id)
    return wire.json_response({"contexts": [c.info() for c in manager(request).list(sandbox_id)]})


async def delete_context(request: web.Request) -> web.Response:
    sandbox_id = request.match_info["sid"]
    await service_of(request).get(sandbox_id)
    context_id = request.match_info["cid"]
    if context_id == DEFAULT_ID:
        raise InvalidInput("cannot delete default context")
    ctx = manager(request).get(sandbox_id, context_id)
    if ctx is None:
        raise _NotFound(f"context with ID {context_id[:80]!r} not found")
    await manager(request).delete(ctx)
    return wire.json_response({"message": "Context deleted successfully"})


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _reason(text: str) -> bytes:
    """A close reason fits in 123 bytes: cut on a character boundary."""
    return text.encode()[:123].decode("utf-8", "ignore").encode()


async def _request(ws: web.WebSocketResponse, timeout: float) -> tuple[str, str | None, dict[str, str], int]:
    try:
        msg = await ws.receive(timeout=timeout)
    except TimeoutError:
        raise _Refused(CLOSE_POLICY, f"no request within {timeout:g} s") from None
    if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        raise _Refused(CLOSE_POLICY, "failed to read first message")
    try:
        req = json.loads(msg.data)
    except ValueError:
        raise _Refused(CLOSE_POLICY, "invalid JSON payload") from None
    if not isinstance(req, dict):
        raise _Refused(CLOSE_POLICY, "invalid JSON payload")
    code = req.get("code")
    if not isinstance(code, str) or not code:
        raise _Refused(CLOSE_POLICY, "code is required")
    context_id = req.get("contextId")
    if context_id is not None and not isinstance(context_id, str):
        raise _Refused(CLOSE_POLICY, "contextId must be a string")
    envs = req.get("envs") or {}
    if not isinstance(envs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in envs.items()):
        raise _Refused(CLOSE_POLICY, "envs must map strings to strings")
    run_timeout = req.get("timeout", DEFAULT_TIMEOUT)
    if run_timeout is None:
        run_timeout = DEFAULT_TIMEOUT
    if not isinstance(run_timeout, int) or isinstance(run_timeout, bool) or run_timeout < 0:
        raise _Refused(CLOSE_POLICY, "timeout must be a whole number of seconds, 0 or more")
    return code, context_id, envs, run_timeout


async def execute(request: web.Request) -> web.StreamResponse:
    sandbox_id = request.match_info["sid"]
    svc = service_of(request)
    await svc.get(sandbox_id)  # ownership before the upgrade: another owner's sandbox is a plain 404
    ws = web.WebSocketResponse(max_msg_size=CODE_MAX)
    await ws.prepare(request)
    mgr = manager(request)
    try:
        code, context_id, envs, run_timeout = await _request(ws, state_of(request).limits.body_timeout)
        if context_id is None:
            ctx = await mgr.default(svc, sandbox_id, identity_of(request))
        else:
            found = mgr.get(sandbox_id, context_id)
            if found is None:
                raise _Refused(CLOSE_POLICY, f"context not found: {context_id[:80]}")
            ctx = found
        async with ctx.lock:
            close_code, reason = await _audited_run(ws, svc, ctx, mgr, code, envs, run_timeout)
    except _Refused as exc:
        close_code, reason = exc.code, exc.reason
    except SandbenchError as exc:
        close_code, reason = CLOSE_ERROR, exc.message
    except Exception:
        log.exception("interpreter run in %s failed", sandbox_id)
        close_code, reason = CLOSE_ERROR, "internal error (details in the server log)"
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.close(code=close_code, message=_reason(reason))
    return ws


async def _audited_run(
    ws: web.WebSocketResponse,
    svc: SandboxService,
    ctx: Context,
    mgr: InterpreterManager,
    code: str,
    envs: dict[str, str],
    run_timeout: int,
) -> tuple[int, str]:
    """`_run`, as one exec entry in the audit log (the agent's code as `python3 -c CODE`, redacted; no exit code:
    a context's process outlives its runs) bracketed by automatic checkpoints when they are on."""
    from services.checkpoints.auto import bracket

    redactor = svc.redactor.with_env(envs)
    shown = ["python3", "-c", code]
    around = await bracket(svc, ctx.sandbox_id, redactor.summary(shown))
    before = after = None
    outcome = "error"
    t0 = time.monotonic()
    try:
        if around is not None:
            before = await around.before()
        t0 = time.monotonic()
        close_code, reason = await _run(ws, svc, ctx, mgr, code, envs, run_timeout)
        outcome = {CLOSE_NORMAL: "ok", WS_TIMEOUT: "error:OperationTimeout"}.get(close_code, "error")
        return close_code, reason
    except SandbenchError as exc:
        outcome = f"error:{type(exc).__name__}"
        raise
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        ms = int((time.monotonic() - t0) * 1000)
        if around is not None and before is not None and outcome != "cancelled":
            after = await around.after()
        svc.audit.record_exec(
            sandbox=ctx.sandbox_id,
            cwd="",
            program="python3",
            argv=redactor.argv(shown),
            ms=ms,
            outcome=outcome,
            before=before,
            after=after,
        )


async def _run(
    ws: web.WebSocketResponse,
    svc: SandboxService,
    ctx: Context,
    mgr: InterpreterManager,
    code: str,
    envs: dict[str, str],
    run_timeout: int,
) -> tuple[int, str]:
    max_output = mgr.max_output
    proc = await ctx.ensure_process(svc, mgr.base_env(ctx.sandbox_id))
    proc.begin_run()
    try:
        await proc.send({"op": "run", "code": code, "envs": envs})
        pump = asyncio.ensure_future(_pump(ws, proc, max_output))
        gone = asyncio.ensure_future(_client_gone(ws))
        try:
            done, _ = await asyncio.wait({pump, gone}, timeout=run_timeout or None, return_when=asyncio.FIRST_COMPLETED)
            timed_out = not done
            if pump not in done:
                log.info(
                    "interpreter run in %s %s: interrupting it",
                    ctx.sandbox_id,
                    "timed out" if timed_out else "lost its client",
                )
                await proc.send({"op": "interrupt"})
                try:
                    await asyncio.wait_for(asyncio.shield(pump), GRACE)
                except TimeoutError:
                    await ctx.stop()  # it did not stop: the process goes, the next run starts a fresh one
            ending = await pump
        finally:
            gone.cancel()
            if not pump.done():
                pump.cancel()
    finally:
        proc.end_run()
    if timed_out:
        return WS_TIMEOUT, f"execution timed out after {run_timeout} s"
    if ending == "exited":
        ctx.process = None
        return CLOSE_ERROR, "the interpreter's process ended; the context starts afresh on its next run"
    return CLOSE_NORMAL, ""


async def _client_gone(ws: web.WebSocketResponse) -> None:
    """Returns when the client closes or drops the connection (anything else it sends is ignored)."""
    while True:
        msg = await ws.receive()
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return


async def _pump(ws: web.WebSocketResponse, proc: _Process, max_output: int) -> str:
    """The run's frames to the client until it ends: "completed", "interrupted" or "exited". Every frame is read
    even once the client is gone, so nothing of this run is left for the next."""
    room = max_output  # bytes of output this run may still stream
    client = True

    async def send(out: dict[str, str]) -> None:
        nonlocal client
        if client:
            try:
                await ws.send_str(json.dumps(out))
            except (ConnectionError, RuntimeError):
                client = False

    while True:
        frame = await proc.frames.get()
        if frame is None:
            return "exited"
        kind = frame["type"]
        if kind in ("stdout", "stderr"):
            if room < 0:
                continue  # past the cap, noted already
            data = frame.get("text", "").encode()
            if len(data) <= room:
                room -= len(data)
                await send({"type": kind, "text": frame.get("text", "")})
                continue
            if room:  # up to the cap exactly, cut on a character boundary
                await send({"type": kind, "text": data[:room].decode("utf-8", "ignore")})
            room = -1
            note = f"output past {max_output / MiB:g} MiB was dropped (sandbench serve --interpreter-max-output-mib)"
            await send({"type": "stderr", "text": f"\n[sandbench: {note}]\n"})
        elif kind == "error":
            await send({"type": "error", **{k: frame.get(k, "") for k in ("name", "value", "traceback")}})
        elif kind == "control" and frame.get("text") in ("completed", "interrupted"):
            await send({"type": "control", "text": frame["text"]})
            return frame["text"]


def add_routes(app: web.Application, base: str) -> None:
    r = app.router
    r.add_post(f"{base}/process/interpreter/context", create_context)
    r.add_get(f"{base}/process/interpreter/context", list_contexts)
    r.add_delete(f"{base}/process/interpreter/context/{{cid}}", delete_context)
    r.add_get(f"{base}/process/interpreter/execute", execute)

"""LSP passthrough of `sandbench serve` (`sandbox.create_lsp_server(...)`): python-lsp-server inside the sandbox.

Routes (toolbox, as the SDK calls them): `POST /lsp/start`, `/lsp/stop`, `/lsp/did-open`, `/lsp/did-close`,
`/lsp/completions`, `GET /lsp/document-symbols`, `/lsp/workspacesymbols`. Every body names `languageId` and
`pathToProject`; documents are `file://` URIs, absolute inside the sandbox or relative to the project.

- One language server per sandbox per language, run *inside the sandbox* (`lsp_driver.py` on a sandbox PTY, through
  the service: ownership, auto-start, bwrap), killed by `stop`, when its sandbox stops, and when the server closes.
  A `start` for another project of the same language replaces it. Each identity runs at most `MAX_PER_IDENTITY`.
- Only `python` is passed through (to `pylsp`). Where the sandbox's Python cannot import pylsp, `start` answers 501
  naming what to install; `typescript`/`javascript` answer 501 naming the feature.
- JSON-RPC: requests time out after `REQUEST_TIMEOUT`; a frame over `FRAME_MAX` ends the server; the server's own
  requests to the client (configuration, registrations) are answered `null`; its notifications (diagnostics, logs)
  are dropped. Answers are reshaped to the SDK's models (`CompletionList`, `LspSymbol`), hierarchical document
  symbols flattened, plain-text documentation wrapped as markup content.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import posixpath
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from services.errors import InvalidInput, NotSupported, ProviderError, SandbenchError
from services.sandbox_service import SandboxService
from services.server import wire
from services.server.context import identity_of, json_body, service_of
from services.terminal import TerminalSession

log = logging.getLogger(__name__)

DRIVER = Path(__file__).with_name("lsp_driver.py").read_text()
LAUNCH = b'exec python3 -c "$SANDBENCH_LSP"\n'  # the only text typed into the PTY's shell: constant
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0
PREAMBLE_MAX = 1024 * 1024  # bytes the shell may print before the driver's marker
FRAME_MAX = 16 * 1024 * 1024
DOCUMENT_MAX = 8 * 1024 * 1024  # bytes of a file opened with did_open
MAX_PER_IDENTITY = 8
ITEMS_MAX = 2000  # completions or symbols in one answer
LANGUAGES = {"python"}
INSTALL = (
    "LSP (create_lsp_server) needs python-lsp-server inside the sandbox, and its python3 cannot import pylsp: install "
    "it on the host (Debian: apt-get install python3-pylsp; the sandbox sees the host's /usr)"
)
KEY: web.AppKey[LspManager] = web.AppKey("sandbench_lsp")


class LspError(SandbenchError):
    """The language server failed a request, or went away."""

    title = "Language server error"
    http_status = 502
    http_code = "LSP_ERROR"


class _NotStarted(SandbenchError):
    http_status, http_code = 409, "LSP_NOT_STARTED"


class _Server:
    """One running pylsp: its PTY, the reader that parses its frames, the requests waiting for answers."""

    def __init__(self, terminal: TerminalSession, marker: str, missing: str) -> None:
        self.terminal = terminal
        self.exited = False
        self._markers = (marker.encode() + b"\n", missing.encode() + b" ")
        self._ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        self._write_lock = asyncio.Lock()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        buf = b""
        try:
            async for chunk in self.terminal.output():
                buf += chunk
                if not self._ready.done():
                    buf = self._preamble(buf)
                    if not self._ready.done():
                        if len(buf) > PREAMBLE_MAX:
                            break
                        continue
                    if self._ready.result() != "ready":
                        break
                buf = await self._frames(buf)
        except Exception:
            log.exception("language server reader failed")
        finally:
            self.exited = True
            if not self._ready.done():
                self._ready.set_result("gone")
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(LspError("the language server ended"))
            await self.terminal.close()

    def _preamble(self, buf: bytes) -> bytes:
        ready, missing = self._markers
        if (at := buf.find(ready)) >= 0:
            self._ready.set_result("ready")
            return buf[at + len(ready) :]
        if (at := buf.find(missing)) >= 0 and b"\n" in buf[at:]:
            self._ready.set_result(buf[at + len(missing) :].split(b"\n", 1)[0].decode("ascii", "replace").strip())
        return buf

    async def _frames(self, buf: bytes) -> bytes:
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                if len(buf) > 8192:
                    raise LspError("the language server sent a header without an end")
                return buf
            length = None
            for line in buf[:head_end].split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
            if length is None or length > FRAME_MAX:
                raise LspError("the language server sent a frame without a usable length")
            if len(buf) < head_end + 4 + length:
                return buf
            body, buf = buf[head_end + 4 : head_end + 4 + length], buf[head_end + 4 + length :]
            with contextlib.suppress(ValueError):
                await self._handle(json.loads(body))

    async def _handle(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        if "method" in msg and "id" in msg:  # the server asks us (configuration, registrations): nothing to give
            await self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            return
        rid = msg.get("id")
        fut = self._pending.pop(rid, None) if isinstance(rid, int) else None
        if fut is None or fut.done():
            return
        if "error" in msg:
            err = msg["error"] if isinstance(msg["error"], dict) else {}
            fut.set_exception(_RpcError(int(err.get("code", 0) or 0), str(err.get("message", ""))[:500]))
        else:
            fut.set_result(msg.get("result"))

    async def wait_ready(self) -> None:
        try:
            state = await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT)
        except TimeoutError:
            raise ProviderError("the language server did not start in time") from None
        if state == "pylsp":
            raise NotSupported(INSTALL)
        if state == "cwd":
            raise InvalidInput("the project folder (pathToProject) does not exist in the sandbox")
        if state != "ready":
            raise ProviderError("the language server could not start")

    async def _send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg).encode()
        async with self._write_lock:
            await self.terminal.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        if self.exited:
            raise LspError("the language server has ended; start it again")
        self._next += 1
        rid = self._next
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
            return await asyncio.wait_for(fut, REQUEST_TIMEOUT)
        except TimeoutError:
            raise LspError(f"the language server did not answer {method} within {REQUEST_TIMEOUT:g} s") from None
        finally:
            self._pending.pop(rid, None)

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        if self.exited:
            raise LspError("the language server has ended; start it again")
        await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def stop(self) -> None:
        if not self.exited:
            with contextlib.suppress(SandbenchError, OSError):
                await asyncio.wait_for(self.request("shutdown", {}), 5)
                await self.notify("exit", {})
        await self.terminal.close()  # kills whatever is left of it
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), 10)


class _RpcError(LspError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"the language server refused: {message or code}")
        self.code = code


@dataclass(eq=False)
class _Entry:
    sandbox_id: str
    language: str
    project: str  # absolute inside the sandbox
    owner: str
    server: _Server | None = None
    versions: dict[str, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LspManager:
    """The language servers of one `serve`: at most one per (sandbox, language)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}

    def get(self, sandbox_id: str, language: str) -> _Entry | None:
        entry = self._entries.get((sandbox_id, language))
        if entry is not None and entry.server is not None and entry.server.exited:
            self._entries.pop((sandbox_id, language), None)  # it ended (its sandbox stopped): gone
            return None
        return entry

    def count(self, owner: str) -> int:
        return sum(1 for e in list(self._entries.values()) if e.owner == owner and self.get(e.sandbox_id, e.language))

    async def start(self, svc: SandboxService, sandbox_id: str, language: str, project: str, owner: str) -> None:
        old = self.get(sandbox_id, language)
        if old is not None and old.project == project:
            async with old.lock:  # a concurrent start of the same server: answer once it is initialised
                pass
            if self.get(sandbox_id, language) is old and old.server is not None:
                return
            old = self.get(sandbox_id, language)
        if old is not None:
            await self.stop(old)
        if self.count(owner) >= MAX_PER_IDENTITY:
            raise _TooMany(f"too many language servers: {MAX_PER_IDENTITY} run for this owner; stop one")
        entry = _Entry(sandbox_id, language, project, owner)
        self._entries[(sandbox_id, language)] = entry
        try:
            async with entry.lock:
                entry.server = await _launch(svc, sandbox_id, project)
                root = f"file://{project}"
                await entry.server.request(
                    "initialize",
                    {
                        "processId": None,
                        "rootUri": root,
                        "workspaceFolders": [{"uri": root, "name": posixpath.basename(project) or "home"}],
                        "capabilities": {"textDocument": {"documentSymbol": {}, "completion": {}}},
                    },
                )
                await entry.server.notify("initialized", {})
        except BaseException:
            self._entries.pop((sandbox_id, language), None)
            if entry.server is not None:
                await entry.server.stop()
            raise

    async def stop(self, entry: _Entry) -> None:
        self._entries.pop((entry.sandbox_id, entry.language), None)
        if entry.server is not None:
            await entry.server.stop()

    async def close_all(self) -> None:
        for entry in list(self._entries.values()):
            with contextlib.suppress(Exception):
                await self.stop(entry)


class _TooMany(SandbenchError):
    http_status, http_code = 429, "TOO_MANY_LANGUAGE_SERVERS"


async def _launch(svc: SandboxService, sandbox_id: str, project: str) -> _Server:
    ready, missing = secrets.token_hex(16), secrets.token_hex(16)
    env = {
        "SANDBENCH_LSP": DRIVER,
        "SANDBENCH_LSP_READY": ready,
        "SANDBENCH_LSP_MISSING": missing,
        "SANDBENCH_LSP_CWD": project,
        "HISTFILE": "/dev/null",
    }
    terminal = await svc.open_terminal(sandbox_id, 200, 50, env=env)
    server = _Server(terminal, ready, missing)
    try:
        await terminal.write(LAUNCH)
        await server.wait_ready()
    except BaseException:
        await server.stop()
        raise
    return server


# -- requests ------------------------------------------------------------------------------------------------------
def _str(data: Any, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or "\x00" in value or len(value) > 4096:
        raise InvalidInput(f"{key} must be a non-empty string")
    return value


def _language(data: Any) -> str:
    language = _str(data, "languageId")
    if language not in LANGUAGES:
        raise NotSupported(
            f"LSP for {language[:40]!r} is not supported by sandbench serve: only python is passed through "
            "(to python-lsp-server)"
        )
    return language


def _inside(path: str, base: str) -> str:
    """`path` (absolute, or relative to `base`) as a normalised absolute path under the sandbox's home."""
    absolute = posixpath.normpath(path if path.startswith("/") else posixpath.join(base, path))
    rel, _ = wire.workspace_path(absolute)  # refuses anything outside the home
    return posixpath.join(wire.HOME, rel) if rel else wire.HOME


def _project(data: Any) -> str:
    return _inside(_str(data, "pathToProject"), wire.HOME)


def _document(data: Any, project: str) -> str:
    uri = _str(data, "uri")
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    return _inside(path, project)


async def _entry(request: web.Request, data: Any) -> tuple[_Entry, _Server]:
    sandbox_id = request.match_info["sid"]
    await service_of(request).get(sandbox_id)  # ownership first
    language = _language(data)
    entry = request.app[KEY].get(sandbox_id, language)
    if entry is None or entry.server is None:
        raise _NotStarted("no language server runs for this sandbox and language: call start() first")
    return entry, entry.server


async def start(request: web.Request) -> web.Response:
    data = await json_body(request)
    language, project = _language(data), _project(data)
    sandbox_id = request.match_info["sid"]
    svc = service_of(request)
    await svc.ensure_running(sandbox_id)
    await request.app[KEY].start(svc, sandbox_id, language, project, identity_of(request))
    return web.Response(status=200)


async def stop(request: web.Request) -> web.Response:
    data = await json_body(request)
    entry, _ = await _entry(request, data)
    await request.app[KEY].stop(entry)
    return web.Response(status=200)


async def did_open(request: web.Request) -> web.Response:
    data = await json_body(request)
    entry, server = await _entry(request, data)
    path = _document(data, entry.project)
    rel, _ = wire.workspace_path(path)
    file = await service_of(request).read_file(entry.sandbox_id, rel, limit=DOCUMENT_MAX)
    text = file.data.decode("utf-8", "replace")
    version = entry.versions.get(path, 0) + 1
    entry.versions[path] = version
    doc = {"uri": f"file://{path}", "languageId": entry.language, "version": version, "text": text}
    await server.notify("textDocument/didOpen", {"textDocument": doc})
    return web.Response(status=200)


async def did_close(request: web.Request) -> web.Response:
    data = await json_body(request)
    entry, server = await _entry(request, data)
    path = _document(data, entry.project)
    entry.versions.pop(path, None)
    await server.notify("textDocument/didClose", {"textDocument": {"uri": f"file://{path}"}})
    return web.Response(status=200)


def _position(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise InvalidInput("position must be {line, character}")
    out = {}
    for key in ("line", "character"):
        v = value.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 10**7:
            raise InvalidInput(f"position.{key} must be a whole number, 0 or more")
        out[key] = v
    return out


def _markup(doc: Any) -> dict[str, Any] | None:
    if isinstance(doc, str):
        return {"kind": "plaintext", "value": doc}
    return doc if isinstance(doc, dict) else None


def _completion(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get("label"), str):
        return None
    out: dict[str, Any] = {"label": item["label"]}
    for key in ("detail", "filterText", "insertText", "sortText"):
        if isinstance(item.get(key), str):
            out[key] = item[key]
    if isinstance(item.get("kind"), int) and not isinstance(item["kind"], bool):
        out["kind"] = item["kind"]
    if (doc := _markup(item.get("documentation"))) is not None:
        out["documentation"] = doc
    return out


async def completions(request: web.Request) -> web.Response:
    data = await json_body(request)
    entry, server = await _entry(request, data)
    path = _document(data, entry.project)
    params: dict[str, Any] = {"textDocument": {"uri": f"file://{path}"}, "position": _position(data.get("position"))}
    if isinstance(data.get("context"), dict):
        params["context"] = data["context"]
    result = await server.request("textDocument/completion", params)
    raw = result.get("items") if isinstance(result, dict) else result
    items = [c for c in map(_completion, raw if isinstance(raw, list) else []) if c is not None][:ITEMS_MAX]
    incomplete = bool(result.get("isIncomplete")) if isinstance(result, dict) else False
    return wire.json_response({"isIncomplete": incomplete or len(items) == ITEMS_MAX, "items": items})


def _range(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    try:
        return {"start": _position(value.get("start")), "end": _position(value.get("end"))}
    except InvalidInput:
        return None


def _symbols(raw: Any, uri: str | None) -> list[dict[str, Any]]:
    """SymbolInformation or (hierarchical) DocumentSymbol lists as the SDK's flat `LspSymbol`s."""
    out: list[dict[str, Any]] = []
    stack = list(reversed(raw)) if isinstance(raw, list) else []
    while stack and len(out) < ITEMS_MAX:
        s = stack.pop()
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not isinstance(s.get("kind"), int):
            continue
        location = s.get("location")
        if isinstance(location, dict) and isinstance(location.get("uri"), str):
            where, rng = location["uri"], _range(location.get("range"))
        else:
            where, rng = uri, _range(s.get("range"))
        if where is not None and rng is not None:
            out.append({"kind": s["kind"], "name": s["name"], "location": {"uri": where, "range": rng}})
        children = s.get("children")
        if isinstance(children, list):
            stack.extend(reversed(children))
    return out


async def document_symbols(request: web.Request) -> web.Response:
    q = request.query
    entry, server = await _entry(request, q)
    path = _document(q, entry.project)
    uri = f"file://{path}"
    result = await server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    return wire.json_response(_symbols(result, uri))


async def workspace_symbols(request: web.Request) -> web.Response:
    q = request.query
    _, server = await _entry(request, q)
    query = q.get("query", "")
    if len(query) > 1000:
        raise InvalidInput("query is at most 1000 characters")
    try:
        result = await server.request("workspace/symbol", {"query": query})
    except _RpcError as exc:
        if exc.code == -32601:  # the language server has no workspace symbols
            raise NotSupported(
                "sandbox symbols (sandbox_symbols, workspace_symbols) are not supported by sandbench serve's "
                "language server (python-lsp-server answers no workspace/symbol); use document_symbols"
            ) from None
        raise
    return wire.json_response(_symbols(result, None))


def add_routes(app: web.Application, base: str = "/toolbox/{sid}") -> None:
    r = app.router
    r.add_post(f"{base}/lsp/start", start)
    r.add_post(f"{base}/lsp/stop", stop)
    r.add_post(f"{base}/lsp/did-open", did_open)
    r.add_post(f"{base}/lsp/did-close", did_close)
    r.add_post(f"{base}/lsp/completions", completions)
    r.add_get(f"{base}/lsp/document-symbols", document_symbols)
    r.add_get(f"{base}/lsp/workspacesymbols", workspace_symbols)

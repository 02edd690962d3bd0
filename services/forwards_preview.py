"""Forwarding a Daytona sandbox's port to localhost through its preview link, UI-free.

A Daytona sandbox is not on this machine, so its ports cannot be reached as a local sandbox's are (a namespace
helper, services/port_forward.py). Daytona offers each port as a **preview link** instead (`get_preview_link(port)`:
an HTTPS URL and a token that goes in the `X-Daytona-Preview-Token` header). `PreviewProxy` is a listener on
127.0.0.1 that sends every HTTP request it gets to the link, with the token added, and streams the answer back —
WebSocket upgrades too (relayed message by message), so a dev server's live reload works. `sandbench serve` offers
the same links for its sandboxes (services/server/preview.py), which is how this is tested.

What a preview link is not: a TCP tunnel. Only HTTP (and WebSockets) pass; a database or SSH port does not. Said
in the message of every refused request, and in docs/cli.md.

- **Credentials**: the token is added here and never shown to the local client; whatever `X-Daytona-*` headers
  the client sends are dropped, so the client cannot pose as another link. Redirects are passed back, not followed;
  a `Location` under the link's own address or path comes back as a path on the local listener.
- **Bounded** per forward: at most `MAX_REQUESTS` requests and WebSockets in flight (more are answered 503 at
  once); bodies are streamed both ways in `CHUNK` pieces, each written before the next is read, so the bytes in
  flight are a few buffers per request whatever the sizes; a WebSocket message is at most `MAX_WS_MESSAGE`; the
  sandbox's server may stay silent `READ_TIMEOUT` seconds; idle keep-alive connections close after
  `KEEPALIVE_TIMEOUT`.
- A link's token changes when the sandbox restarts: an answer of 401/403 to a request without a body fetches the
  link again (once) and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from services.proxy_headers import HOP, request_header_kept

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Daytona-Preview-Token"  # noqa: S105 - a header name
MAX_REQUESTS = 32  # requests and WebSockets in flight through one forward
CHUNK = 64 * 1024
MAX_WS_MESSAGE = 4 * 1024 * 1024
READ_TIMEOUT = 300.0
CONNECT_TIMEOUT = 30.0
KEEPALIVE_TIMEOUT = 15.0


@runtime_checkable
class PreviewLinks(Protocol):
    """A provider whose sandboxes' ports are reached through preview links (the Daytona one)."""

    async def preview_link(self, sandbox_id: str, port: int) -> tuple[str, str]:
        """(url, token) of the port's preview link."""
        ...


Link = Callable[[], Awaitable[tuple[str, str]]]


async def answers(url: str, token: str) -> bool:
    """Whether something answers behind the link: one HEAD request (a preview proxy says 502-504 for a port nothing
    listens on). Asked before a forward's listener exists, when the sandbox's port listing could not tell."""
    timeout = aiohttp.ClientTimeout(total=CONNECT_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.head(url, headers={TOKEN_HEADER: token}, allow_redirects=False) as r,
        ):
            return r.status not in (502, 503, 504)
    except (aiohttp.ClientError, TimeoutError):
        return False


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=f"sandbench forward: {message}\n")


class PreviewProxy:
    """One forward: a local listener proxying to one preview link (see the module docstring)."""

    def __init__(self, link: Link, url: str, token: str, *, what: str) -> None:
        self._link = link
        self._set(url, token)
        self.what = what  # "port 8000 of sandbox 'web'", for messages
        self.active = 0
        self._session: aiohttp.ClientSession | None = None
        self._server: web.Server | None = None

    def _set(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("a preview link is an http(s) URL")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")  # "" on Daytona (a host per port); serve's links are path-style
        self.token = token

    async def listen(self, host: str, port: int) -> asyncio.Server:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT),
            auto_decompress=False,  # bytes pass as they come, with their Content-Encoding
            cookie_jar=aiohttp.DummyCookieJar(),  # the local client keeps its own cookies
            read_bufsize=CHUNK,
        )
        # no access log: a request line can carry what the user's app put in its URL (tokens, session ids)
        self._server = web.Server(
            self._handle, keepalive_timeout=KEEPALIVE_TIMEOUT, read_bufsize=CHUNK, access_log=None
        )
        loop = asyncio.get_running_loop()
        try:
            return await loop.create_server(self._server, host, port)
        except BaseException:
            await self._session.close()
            raise

    async def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.shutdown(1.0)
        if self._session is not None:
            await self._session.close()

    # -- a request ------------------------------------------------------------------------------------------------
    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.active >= MAX_REQUESTS:
            return _text(503, f"{MAX_REQUESTS} requests are in flight through this forward, the limit; retry")
        self.active += 1
        try:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await self._websocket(request)
            return await self._http(request)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            log.info("forward of %s: %s", self.what, type(exc).__name__)
            return _text(502, f"the preview link of {self.what} did not answer (is the sandbox running?)")
        finally:
            self.active -= 1

    def _headers(self, request: web.BaseRequest, *, websocket: bool = False) -> CIMultiDict[str]:
        out: CIMultiDict[str] = CIMultiDict()
        for name, value in request.headers.items():
            if request_header_kept(name, websocket=websocket):
                out.add(name, value)
        out[TOKEN_HEADER] = self.token
        return out

    def _local_location(self, value: str) -> str:
        """A redirect under the link's own address or path, as a path on the local listener."""
        for head in (self.origin + self.prefix, self.prefix):
            if head and (value == head or value.startswith(head + "/") or value.startswith(head + "?")):
                rest = value[len(head) :]
                return rest if rest.startswith("/") else "/" + rest
        return value

    async def _http(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._session is not None
        body = request.body_exists
        for attempt in (0, 1):
            data: AsyncIterator[bytes] | None = request.content.iter_chunked(CHUNK) if body else None
            upstream = await self._session.request(
                request.method,
                self.origin + self.prefix + request.raw_path,
                headers=self._headers(request),
                data=data,
                allow_redirects=False,
            )
            try:
                if upstream.status in (401, 403) and attempt == 0 and not body and await self._refresh():
                    continue  # the sandbox restarted: its link has a new token
                return await self._relay(request, upstream)
            finally:
                upstream.release()
        raise AssertionError("unreachable")

    async def _refresh(self) -> bool:
        try:
            url, token = await self._link()
        except Exception as exc:  # the forward keeps the link it had; the client sees the sandbox's answer
            log.info("forward of %s: the preview link could not be fetched again: %s", self.what, type(exc).__name__)
            return False
        if token == self.token:
            return False
        self._set(url, token)
        return True

    async def _relay(self, request: web.BaseRequest, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        out = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            low = name.lower()
            if low in HOP:
                continue
            out.headers.add(name, self._local_location(value) if low == "location" else value)
        await out.prepare(request)
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await out.write(chunk)  # drains: the next piece is read once this one is on its way
        except (aiohttp.ClientError, TimeoutError) as exc:
            # cut mid-body: drop the client's connection, so a cut answer never looks complete to it
            log.info("forward of %s: the answer was cut (%s)", self.what, type(exc).__name__)
            if request.transport is not None:
                request.transport.close()
            return out
        await out.write_eof()
        return out

    async def _websocket(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._session is not None
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        url = ("ws" + self.origin[4:] if self.origin.startswith("http") else self.origin) + self.prefix
        try:
            up = await self._session.ws_connect(
                url + request.raw_path,
                headers=self._headers(request, websocket=True),
                protocols=protocols,
                max_msg_size=MAX_WS_MESSAGE,
                heartbeat=30.0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            return _text(exc.status if exc.status >= 400 else 502, f"the WebSocket of {self.what} was refused")
        down = web.WebSocketResponse(
            protocols=[up.protocol] if up.protocol else (), max_msg_size=MAX_WS_MESSAGE, heartbeat=30.0
        )
        try:
            await down.prepare(request)
            pumps = [asyncio.ensure_future(_pump(up, down)), asyncio.ensure_future(_pump(down, up))]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for p in pumps:
                p.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            await up.close()
            await down.close()
        return down


WebSocket = aiohttp.ClientWebSocketResponse | web.WebSocketResponse


async def _pump(src: WebSocket, dst: WebSocket) -> None:
    async for msg in src:
        if msg.type is aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type is aiohttp.WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        else:
            return

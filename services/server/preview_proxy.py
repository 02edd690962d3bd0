"""The preview proxy of `sandbench serve`: a preview link's request, authorised (a standard link's token or the
API key; a signed link's own token, bound to one sandbox and port), checked against the sandbox (still the
identity's, still running), then proxied to the port inside the sandbox (services/port_forward.py): any method,
bodies streamed both ways under `ServeLimits`' caps, and WebSocket upgrades terminated here and relayed message by
message. Our credentials never travel on (`X-Daytona-*`, a serve token in `Authorization`), and a root-relative
`Location` is rewritten to stay under the link's prefix.

The links themselves (tokens, signing, expiry) are services/server/preview.py's `PreviewState`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from yarl import URL

from services.errors import InvalidInput, SandbenchError, SandboxNotFound, TooLarge
from services.port_forward import PortClosed, check_port
from services.proxy_headers import HOP, request_header_kept
from services.proxy_headers import WS_OWN as BASE_WS_OWN
from services.server.auth import TokenTable
from services.server.context import SlowBody, prepared_socket, state_of
from services.server.limits import ServeLimits
from services.server.preview import (
    TOKEN_HEADER,
    PreviewUnauthorized,
    Target,
    UpstreamTimeout,
    port_of,
    preview_of,
)

log = logging.getLogger(__name__)

READ_BUFSIZE = 64 * 1024  # what one connection buffers from the sandbox (1 MiB measured no faster)
WS_CLOSE_TIMEOUT = 2.0
WS_PING = 30.0  # WebSockets may idle (a dev server's reload socket does): pings, not a silence limit, end dead ones
WS_OWN = BASE_WS_OWN | {"origin"}  # serve also drops a browser's Origin on a WebSocket (as before the shared table)


# -- authorising ---------------------------------------------------------------------------------------------------
def _bearer_identity(request: web.Request) -> str | None:
    return preview_of(request).tokens.identity(TokenTable.from_header(request.headers.get("Authorization")))


async def _authorise_standard(request: web.Request) -> Target:
    ps = preview_of(request)
    sandbox_id = request.match_info["id"]
    port = port_of(request)
    presented = request.headers.get(TOKEN_HEADER)
    identity = ps.check_standard(sandbox_id, presented) if presented else None
    if identity is None:
        identity = _bearer_identity(request)
    if identity is None:
        why = "a wrong" if presented else "no"
        raise PreviewUnauthorized(
            f"{why} preview token: send the token of sandbox.get_preview_link({port}) in the {TOKEN_HEADER} header, "
            "or use a signed preview URL"
        )
    return Target(identity, sandbox_id, port, f"/preview/{sandbox_id}/{port}")


async def _authorise_signed(request: web.Request) -> Target:
    key = request.match_info["key"]
    port_text, sep, token = key.partition("-")
    if not sep or not port_text.isdigit():
        raise PreviewUnauthorized("this signed preview URL is not valid")
    port = check_port(int(port_text))
    held = preview_of(request).check_signed(token, port)
    return Target(held.identity, held.sandbox_id, port, f"/signed/{key}")


def _upstream_path(request: web.Request, prefix: str) -> str:
    raw = request.raw_path
    if not raw.startswith(prefix):
        raise InvalidInput("malformed preview path")
    rest = raw[len(prefix) :]
    if rest and not rest.startswith(("/", "?")):
        raise SandboxNotFound("no such preview link")
    # `url + "/x"` on a link that ends in "/" gives "//x": one slash is meant
    return "/" + rest.lstrip("/")


def _forward_headers(request: web.Request, target: Target, *, websocket: bool) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict()
    drop_auth = _bearer_identity(request) is not None  # a serve token is ours: it never reaches the sandbox
    for name, value in request.headers.items():
        if not request_header_kept(name, websocket=websocket, ws_own=WS_OWN):
            continue
        if name.lower() == "authorization" and drop_auth:
            continue
        out.add(name, value)
    out["X-Forwarded-Host"] = request.host
    out["X-Forwarded-Proto"] = request.scheme
    out["X-Forwarded-Prefix"] = target.prefix
    if request.remote:
        out["X-Forwarded-For"] = request.remote
    return out


def _response_headers(upstream: aiohttp.ClientResponse, target: Target) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.headers.items():
        low = name.lower()
        if low in HOP:
            continue
        if low == "location" and value.startswith("/") and not value.startswith("//"):
            value = target.prefix + value  # a root-relative redirect stays under the link
        out.add(name, value)
    return out


async def _owned_running(request: web.Request, target: Target) -> None:
    """The sandbox is still the identity's and running (a link outlives neither)."""
    svc = state_of(request).service(target.identity)
    try:
        await svc.get(target.sandbox_id)
    except SandboxNotFound:
        if await _gone(request, target.sandbox_id):  # not merely someone else's, for a bearer token
            preview_of(request).forget(target.sandbox_id)  # deleted: its tokens go with it
        raise PreviewUnauthorized("this preview link's sandbox no longer exists") from None


async def _gone(request: web.Request, sandbox_id: str) -> bool:
    try:
        await state_of(request).provider.get(sandbox_id)
    except SandboxNotFound:
        return True
    return False


async def proxy_standard(request: web.Request) -> web.StreamResponse:
    return await _proxy(request, await _authorise_standard(request))


async def proxy_signed(request: web.Request) -> web.StreamResponse:
    return await _proxy(request, await _authorise_signed(request))


# The preview routes carry their own credentials: the server's bearer-token middleware lets them through.
proxy_standard.no_bearer_auth = True  # type: ignore[attr-defined]
proxy_signed.no_bearer_auth = True  # type: ignore[attr-defined]


async def _proxy(request: web.Request, target: Target) -> web.StreamResponse:
    ps = preview_of(request)
    path = _upstream_path(request, target.prefix)  # a malformed path is refused before any work
    await _owned_running(request, target)
    with ps.slot(target.identity):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _proxy_websocket(request, target, path)
        return await _proxy_http(request, target)


async def _body(request: web.Request, limits: ServeLimits, over: list[bool]) -> AsyncIterator[bytes]:
    total = 0
    while True:
        try:
            chunk = await asyncio.wait_for(request.content.readany(), limits.body_timeout)
        except TimeoutError:
            over.append(False)
            raise
        if not chunk:
            return
        total += len(chunk)
        if total > limits.preview_max_body_bytes:
            over.append(True)
            raise TooLarge("request body too large")
        yield chunk


def _body_refused(over: list[bool], limits: ServeLimits) -> SandbenchError:
    """Why the client's body was not passed on: over the cap (413), or stalled past the body timeout (408)."""
    if over[0]:
        return _too_large(limits)
    return SlowBody(f"the request body did not arrive within {limits.body_timeout:g} s")


def _too_large(limits: ServeLimits) -> TooLarge:
    mib = limits.preview_max_body_bytes // (1024 * 1024)
    return TooLarge(
        f"the request body is over the preview limit of {mib} MiB (sandbench serve --preview-max-body-mib raises it)"
    )


async def _proxy_http(request: web.Request, target: Target) -> web.StreamResponse:
    ps = preview_of(request)
    if request.content_length is not None and request.content_length > ps.limits.preview_max_body_bytes:
        raise _too_large(ps.limits)
    for attempt in range(2):
        sock, (host, port), remembered = await ps.forwarder.new_socket(target.sandbox_id, target.port)
        try:
            return await _request_upstream(request, target, sock, host, port)
        except PortClosed:
            ps.forwarder.invalidate(target.sandbox_id, target.port)
            if remembered and attempt == 0:
                continue  # refused before a byte was sent: the server moved; look again
            raise
        finally:
            sock.close()  # aiohttp holds its own reference to the connection by now
    raise AssertionError("unreachable")


async def _request_upstream(
    request: web.Request, target: Target, sock: socket.socket, host: str, port: int
) -> web.StreamResponse:
    limits = preview_of(request).limits
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    url = URL(f"http://{netloc}{_upstream_path(request, target.prefix)}", encoded=True)
    over: list[bool] = []
    connector = aiohttp.TCPConnector(force_close=True, limit=1, socket_factory=lambda _addr: sock)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=limits.preview_timeout)
    try:
        async with (
            aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                read_bufsize=READ_BUFSIZE,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=timeout,
            ) as session,
            session.request(
                request.method,
                url,
                headers=_forward_headers(request, target, websocket=False),
                data=_body(request, limits, over) if request.body_exists else None,
                allow_redirects=False,
                compress=None,
                chunked=None,
            ) as upstream,
        ):
            return await _relay_response(request, upstream, target, limits)
    except (aiohttp.ClientConnectorError, ConnectionRefusedError):
        raise PortClosed(f"the connection to port {target.port} in the sandbox was refused") from None
    except (TimeoutError, aiohttp.ServerTimeoutError):
        if over:
            raise _body_refused(over, limits) from None
        raise UpstreamTimeout(
            f"the server on port {target.port} in the sandbox did not answer within {limits.preview_timeout:g} s"
        ) from None
    except aiohttp.ClientError as exc:
        if over:  # our own body reader gave up: the client's fault, not the sandbox's
            raise _body_refused(over, limits) from None
        log.info("preview %s %s: upstream failed: %s", request.method, target.prefix, type(exc).__name__)
        raise PortClosed(f"the server on port {target.port} in the sandbox closed the connection") from None
    except TooLarge:
        raise _too_large(limits) from None


async def _relay_response(
    request: web.Request, upstream: aiohttp.ClientResponse, target: Target, limits: ServeLimits
) -> web.StreamResponse:
    resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    resp.headers.extend(_response_headers(upstream, target))
    await resp.prepare(request)
    sent = 0
    try:
        async for chunk in upstream.content.iter_any():
            sent += len(chunk)
            if sent > limits.preview_max_response_bytes:
                # the head is out: a short body on a closed connection is the only honest end (never one that
                # looks complete)
                log.info("preview %s: response cut at the %d-byte limit", target.prefix, sent - len(chunk))
                _drop(request)
                return resp
            await resp.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        # the head is sent: all we can do is end the stream early
        log.info("preview %s: upstream stream ended: %s", target.prefix, type(exc).__name__)
        _drop(request)
        return resp
    await resp.write_eof()
    return resp


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


async def _proxy_websocket(request: web.Request, target: Target, path: str) -> web.StreamResponse:
    ps = preview_of(request)
    limits = ps.limits
    sock = await ps.forwarder.connect(target.sandbox_id, target.port)
    host, port = sock.getpeername()[:2]
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    headers = _forward_headers(request, target, websocket=True)
    try:
        upstream = await connect(
            f"ws://{netloc}{path}",
            sock=sock,
            origin=request.headers.get("Origin"),  # type: ignore[arg-type]
            subprotocols=protocols or None,  # type: ignore[arg-type]
            additional_headers=list(headers.items()),
            user_agent_header=None,
            compression=None,
            open_timeout=limits.preview_timeout,
            ping_interval=WS_PING,  # a dead sandbox server is noticed; an idle live one is left alone
            ping_timeout=WS_PING,
            close_timeout=WS_CLOSE_TIMEOUT,  # a server slow to close must not hold the identity's slot long
            max_size=limits.preview_max_body_bytes,
        )
    except InvalidStatus as exc:
        sock.close()
        raise PortClosed(
            f"the server on port {target.port} in the sandbox refused the WebSocket (HTTP {exc.response.status_code})"
        ) from None
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        sock.close()
        log.info("preview websocket %s: %s", target.prefix, type(exc).__name__)
        raise PortClosed(f"the server on port {target.port} in the sandbox did not accept a WebSocket") from None
    client = web.WebSocketResponse(
        protocols=[upstream.subprotocol] if upstream.subprotocol else (),
        max_msg_size=limits.preview_max_body_bytes,
        autoping=True,
        heartbeat=WS_PING,  # likewise a dead client
        timeout=WS_CLOSE_TIMEOUT,
    )
    try:
        await prepared_socket(request, client)
        await _relay_websocket(client, upstream)
    finally:
        await upstream.close()
        await client.close()
    return client


async def _relay_websocket(client: web.WebSocketResponse, upstream: ClientConnection) -> None:
    async def down() -> None:  # the sandbox's server → the client
        try:
            while True:
                msg = await upstream.recv()
                if isinstance(msg, str):
                    await client.send_str(msg)
                else:
                    await client.send_bytes(msg)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            await client.close(code=rcvd.code if rcvd else 1000, message=(rcvd.reason if rcvd else "").encode())

    async def up() -> None:  # the client → the sandbox's server
        async for msg in client:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await upstream.send(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await upstream.send(msg.data)
            else:
                break
        await upstream.close(code=client.close_code or 1000)

    tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_route("*", r"/preview/{id}/{port:\d+}{tail:.*}", proxy_standard)
    r.add_route("*", "/signed/{key}{tail:.*}", proxy_signed)

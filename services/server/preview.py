"""Preview links of `sandbench serve`: `sandbox.get_preview_link(port)`, signed preview URLs, and the proxy behind them.

The control plane answers as Daytona does (daytona-wire.md §3.1): `GET /api/sandbox/{id}/ports/{port}/preview-url`
→ `{sandboxId, url, token}`; `GET .../signed-preview-url?expiresInSeconds=N` → `{sandboxId, port, token, url}`;
`POST .../signed-preview-url/{token}/expire`. The URLs are on the server's own address, path-style (one machine
has no wildcard DNS):

- standard: `http://HOST:PORT/preview/{sandboxId}/{port}/...`, with the token in the `X-Daytona-Preview-Token`
  header (or the API key as `Authorization: Bearer`, as Daytona allows). One token per sandbox, kept in memory.
- signed: `http://HOST:PORT/signed/{port}-{token}/...`: the token is the credential, bound to one sandbox and one
  port, valid until it expires (60 s by default) or is expired by the API. It does not name the sandbox.

Every request is checked (public sandboxes are refused at create, so there is no unauthenticated preview); then it
is proxied to the port inside the sandbox (services/port_forward.py): any method, bodies streamed both ways, and
WebSocket upgrades (terminated here and relayed message by message). The proxy never forwards our credentials —
`X-Daytona-*` headers and an `Authorization` header holding a serve token stay here — and it rewrites a
root-relative `Location` to stay under the link's prefix. Bounded per `ServeLimits` (`preview_*`): connections per
identity, request and response body sizes, how long the sandbox's server may stay silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from yarl import URL

from services.errors import InvalidInput, SandbenchError, SandboxNotFound, TooLarge
from services.models import SandboxInfo, SandboxState
from services.port_forward import PortClosed, PortForwarder, check_port
from services.sandbox_service import SandboxService
from services.server import wire
from services.server.auth import TokenTable
from services.server.context import SlowBody, find_sandbox, identity_of, service_of, state_of
from services.server.limits import OverLimit, ServeLimits

log = logging.getLogger(__name__)

PREVIEW_KEY: web.AppKey[PreviewState] = web.AppKey("sandbench_preview")
TOKEN_HEADER = "X-Daytona-Preview-Token"  # noqa: S105 - a header name
SIGNED_DEFAULT = 60  # seconds, as Daytona
SIGNED_MAX = 7 * 24 * 3600
EXPIRED_KEPT = 3600.0  # an expired signed token is remembered this long, to say "expired" rather than "unknown"
READ_BUFSIZE = 64 * 1024  # what one connection buffers from the sandbox (1 MiB measured no faster)
WS_CLOSE_TIMEOUT = 2.0
WS_PING = 30.0  # WebSockets may idle (a dev server's reload socket does): pings, not a silence limit, end dead ones
# Hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy itself sets; never copied across.
HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
    )
)
WS_OWN = frozenset(
    h.lower()
    for h in (
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Accept",
        "Origin",
        "Content-Length",
    )
)


class PreviewUnauthorized(SandbenchError):
    title = "Unauthorized"
    http_status = 401
    http_code = "UNAUTHORIZED"


class PreviewExpired(SandbenchError):
    title = "Expired"
    http_status = 403
    http_code = "PREVIEW_EXPIRED"


class UpstreamTimeout(SandbenchError):
    title = "Timed out"
    http_status = 504
    http_code = "PREVIEW_TIMEOUT"


@dataclass
class Signed:
    identity: str
    sandbox_id: str
    port: int
    expires: float  # time.time()


@dataclass(frozen=True)
class Target:
    """An authorised preview request: whose, which sandbox and port, and the path prefix of its link."""

    identity: str
    sandbox_id: str
    port: int
    prefix: str


class PreviewState:
    """The preview tokens (in memory: a restart of the server invalidates every link) and open connections."""

    def __init__(self, forwarder: PortForwarder, limits: ServeLimits, tokens: TokenTable):
        self.forwarder = forwarder
        self.limits = limits
        self.tokens = tokens
        self._standard: dict[str, tuple[str, str]] = {}  # sandbox id → (identity, token)
        self._signed: dict[str, Signed] = {}
        self._open: Counter[str] = Counter()
        self._watched: set[str] = set()  # identities whose service we listen to
        self._tasks: set[asyncio.Task[None]] = set()

    def watch(self, svc: SandboxService) -> None:
        """Follow the sandboxes of `svc`'s identity: a start resets the sandbox's standard token (as Daytona's does
        on a restart), a stop lets its namespace helpers go at once, a delete takes its tokens too."""
        if svc.identity in self._watched:
            return
        self._watched.add(svc.identity)

        def changed(info: SandboxInfo) -> None:
            if info.state is SandboxState.STARTING:
                self._standard.pop(info.id, None)
            elif info.state in (SandboxState.STOPPED, SandboxState.ARCHIVED, SandboxState.DELETED):
                if info.state is SandboxState.DELETED:
                    self.forget(info.id)
                task = asyncio.ensure_future(self.forwarder.forget(info.id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        svc.subscribe(changed)

    # -- tokens ----------------------------------------------------------------------------------------------
    def standard_token(self, identity: str, sandbox_id: str) -> str:
        held = self._standard.get(sandbox_id)
        if held is None or held[0] != identity:
            held = (identity, secrets.token_urlsafe(24))
            self._standard[sandbox_id] = held
        return held[1]

    def check_standard(self, sandbox_id: str, presented: str) -> str | None:
        """The identity the sandbox's standard token was issued to, if `presented` is it."""
        held = self._standard.get(sandbox_id)
        if held is None:
            hmac.compare_digest(presented.encode(), b"x" * len(presented))  # same work either way
            return None
        return held[0] if hmac.compare_digest(held[1].encode(), presented.encode("utf-8", "replace")) else None

    def forget(self, sandbox_id: str) -> None:
        self._standard.pop(sandbox_id, None)
        for token in [t for t, s in self._signed.items() if s.sandbox_id == sandbox_id]:
            del self._signed[token]

    def sign(self, identity: str, sandbox_id: str, port: int, seconds: int) -> str:
        now = time.time()
        for token in [t for t, s in self._signed.items() if s.expires + EXPIRED_KEPT < now]:
            del self._signed[token]
        alive = sum(1 for s in self._signed.values() if s.identity == identity and s.expires > now)
        if alive >= self.limits.preview_max_signed:
            raise OverLimit(
                f"too many signed preview URLs: {alive} are alive for this token, the limit; expire some (or "
                "raise sandbench serve --preview-max-signed)"
            )
        token = secrets.token_urlsafe(24)
        self._signed[token] = Signed(identity, sandbox_id, port, now + seconds)
        return token

    def expire(self, identity: str, sandbox_id: str, port: int, token: str) -> None:
        held = self._signed.get(token)
        if held is None or (held.identity, held.sandbox_id, held.port) != (identity, sandbox_id, port):
            raise SandboxNotFound(f"no signed preview URL with that token for port {port} of this sandbox")
        held.expires = min(held.expires, time.time())

    def check_signed(self, token: str, port: int) -> Signed:
        held = self._signed.get(token)
        if held is None or held.port != port:
            raise PreviewUnauthorized("this signed preview URL is not valid")
        if held.expires <= time.time():
            raise PreviewExpired("this signed preview URL has expired: ask for a new one")
        return held

    # -- connections -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def slot(self, identity: str) -> Iterator[None]:
        cap = self.limits.preview_max_connections
        if self._open[identity] >= cap:
            raise OverLimit(
                f"too many preview connections: {cap} are open for this token, the limit; close some (or raise "
                "sandbench serve --preview-max-connections)"
            )
        self._open[identity] += 1
        try:
            yield
        finally:
            self._open[identity] -= 1


def preview_of(request: web.Request) -> PreviewState:
    return request.app[PREVIEW_KEY]


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _port(request: web.Request) -> int:
    try:
        return check_port(int(request.match_info["port"]))
    except ValueError:
        raise InvalidInput("port must be a number from 1 to 65535") from None


# -- control plane -----------------------------------------------------------------------------------------------
async def preview_url(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    port = _port(request)
    preview_of(request).watch(service_of(request))
    token = preview_of(request).standard_token(identity_of(request), info.id)
    url = f"{_base(request)}/preview/{info.id}/{port}/"
    return wire.json_response({"sandboxId": info.id, "url": url, "token": token})


async def signed_preview_url(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    port = _port(request)
    raw = request.query.get("expiresInSeconds")
    try:
        seconds = SIGNED_DEFAULT if raw in (None, "") else int(raw)
    except ValueError:
        raise InvalidInput("expiresInSeconds must be a whole number of seconds") from None
    if not 1 <= seconds <= SIGNED_MAX:
        raise InvalidInput(f"expiresInSeconds must be from 1 to {SIGNED_MAX} (7 days)")
    preview_of(request).watch(service_of(request))
    token = preview_of(request).sign(identity_of(request), info.id, port, seconds)
    url = f"{_base(request)}/signed/{port}-{token}/"
    return wire.json_response({"sandboxId": info.id, "port": port, "token": token, "url": url})


async def expire_signed(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    preview_of(request).expire(identity_of(request), info.id, _port(request), request.match_info["token"])
    return web.Response(status=200)


# -- the proxy ---------------------------------------------------------------------------------------------------
def _bearer_identity(request: web.Request) -> str | None:
    return preview_of(request).tokens.identity(TokenTable.from_header(request.headers.get("Authorization")))


async def _authorise_standard(request: web.Request) -> Target:
    ps = preview_of(request)
    sandbox_id = request.match_info["id"]
    port = _port(request)
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
        low = name.lower()
        if low in HOP or low.startswith("x-daytona-") or (websocket and low in WS_OWN):
            continue
        if low == "authorization" and drop_auth:
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
        await client.prepare(request)
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


async def custom_proxy_api(request: web.Request) -> web.Response:
    return wire.error_response(
        501,
        "the API for custom preview proxies (/api/preview/...) is not supported by sandbench serve: its preview "
        "links are served by sandbench serve itself",
        "NOT_IMPLEMENTED",
        request,
    )


# -- wiring ------------------------------------------------------------------------------------------------------
def add_routes(app: web.Application) -> None:
    """The preview routes on the server's application (whose `PreviewState` build_app has set)."""
    r = app.router
    r.add_get("/api/sandbox/{id}/ports/{port}/preview-url", preview_url)
    r.add_get("/api/sandbox/{id}/ports/{port}/signed-preview-url", signed_preview_url)
    r.add_post("/api/sandbox/{id}/ports/{port}/signed-preview-url/{token}/expire", expire_signed)
    r.add_route("*", r"/preview/{id}/{port:\d+}{tail:.*}", proxy_standard)
    r.add_route("*", "/signed/{key}{tail:.*}", proxy_signed)
    r.add_route("*", "/api/preview/{rest:.*}", custom_proxy_api)

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

This module keeps the links (`PreviewState`: tokens, signing, expiry, the per-identity caps) and the control plane;
the proxy itself is services/server/preview_proxy.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from services.errors import InvalidInput, SandbenchError, SandboxNotFound
from services.models import SandboxInfo, SandboxState
from services.port_forward import PortForwarder, check_port
from services.sandbox_service import SandboxService
from services.server import wire
from services.server.auth import TokenTable
from services.server.context import find_sandbox, identity_of, service_of
from services.server.limits import OverLimit, ServeLimits

log = logging.getLogger(__name__)

PREVIEW_KEY: web.AppKey[PreviewState] = web.AppKey("sandbench_preview")
TOKEN_HEADER = "X-Daytona-Preview-Token"  # noqa: S105 - a header name
SIGNED_DEFAULT = 60  # seconds, as Daytona
SIGNED_MAX = 7 * 24 * 3600
EXPIRED_KEPT = 3600.0  # an expired signed token is remembered this long, to say "expired" rather than "unknown"


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
                f"too many signed preview URLs: {alive} are alive for this owner, the limit; expire some (or "
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
                f"too many preview connections: {cap} are open for this owner, the limit; close some (or raise "
                "sandbench serve --preview-max-connections)"
            )
        self._open[identity] += 1
        try:
            yield
        finally:
            self._open[identity] -= 1


def preview_of(request: web.Request) -> PreviewState:
    return request.app[PREVIEW_KEY]


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def port_of(request: web.Request) -> int:
    try:
        return check_port(int(request.match_info["port"]))
    except ValueError:
        raise InvalidInput("port must be a number from 1 to 65535") from None


# -- control plane -----------------------------------------------------------------------------------------------
async def preview_url(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    port = port_of(request)
    preview_of(request).watch(service_of(request))
    token = preview_of(request).standard_token(identity_of(request), info.id)
    url = f"{base_url(request)}/preview/{info.id}/{port}/"
    return wire.json_response({"sandboxId": info.id, "url": url, "token": token})


async def signed_preview_url(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    port = port_of(request)
    raw = request.query.get("expiresInSeconds")
    try:
        seconds = SIGNED_DEFAULT if raw in (None, "") else int(raw)
    except ValueError:
        raise InvalidInput("expiresInSeconds must be a whole number of seconds") from None
    if not 1 <= seconds <= SIGNED_MAX:
        raise InvalidInput(f"expiresInSeconds must be from 1 to {SIGNED_MAX} (7 days)")
    preview_of(request).watch(service_of(request))
    token = preview_of(request).sign(identity_of(request), info.id, port, seconds)
    url = f"{base_url(request)}/signed/{port}-{token}/"
    return wire.json_response({"sandboxId": info.id, "port": port, "token": token, "url": url})


async def expire_signed(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    preview_of(request).expire(identity_of(request), info.id, port_of(request), request.match_info["token"])
    return web.Response(status=200)


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
    """The preview control plane (the proxy's routes are preview_proxy.py's), on an app whose `PreviewState`
    build_app has set."""
    r = app.router
    r.add_get("/api/sandbox/{id}/ports/{port}/preview-url", preview_url)
    r.add_get("/api/sandbox/{id}/ports/{port}/signed-preview-url", signed_preview_url)
    r.add_post("/api/sandbox/{id}/ports/{port}/signed-preview-url/{token}/expire", expire_signed)
    r.add_route("*", "/api/preview/{rest:.*}", custom_proxy_api)

"""What every route of `sandbench serve` reads from its request: the server's shared state, the caller's service,
the JSON body (read under the body timeout), the sandbox the path names, and that sandbox as the wire shows it.

The route modules import this, never `services.server.app` (which composes them): the server's modules form layers
(`cli` → `app` → routes → `context` → `wire`/`limits`/`auth`/…), checked by the `server-layers` import contract in
pyproject.toml. The managers a route family owns (PTYs, sessions, interpreter contexts, language servers, previews)
are not here: `build_app` makes each and hands it to its module under that module's own `web.AppKey`.

Each token maps to an owner identity; each owner gets its own `SandboxService` over the one shared provider, so
ownership, auto-start and the audit log work exactly as they do in the app. A token acting for an owner under its
own name (services/server/auth.py) uses the owner's service — one state cache, one idle clock, one set of limits
per owner, however many tokens act for it — and only the audit entries' `who` differs (`audit.acting_as`, set by
the authentication middleware for the request).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import weakref
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from aiohttp import WSCloseCode, web

from services.config import Config
from services.errors import InvalidInput, SandbenchError, SandboxNotFound
from services.models import SandboxInfo
from services.provider import Provider
from services.sandbox_service import SandboxService
from services.server import wire
from services.server.auth import TokenTable
from services.server.limits import OverLimit, ServeLimits
from services.server.sandbox_env import SandboxEnvStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class ServerState:
    """What every handler shares: the provider, a service per identity, the token table, the limits, the sandboxes'
    environment variables, and the per-identity count of toolbox commands running."""

    def __init__(
        self, provider: Provider, config: Config, tokens: TokenTable, limits: ServeLimits, env: SandboxEnvStore
    ) -> None:
        self.provider = provider
        self.config = config
        self.tokens = tokens
        self.limits = limits
        self.env = env
        self._services: dict[str, SandboxService] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._running: dict[str, int] = {}  # toolbox commands running, per identity
        self._copying: dict[str, int] = {}  # workspace copies running, per identity
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()  # open, closed at shutdown
        self._tokens_seen = tokens.version

    def start_auto_stop(self, interval: float = 30.0) -> None:
        """Every `interval` seconds, the lifecycle reaper for every identity the server knows (not only those seen
        since it started): idle sandboxes stop, long-stopped ones are archived and deleted (`SandboxService.reap`)."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                for identity in self.tokens.identities():
                    try:
                        await self.service(identity).reap()
                    except Exception:
                        log.exception("lifecycle pass failed")

        if self._reaper is None:
            self._reaper = asyncio.ensure_future(loop())

    def exec_slot(self, identity: str) -> contextlib.AbstractContextManager[None]:
        """One of the identity's `exec_max_concurrent` toolbox commands, for as long as it runs."""
        cap = self.limits.exec_max_concurrent
        return _slot(
            self._running,
            identity,
            cap,
            f"too many commands running: {cap} are running for this owner's tokens, the limit; wait for one to "
            "finish (or raise sandbench serve --exec-max-concurrent)",
        )

    def copy_slot(self, identity: str) -> contextlib.AbstractContextManager[None]:
        """One of the identity's `copy_max_concurrent` workspace copies (a fork, a snapshot, a create from a
        snapshot), for as long as it runs: each reads or writes a whole workspace on the shared worker threads, so
        one owner's burst of forks would otherwise hold every other owner's file operations behind it."""
        cap = self.limits.copy_max_concurrent
        return _slot(
            self._copying,
            identity,
            cap,
            f"too many workspace copies running: {cap} forks, snapshots or creates from a snapshot are running for "
            "this owner's tokens, the limit; wait for one to finish (or raise sandbench serve --copy-max-concurrent)",
        )

    def service(self, identity: str) -> SandboxService:
        if self._tokens_seen != self.tokens.version:  # serve-tokens was read again: mask its new tokens too
            self._tokens_seen = self.tokens.version
            for known in self._services.values():
                known.redactor.add(*self.tokens.secrets())
        svc = self._services.get(identity)
        if svc is None:
            # others' sandboxes are never shown through the server: a token sees exactly its owner's
            cfg = dataclasses.replace(self.config, identity=identity, show_others=False)
            svc = SandboxService(self.provider, cfg, volume_cap=self.limits.volume_max)
            svc.redactor.add(*self.tokens.secrets())  # a serve token in an agent's command is masked in the log
            svc.checkpoints.enable_feeds()  # serve lives long: checkpoint scans cost what changed (local sandboxes)
            self._services[identity] = svc
        return svc

    async def close(self) -> None:
        """The reaper stopped, every service's audit log closed, the provider closed (the managers close first:
        `build_app`'s cleanup)."""
        if self._reaper is not None:
            self._reaper.cancel()
        for svc in self._services.values():
            svc.checkpoints.close()  # its change feeds
            svc.audit.close()
        await self.provider.close()


STATE_KEY: web.AppKey[ServerState] = web.AppKey("sandbench_state")
# what the authentication middleware sets on each request (typed keys: aiohttp warns on plain strings)
IDENTITY_KEY = web.RequestKey("identity", str)
ACTOR_KEY = web.RequestKey("actor", str)
SERVICE_KEY = web.RequestKey("service", SandboxService)


async def prepared_socket(request: web.Request, ws: web.WebSocketResponse) -> web.WebSocketResponse:
    """`ws` upgraded and known to the server, so a shutdown closes it ("going away") instead of waiting for its
    client to leave (a PTY or a log follow stays open as long as its client does)."""
    await ws.prepare(request)
    state_of(request).sockets.add(ws)
    return ws


async def close_sockets(state: ServerState) -> None:
    """Every open WebSocket closed with 1001: the server is going away (its clients see a drop, not an exit)."""
    open_now = list(state.sockets)
    await asyncio.gather(
        *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"sandbench serve is shutting down") for ws in open_now),
        return_exceptions=True,
    )


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE_KEY]


def service_of(request: web.Request) -> SandboxService:
    """The caller's service (its token's identity), set by the authentication middleware."""
    return request[SERVICE_KEY]


def identity_of(request: web.Request) -> str:
    """The caller's identity — the owner its token acts for, whose limits it counts against — set by the
    authentication middleware."""
    return request[IDENTITY_KEY]


def actor_of(request: web.Request) -> str:
    """The name the caller acts under (its token's acting name; the owner's for an owner's own token)."""
    return request[ACTOR_KEY]


class SlowBody(SandbenchError):
    """A request body that did not arrive within the body timeout."""

    title = "Request too slow"
    http_status = 408
    http_code = "REQUEST_TIMEOUT"


async def read_body(request: web.Request, read: Awaitable[T]) -> T:
    """`read` (a read of the request body), bounded by the body timeout."""
    timeout = state_of(request).limits.body_timeout
    try:
        return await asyncio.wait_for(read, timeout)
    except TimeoutError:
        raise SlowBody(f"the request body did not arrive within {timeout:g} s") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object. The SDK sends `Content-Type: application/json` with empty bodies too."""
    raw = await read_body(request, request.read())
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data


async def find_sandbox(request: web.Request) -> SandboxInfo:
    """The caller's sandbox named by `{id}` in the path: an id, or (as `daytona.get` allows) a name."""
    svc = service_of(request)
    key = request.match_info["id"]
    try:
        return await svc.get(key)
    except SandboxNotFound:
        pass
    for info in await svc.list_sandboxes():
        if info.name == key:
            return info
    raise SandboxNotFound(f"no sandbox {key!r}")


def sid(request: web.Request) -> str:
    """The sandbox id of a toolbox route (`/toolbox/{sid}/...`); the caller's service checks it is theirs."""
    return request.match_info["sid"]


def qpath(request: web.Request, key: str = "path") -> tuple[str, str]:
    """The query parameter `key` as a workspace path: (relative path, the absolute prefix the client used)."""
    return wire.workspace_path(request.query.get(key))


def toolbox_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}/toolbox"


def dto(request: web.Request, info: SandboxInfo) -> dict[str, Any]:
    """`info` as the caller sees it: its volumes, its environment, its labels without the owner label, and its owner
    (the caller's own identity) under `wire.OWNER_KEY`."""
    out = wire.sandbox_dto(info, toolbox_url(request))
    out["volumes"] = wire.mounts_dto(info)
    out["env"] = state_of(request).env.get(info.id)
    out["labels"] = wire.wire_labels(info.labels, service_of(request).owner_label)
    out[wire.OWNER_KEY] = service_of(request).identity  # ownership is the token's: the label stays inside
    return out


@contextlib.contextmanager
def _slot(counts: dict[str, int], identity: str, cap: int, refusal: str) -> Iterator[None]:
    """One of `cap` slots of `identity` in `counts` while the block runs; past the cap, refused at once (429)."""
    if counts.get(identity, 0) >= cap:
        raise OverLimit(refusal)
    counts[identity] = counts.get(identity, 0) + 1
    try:
        yield
    finally:
        counts[identity] -= 1

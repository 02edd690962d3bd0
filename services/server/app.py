"""The aiohttp application of `sandbench serve`: authentication, error mapping, and the control plane under `/api`.

Each token maps to an identity; each identity gets its own `SandboxService` over the one shared `LocalProvider`, so
ownership, auto-start and the audit log work exactly as they do in the app. A sandbox of another owner is answered
like a missing one (404): ids reveal nothing.

Request bodies are read under the body timeout of `ServeLimits` (`read_body`): a stalled body gets a 408 and its
connection is closed, so a slow client cannot hold a handler forever.

Lifecycle calls return final states synchronously (create → `started`, stop → `stopped`), so the SDK's state waits
return without a single poll (daytona-wire.md §7.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from aiohttp import web

from services.checkpoints.auto import LABEL as AUTO_LABEL
from services.config import Config
from services.errors import InvalidInput, ProviderError, SandbenchError, SandboxNotFound, SnapshotNotFound
from services.models import AUTO_ARCHIVE_DEFAULT, AUTO_DELETE_NEVER, Resources, SandboxInfo, SandboxSpec, SandboxState
from services.provider import Provider
from services.sandbox_service import SandboxService
from services.server import lifecycle, snapshots, unsupported, wire
from services.server.auth import TokenTable
from services.server.limits import OverLimit, ServeLimits

log = logging.getLogger(__name__)
T = TypeVar("T")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATE_KEY: web.AppKey[ServerState] = web.AppKey("sandbench_state")


class ServerState:
    """What every handler shares: the provider, a service per identity, the token table, the PTY sessions."""

    def __init__(self, provider: Provider, config: Config, tokens: TokenTable, limits: ServeLimits):
        from services.server.pty import PtyManager
        from services.server.sandbox_env import SandboxEnvStore
        from services.server.sessions import SessionManager

        self.provider = provider
        self.config = config
        self.tokens = tokens
        self.limits = limits
        self._services: dict[str, SandboxService] = {}
        self.ptys = PtyManager(limits)
        self.sessions = SessionManager(limits)
        self.env = SandboxEnvStore(config.data_dir / "serve-env")
        self._reaper: asyncio.Task[None] | None = None
        self._running: dict[str, int] = {}  # toolbox commands running, per identity

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

    @contextlib.contextmanager
    def exec_slot(self, identity: str) -> Iterator[None]:
        """One of the identity's `exec_max_concurrent` toolbox commands, for as long as it runs."""
        cap = self.limits.exec_max_concurrent
        if self._running.get(identity, 0) >= cap:
            raise OverLimit(
                f"too many commands running: {cap} are running for this token, the limit; wait for one to finish "
                "(or raise sandbench serve --exec-max-concurrent)"
            )
        self._running[identity] = self._running.get(identity, 0) + 1
        try:
            yield
        finally:
            self._running[identity] -= 1

    def service(self, identity: str) -> SandboxService:
        svc = self._services.get(identity)
        if svc is None:
            # others' sandboxes are never shown through the server: a token sees exactly its owner's
            cfg = dataclasses.replace(self.config, identity=identity, show_others=False)
            svc = SandboxService(self.provider, cfg, volume_cap=self.limits.volume_max)
            svc.redactor.add(*self.tokens.secrets())  # a serve token in an agent's command is masked in the log
            self._services[identity] = svc
        return svc

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        await self.ptys.close_all()
        await self.sessions.close_all()
        for svc in self._services.values():
            svc.audit.close()
        await self.provider.close()


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE_KEY]


def service_of(request: web.Request) -> SandboxService:
    svc: SandboxService = request["service"]
    return svc


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    st = state_of(request)
    if getattr(request.match_info.handler, "no_bearer_auth", False):
        return await handler(request)  # preview links carry their own token (services/server/preview.py)
    identity = st.tokens.identity(TokenTable.from_header(request.headers.get("Authorization")))
    if identity is None:
        return wire.error_response(401, "missing or unknown bearer token", "UNAUTHORIZED", request)
    request["identity"] = identity
    request["service"] = st.service(identity)
    return await handler(request)


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


async def _refuse_and_close(request: web.Request, exc: SandbenchError) -> web.StreamResponse:
    """Answer, then drop the connection at once: the rest of a stalled body is not worth waiting for (aiohttp
    would otherwise linger, reading it, before closing)."""
    resp = wire.error_response(408, exc.message, "REQUEST_TIMEOUT", request)
    resp.force_close()
    await resp.prepare(request)
    await resp.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except SlowBody as exc:
        log.info("%s %s: %s; connection closed", request.method, request.path, exc.message)
        return await _refuse_and_close(request, exc)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return wire.error_response(exc.status, exc.reason or "error", "HTTP_ERROR", request)
        raise
    except SandbenchError as exc:
        status, code = wire.status_of(exc)
        if exc.public != exc.message:
            log.warning("%s %s: %s", request.method, request.path, exc.message)
        return wire.error_response(status, exc.public, code, request)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return wire.error_response(500, "internal error (details in the server log)", "INTERNAL", request)


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


def _agent_labels(labels: dict[str, str]) -> dict[str, str]:
    """A client's labels without the automatic-checkpoint switch: whether an agent's commands are recorded is the
    operator's choice (config, or `sandbench config NAME auto-checkpoint`), never the agent's."""
    return {k: v for k, v in labels.items() if k != AUTO_LABEL}


def toolbox_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}/toolbox"


def dto(request: web.Request, info: SandboxInfo) -> dict[str, Any]:
    from services.server.volumes import mounts_dto

    out = wire.sandbox_dto(info, toolbox_url(request))
    out["volumes"] = mounts_dto(info)
    out["env"] = state_of(request).env.get(info.id)
    out["labels"] = lifecycle.wire_labels(info.labels, service_of(request).owner_label)
    out[lifecycle.OWNER_KEY] = service_of(request).identity  # ownership is the token's: the label stays inside
    return out


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


def _int(body: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInput(f"{key} must be an integer from {lo} to {hi}")
    return value


def spec_from_create(body: dict[str, Any]) -> SandboxSpec:
    from services.server.volumes import mounts_from_create

    name = body.get("name") or f"sandbox-{secrets.token_hex(4)}"
    if not isinstance(name, str):
        raise InvalidInput("name must be a string")
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise InvalidInput("labels must map strings to strings")
    labels = _agent_labels(labels)
    defaults = Resources()
    resources = Resources(
        cpu=_int(body, "cpu", defaults.cpu, 1, 64),
        memory_gib=float(_int(body, "memory", int(defaults.memory_gib), 1, 256)),
        disk_gib=float(_int(body, "disk", int(defaults.disk_gib), 1, 1024)),
    )
    snapshot = body.get("snapshot")
    if snapshot is not None and not isinstance(snapshot, str):
        raise InvalidInput("snapshot must be a string")
    lifecycle.refuse_unsupported(body)
    return SandboxSpec(
        name=name,
        resources=resources,
        labels=labels,
        auto_stop_minutes=lifecycle.interval(body, "autoStopInterval", 15, hi=10**6),
        # the SDK omits networkBlockAll unless set; local sandboxes stay offline unless network is asked for
        network=body.get("networkBlockAll") is False,
        snapshot=snapshot or None,
        auto_archive_minutes=lifecycle.interval(body, "autoArchiveInterval", AUTO_ARCHIVE_DEFAULT),
        auto_delete_minutes=lifecycle.interval(body, "autoDeleteInterval", AUTO_DELETE_NEVER, lo=None),
        volumes=mounts_from_create(body),
    )


# -- control plane ----------------------------------------------------------------------------------------------
async def create_sandbox(request: web.Request) -> web.Response:
    from services.server.sandbox_env import validate

    body = await json_body(request)
    spec = spec_from_create(body)
    env = validate(body.get("env"))
    svc = service_of(request)
    if snapshots.is_builtin(spec.snapshot):  # the host image itself: a plain create
        spec = dataclasses.replace(spec, snapshot=None)
    if spec.snapshot is not None and spec.snapshot not in {s.name for s in await svc.list_snapshots()}:
        raise SnapshotNotFound(
            f"no snapshot {spec.snapshot!r} (sandbench serve knows the built-in {snapshots.BUILTIN!r} and the "
            "snapshots taken here)"
        )
    if body.get("buildInfo"):
        log.info("create: image builds are not supported locally; the sandbox uses the host's system image")
    info = await svc.create(spec)
    await _keep_env(request, info, env)
    return wire.json_response(dto(request, info))


async def _keep_env(request: web.Request, info: SandboxInfo, env: dict[str, str]) -> None:
    """Keep a new sandbox's environment, or do not keep the sandbox: it would run without what it was given."""
    try:
        state_of(request).env.set(info.id, env)
    except OSError as exc:
        log.error("could not keep the environment of %s: %s", info.id, type(exc).__name__)
        await service_of(request).delete(info.id)
        raise ProviderError("could not keep the sandbox's environment variables; nothing was created") from None


def _matches(info: SandboxInfo, request: web.Request, labels: dict[str, str]) -> bool:
    q = request.query
    shown = lifecycle.wire_labels(info.labels, service_of(request).owner_label)  # filter on what clients see
    if any(shown.get(k) != v for k, v in labels.items()):
        return False
    states = q.getall("states", [])
    if states and wire.sandbox_dto(info, "")["state"] not in states:
        return False
    if "id" in q and not info.id.startswith(q["id"]):
        return False
    return "name" not in q or info.name.startswith(q["name"])


async def list_sandboxes(request: web.Request) -> web.Response:
    svc = service_of(request)
    labels: dict[str, str] = {}
    if "labels" in request.query:
        try:
            raw = json.loads(request.query["labels"])
        except ValueError as exc:
            raise InvalidInput("labels must be a JSON object") from exc
        if not isinstance(raw, dict):
            raise InvalidInput("labels must be a JSON object")
        labels = {str(k): str(v) for k, v in raw.items()}
    items = [i for i in await svc.list_sandboxes() if _matches(i, request, labels)]
    reverse = request.query.get("order", "desc") == "desc"
    by_name = request.query.get("sort") == "name"
    items.sort(key=lambda i: i.name if by_name else i.created_at.timestamp(), reverse=reverse)
    try:
        limit = int(request.query.get("limit", "100"))
        offset = int(request.query.get("cursor") or "0")
    except ValueError as exc:
        raise InvalidInput("limit and cursor must be integers") from exc
    limit = max(1, min(limit, 200))
    page = items[offset : offset + limit]
    nxt = str(offset + limit) if offset + limit < len(items) else None
    return wire.json_response({"items": [dto(request, i) for i in page], "nextCursor": nxt})


async def get_sandbox(request: web.Request) -> web.Response:
    return wire.json_response(dto(request, await find_sandbox(request)))


async def forget_sessions(request: web.Request, sandbox_id: str) -> None:
    """The sandbox is stopping or going away: its PTY and process sessions end first, cleanly."""
    await state_of(request).ptys.forget_sandbox(sandbox_id)
    await state_of(request).sessions.forget_sandbox(sandbox_id)


async def delete_sandbox(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    await forget_sessions(request, info.id)
    await service_of(request).delete(info.id)
    resp = dto(request, dataclasses.replace(info, state=SandboxState.DELETED))
    state_of(request).env.delete(info.id)
    return wire.json_response(resp)


async def start_sandbox(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    return wire.json_response(dto(request, await service_of(request).start(info.id)))


async def stop_sandbox(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    await forget_sessions(request, info.id)
    return wire.json_response(dto(request, await service_of(request).stop(info.id)))


async def archive_sandbox(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    await forget_sessions(request, info.id)
    return wire.json_response(dto(request, await service_of(request).archive(info.id)))


async def set_labels(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    body = await json_body(request)
    labels = body.get("labels")
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise InvalidInput("labels must map strings to strings")
    labels = _agent_labels(labels)
    if AUTO_LABEL in info.labels:
        labels[AUTO_LABEL] = info.labels[AUTO_LABEL]
    new = await service_of(request).set_labels(info.id, labels)
    return wire.json_response({"labels": lifecycle.wire_labels(new.labels, service_of(request).owner_label)})


async def snapshot_sandbox(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    body = await json_body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("a snapshot needs a name")
    snapshots.refuse_builtin_name(name)
    await service_of(request).snapshot(info.id, name)
    return wire.json_response(dto(request, await service_of(request).get(info.id)))


async def fork_sandbox(request: web.Request) -> web.Response:
    """A copy of the sandbox's files in a new sandbox: a temporary snapshot, a create from it, the snapshot gone."""
    info = await find_sandbox(request)
    body = await json_body(request)
    name = body.get("name") or f"{info.name[:50]}-fork-{secrets.token_hex(3)}"
    if not isinstance(name, str):
        raise InvalidInput("name must be a string")
    svc = service_of(request)
    snap = f"fork-{secrets.token_hex(6)}"
    await svc.snapshot(info.id, snap)
    try:
        spec = SandboxSpec(
            name=name,
            resources=info.resources,
            labels=info.labels,
            auto_stop_minutes=info.auto_stop_minutes,
            network=info.network,
            snapshot=snap,
            auto_archive_minutes=info.auto_archive_minutes,
            auto_delete_minutes=info.auto_delete_minutes,
        )
        new = await svc.create(spec)
    finally:
        await svc.delete_snapshot(snap)
    await _keep_env(request, new, state_of(request).env.get(info.id))
    return wire.json_response(dto(request, new))


async def last_activity(request: web.Request) -> web.Response:
    info = await find_sandbox(request)  # ownership first
    await service_of(request).provider.touch(info.id)
    return web.Response(status=204)


async def toolbox_proxy_url(request: web.Request) -> web.Response:
    await find_sandbox(request)
    return wire.json_response({"url": toolbox_url(request)})


def build_app(
    provider: Provider,
    config: Config,
    tokens: TokenTable,
    limits: ServeLimits | None = None,
    *,
    reaper_interval: float = 30.0,
) -> web.Application:
    from services.server import lsp, metrics, preview, toolbox

    app = web.Application(
        # unmatched routes answer 501 naming the feature, after authentication (services/server/unsupported.py)
        middlewares=[error_middleware, auth_middleware, unsupported.unmatched_middleware],
        client_max_size=16 * 1024 * 1024,
    )
    state = ServerState(provider, config, tokens, limits or ServeLimits())
    app[STATE_KEY] = state
    r = app.router
    r.add_post("/api/sandbox", create_sandbox)
    r.add_get("/api/sandbox", list_sandboxes)
    r.add_get("/api/sandbox/{id}", get_sandbox)
    from services.server import volumes  # named volumes: /api/volumes (services/server/volumes.py)

    volumes.add_routes(app)
    r.add_delete("/api/sandbox/{id}", delete_sandbox)
    r.add_post("/api/sandbox/{id}/start", start_sandbox)
    r.add_post("/api/sandbox/{id}/stop", stop_sandbox)
    r.add_post("/api/sandbox/{id}/archive", archive_sandbox)
    r.add_put("/api/sandbox/{id}/labels", set_labels)
    r.add_post("/api/sandbox/{id}/snapshot", snapshot_sandbox)
    r.add_get("/api/sandbox/{id}/toolbox-proxy-url", toolbox_proxy_url)
    r.add_post("/api/sandbox/{id}/last-activity", last_activity)
    r.add_post("/api/sandbox/{id}/fork", fork_sandbox)
    snapshots.add_routes(app)
    lifecycle.add_routes(app)
    metrics.add_routes(app)  # these two before the toolbox's catch-all
    lsp.add_routes(app)
    preview.add_routes(app)
    toolbox.add_routes(app)
    # everything else (ttl, network settings, socket.io, ...) answers 501 naming the feature, after authentication
    r.add_route("*", "/api/sandbox/{id}/{rest:.*}", unsupported.handler)

    async def on_startup(_app: web.Application) -> None:
        state.start_auto_stop(reaper_interval)

    async def on_cleanup(_app: web.Application) -> None:
        await state.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app

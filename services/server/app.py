"""The aiohttp application of `sandbench serve`: `build_app` composes it — authentication and error mapping (the
middlewares here), the shared state and every manager a route family owns, and each route module's routes.

Each token maps to an identity; each identity gets its own `SandboxService` over the one shared `LocalProvider`
(services/server/context.py). Request bodies are read under the body timeout of `ServeLimits` (`context.read_body`):
a stalled body gets a 408 and its connection is closed, so a slow client cannot hold a handler forever.

Nothing imports this module but the CLI (and tests): the route modules read their request through
services/server/context.py, so the server's imports run one way (the `server-layers` contract in pyproject.toml).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from services.audit import acting_as
from services.config import Config
from services.errors import SandbenchError
from services.provider import Provider
from services.server import (
    interpreter,
    lifecycle,
    lsp,
    metrics,
    preview,
    preview_proxy,
    pty,
    sandboxes,
    sessions,
    snapshots,
    toolbox,
    unsupported,
    volumes,
    wire,
)
from services.server.auth import TokenTable
from services.server.context import (
    ACTOR_KEY,
    IDENTITY_KEY,
    SERVICE_KEY,
    STATE_KEY,
    ServerState,
    SlowBody,
    close_sockets,
    state_of,
)
from services.server.limits import ServeLimits
from services.server.sandbox_env import SandboxEnvStore

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    st = state_of(request)
    if getattr(request.match_info.handler, "no_bearer_auth", False):
        return await handler(request)  # preview links carry their own token (services/server/preview.py)
    grant = st.tokens.grant(TokenTable.from_header(request.headers.get("Authorization")))
    if grant is None:
        return wire.error_response(401, "missing or unknown bearer token", "UNAUTHORIZED", request)
    # the owner's in every check (its service, its limits); an acting token's own name in the audit log
    request[IDENTITY_KEY] = grant.owner
    request[ACTOR_KEY] = grant.actor
    request[SERVICE_KEY] = st.service(grant.owner)
    with acting_as(grant.actor if grant.acting else None):
        return await handler(request)


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


def build_app(
    provider: Provider,
    config: Config,
    tokens: TokenTable,
    limits: ServeLimits | None = None,
    *,
    reaper_interval: float = 30.0,
) -> web.Application:
    app = web.Application(
        # unmatched routes answer 501 naming the feature, after authentication (services/server/unsupported.py)
        middlewares=[error_middleware, auth_middleware, unsupported.unmatched_middleware],
        client_max_size=16 * 1024 * 1024,
    )
    limits = limits or ServeLimits()
    env = SandboxEnvStore(config.data_dir / "serve-env")
    state = ServerState(provider, config, tokens, limits, env)
    app[STATE_KEY] = state
    # the managers, each handed to its module under the module's own key (closed below, before the provider)
    ptys = app[pty.MANAGER_KEY] = pty.PtyManager(limits)
    procs = app[sessions.MANAGER_KEY] = sessions.SessionManager(limits)
    contexts = app[interpreter.MANAGER_KEY] = interpreter.InterpreterManager(
        limits.interpreter_max_contexts, limits.interpreter_max_output_bytes, env=env
    )
    servers = app[lsp.KEY] = lsp.LspManager()
    previews = app[preview.PREVIEW_KEY] = preview.PreviewState(preview.PortForwarder(provider), limits, tokens)

    sandboxes.add_routes(app)
    volumes.add_routes(app)  # named volumes: /api/volumes
    snapshots.add_routes(app)
    lifecycle.add_routes(app)
    metrics.add_routes(app)  # these before the toolbox's catch-all
    lsp.add_routes(app)
    preview.add_routes(app)
    preview_proxy.add_routes(app)
    toolbox.add_routes(app)
    # everything else (ttl, network settings, socket.io, ...) answers 501 naming the feature, after authentication
    app.router.add_route("*", "/api/sandbox/{id}/{rest:.*}", unsupported.handler)

    async def on_startup(_app: web.Application) -> None:
        state.start_auto_stop(reaper_interval)

    async def on_cleanup(_app: web.Application) -> None:
        # the sessions and servers end first: they run in sandboxes the provider is about to close
        await servers.close_all()
        await previews.forwarder.close()
        await contexts.close_all()
        await ptys.close_all()
        await procs.close_all()
        await state.close()

    async def on_shutdown(_app: web.Application) -> None:
        await close_sockets(state)  # else a shutdown waits for every attached client to leave

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app

"""What `sandbench serve` answers for the SDK calls one machine cannot serve: a 501 whose message names the feature
("… is not supported by sandbench serve"), never a bare 404 or 405.

A bare 404 reaches agent code as `DaytonaNotFoundError`, as if a sandbox or file were missing, and a 405 as an
unexplained "Method Not Allowed". So every route the SDK's generated clients (`daytona_api_client`,
`daytona_toolbox_api_client`) can call that no handler serves is answered here, by two means that do not depend on
the order in which other modules register routes:

- `unmatched_middleware`: a request the router matched to no route (or to none with its method) is answered 501;
- `respond`: the body of the catch-all routes under `/api/sandbox/{id}/…` and `/toolbox/{id}/…`.

Both name the feature from `FEATURES` (method, path pattern, name, why), a table kept here in one place. A route
some module serves for real is matched by the router first and never reaches this table; a route the SDK does not
know (a typo, a scan) is answered 501 too, naming only the route; one outside `/api` and `/toolbox` (a client whose
API URL lacks its `/api`) says where the API is. Everything here runs after authentication, so an
unauthenticated caller learns nothing of what exists.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from services.server import wire

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ID = r"[^/]+"
_ONE_MACHINE = "one machine has no such thing"

# (method or "*", path regex after the /api or /toolbox/{id} prefix, feature, why). First match wins.
CONTROL: list[tuple[str, str, str, str]] = [
    (
        "POST",
        rf"/sandbox/{_ID}/ttl/{_ID}",
        "TTL (set_ttl)",
        "local sandboxes end by auto-stop, auto-archive and auto-delete intervals (set_auto_delete_interval)",
    ),
    (
        "POST",
        rf"/sandbox/{_ID}/autopause/{_ID}",
        "auto-pause (set_auto_pause_interval)",
        "local sandboxes cannot be paused; use set_autostop_interval",
    ),
    (
        "POST",
        rf"/sandbox/{_ID}/pause",
        "pausing a sandbox (pause)",
        "local sandboxes cannot keep memory across a stop; use stop",
    ),
    (
        "POST",
        rf"/sandbox/{_ID}/network-settings",
        "changing network settings (update_network_settings)",
        "a local sandbox's network is fixed at create (network_block_all)",
    ),
    ("*", rf"/sandbox/{_ID}/secrets", "vault secrets (update_secrets)", "use env_vars or update_env"),
    ("POST", rf"/sandbox/{_ID}/resize", "resizing a sandbox (resize)", "create a new sandbox with the resources"),
    ("POST", rf"/sandbox/{_ID}/recover", "recovering a sandbox (recover)", "start it again, or sandbench doctor"),
    ("POST", rf"/sandbox/{_ID}/backup", "sandbox backups", "use create_snapshot"),
    ("*", rf"/sandbox/{_ID}/ssh-access", "SSH access (create_ssh_access)", "use a PTY session"),
    ("GET", r"/sandbox/ssh-access/validate", "SSH access (validate_ssh_access)", "use a PTY session"),
    (
        "*",
        rf"/sandbox/{_ID}/(signing-key|signing-key/rotate)",
        "signed URLs (download_url, upload_url)",
        "use the file API",
    ),
    (
        "*",
        rf"/sandbox/{_ID}/ports/.*",
        "this port call",
        "only preview-url, signed-preview-url and its expiry are served (get_preview_link, signed preview URLs)",
    ),
    (
        "*",
        rf"/sandbox/{_ID}/telemetry/.*",
        "historical telemetry (get_metrics, logs, traces)",
        "it keeps no telemetry history; use get_metrics_latest",
    ),
    ("*", rf"/sandbox/{_ID}/(build-logs|build-logs-url)", "image build logs", "local sandboxes are never built"),
    ("*", rf"/sandbox/{_ID}/(ancestors|forks|parent)", "fork lineage", "it does not record fork lineage"),
    ("*", rf"/sandbox/{_ID}/(region-quota|organization)", "regions and organisations", _ONE_MACHINE),
    ("*", rf"/sandbox/{_ID}/state", "runner state reports", "it has no runners"),
    ("GET", r"/sandbox/for-runner", "runners", "it has no runners"),
    (
        "GET",
        r"/config",
        "the Daytona configuration (used by get_metrics for historical telemetry)",
        "it keeps no telemetry history; use get_metrics_latest",
    ),
    (
        "*",
        r"/snapshots/[^/]+/(build-logs|build-logs-url)",
        "snapshot build logs",
        "images are never built here (offline)",
    ),
    ("*", r"/snapshots/[^/]+/deactivate", "deactivating snapshots", "local snapshots are always active"),
    ("*", r"/volumes(/.*)?", "volumes", "this server has no volume store"),
    ("*", r"/(organizations|regions|shared-regions)(/.*)?", "regions and organisations", _ONE_MACHINE),
    ("*", r"/webhooks(/.*)?", "webhooks", "it sends no events out"),
    (
        "*",
        r"/(api-keys|users|audit|secret)(/.*)?",
        "account management (API keys, users, audit, secrets)",
        "tokens are lines in the serve-tokens file",
    ),
    (
        "*",
        r"/(docker-registry|object-storage)(/.*)?",
        "image registries and object storage",
        "images are never built or pulled here (offline)",
    ),
    ("*", r"/(runners|jobs|warm-pools)(/.*)?", "runners, jobs and warm pools", _ONE_MACHINE),
    ("*", r"/preview(/.*)?", "the custom preview proxy API", "serve is its own preview proxy: use get_preview_link"),
]

TOOLBOX: list[tuple[str, str, str, str]] = [
    ("*", r"/computeruse(/.*)?", "computer use (desktop automation)", "local sandboxes have no desktop"),
    (
        "*",
        r"/lsp(/.*)?",
        "LSP (create_lsp_server)",
        "only start, stop, did_open, did_close, completions, document_symbols and sandbox_symbols are passed through",
    ),
    ("*", r"/port(/.*)?", "port detection", "it does not list listening ports; get_preview_link reaches any port"),
    (
        "*",
        r"/files/(download|upload-v2)",
        "signed and streamed file transfer URLs",
        "use download_file and upload_file",
    ),
    ("*", r"/process/session/entrypoint(/.*)?", "the sandbox entrypoint session", "local sandboxes run no entrypoint"),
    ("*", r"/init", "daemon initialisation", "the local toolbox needs none"),
    (
        "*",
        r"/process/interpreter(/.*)?",
        "this code interpreter call",
        "create_context, list_contexts, delete_context and run_code are served",
    ),
    ("*", r"/git(/.*)?", "this git operation", "it is not one of the SDK's git calls, which are served"),
]

_COMPILED = {
    plane: [(m, re.compile(p), f, why) for m, p, f, why in table]
    for plane, table in (("api", CONTROL), ("toolbox", TOOLBOX))
}
_TOOLBOX_PREFIX = re.compile(r"^/toolbox/[^/]+")


def feature_of(method: str, path: str) -> tuple[str, str] | None:
    """(feature, why) of an SDK route no handler serves, from the path as the server sees it; None if unknown."""
    if path.startswith("/api/"):
        plane, rest = "api", path[len("/api") :]
    elif (m := _TOOLBOX_PREFIX.match(path)) is not None:
        plane, rest = "toolbox", path[m.end() :]
    else:
        return None
    for want, pattern, feature, why in _COMPILED[plane]:
        if (want == "*" or want == method) and pattern.fullmatch(rest):
            return feature, why
    return None


def message(method: str, path: str, host: str = "HOST:PORT") -> str:
    if path != "/api" and not path.startswith(("/api/", "/toolbox/")):
        # an API URL set without its /api (`http://127.0.0.1:3986`): every call lands here; say what to set
        return (
            f"{method} {path[:200]} is not an API route: sandbench serve's API is under /api — set the API URL "
            f"(DAYTONA_API_URL) to http://{host[:100]}/api (`sandbench serve --print-env` prints it)"
        )
    found = feature_of(method, path)
    if found is None:
        return f"{method} {path[:200]} is not supported by sandbench serve"
    feature, why = found
    return f"{feature} is not supported by sandbench serve: {why}"


def respond(request: web.Request) -> web.Response:
    return wire.error_response(501, message(request.method, request.path, request.host), "NOT_IMPLEMENTED", request)


async def handler(request: web.Request) -> web.Response:
    """A route handler that answers `respond` (for catch-all routes)."""
    return respond(request)


@web.middleware
async def unmatched_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request the router matched to no route, or not with its method, is 501 naming the feature."""
    miss = request.match_info.http_exception
    if miss is not None and miss.status in (404, 405):
        return respond(request)
    return await handler(request)

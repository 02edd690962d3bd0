"""The control plane's sandbox routes under `/api/sandbox` (daytona-wire.md §3): create, list, get, delete, start,
stop, archive, labels, snapshot, fork, last activity, the toolbox proxy URL.

A sandbox of another owner is answered like a missing one (404): ids reveal nothing. Lifecycle calls return final
states synchronously (create → `started`, stop → `stopped`), so the SDK's state waits return without a single poll
(daytona-wire.md §7.4).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from services.checkpoints.auto import LABEL as AUTO_LABEL
from services.errors import InvalidInput, ProviderError, SnapshotNotFound
from services.models import AUTO_ARCHIVE_DEFAULT, AUTO_DELETE_NEVER, Resources, SandboxInfo, SandboxSpec, SandboxState
from services.server import lifecycle, pty, sessions, snapshots, wire
from services.server.context import dto, find_sandbox, identity_of, json_body, service_of, state_of, toolbox_url
from services.server.sandbox_env import validate
from services.server.volumes import mounts_from_create

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)


def _int(body: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInput(f"{key} must be an integer from {lo} to {hi}")
    return value


def _agent_labels(labels: dict[str, str]) -> dict[str, str]:
    """A client's labels without the automatic-checkpoint switch: whether an agent's commands are recorded is the
    operator's choice (config, or `sandbench config NAME auto-checkpoint`), never the agent's."""
    return {k: v for k, v in labels.items() if k != AUTO_LABEL}


def spec_from_create(body: dict[str, Any]) -> SandboxSpec:
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
    refuse_beyond_host(svc, spec)
    if spec.snapshot is None:
        info = await svc.create(spec)
    else:
        with state_of(request).copy_slot(identity_of(request)):
            info = await svc.create(spec)
    await _keep_env(request, info, env)
    return wire.json_response(dto(request, info))


def refuse_beyond_host(svc: SandboxService, spec: SandboxSpec) -> None:
    """A local sandbox's limits are cgroup caps on this host: asking for more CPUs, memory or disk than the host
    has is refused (400, the SDK's `DaytonaValidationError`), as `sandbench create` and the create dialog refuse
    it, before anything is made."""
    if svc.provider.name != "local":
        return
    from services.host_limits import HostLimits

    too_much = HostLimits.read(svc.config.data_dir).check(spec.resources)
    if too_much is not None:
        raise InvalidInput(f"{too_much[0]}: {too_much[1]}; nothing was created")


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
    shown = wire.wire_labels(info.labels, service_of(request).owner_label)  # filter on what clients see
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
    await pty.manager(request).forget_sandbox(sandbox_id)
    await sessions.manager(request).forget_sandbox(sandbox_id)


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
    return wire.json_response({"labels": wire.wire_labels(new.labels, service_of(request).owner_label)})


async def snapshot_sandbox(request: web.Request) -> web.Response:
    info = await find_sandbox(request)
    body = await json_body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("a snapshot needs a name")
    snapshots.refuse_builtin_name(name)
    with state_of(request).copy_slot(identity_of(request)):
        await service_of(request).snapshot(info.id, name)
    return wire.json_response(dto(request, await service_of(request).get(info.id)))


async def fork_sandbox(request: web.Request) -> web.Response:
    """A new sandbox whose files are a checkpoint of this one taken now: the checkpoint service's fork (as `sandbench
    fork`), so the fork is a node of the checkpoint tree (`sandbench checkpoints NEW` names its origin) and costs what
    changed since the source's last checkpoint. Resources, labels, network and lifecycle settings are the source's;
    so is its environment. The caller's own service does it: another owner's sandbox is not found, and the new one is
    the caller's."""
    info = await find_sandbox(request)
    body = await json_body(request)
    name = body.get("name") or f"{info.name[:50]}-fork-{secrets.token_hex(3)}"
    if not isinstance(name, str):
        raise InvalidInput("name must be a string")
    with state_of(request).copy_slot(identity_of(request)):
        new, _first = await service_of(request).checkpoints.fork(info.id, name)
    await _keep_env(request, new, state_of(request).env.get(info.id))
    return wire.json_response(dto(request, new))


async def last_activity(request: web.Request) -> web.Response:
    info = await find_sandbox(request)  # ownership first
    await service_of(request).provider.touch(info.id)
    return web.Response(status=204)


async def toolbox_proxy_url(request: web.Request) -> web.Response:
    await find_sandbox(request)
    return wire.json_response({"url": toolbox_url(request)})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/sandbox", create_sandbox)
    r.add_get("/api/sandbox", list_sandboxes)
    r.add_get("/api/sandbox/{id}", get_sandbox)
    r.add_delete("/api/sandbox/{id}", delete_sandbox)
    r.add_post("/api/sandbox/{id}/start", start_sandbox)
    r.add_post("/api/sandbox/{id}/stop", stop_sandbox)
    r.add_post("/api/sandbox/{id}/archive", archive_sandbox)
    r.add_put("/api/sandbox/{id}/labels", set_labels)
    r.add_post("/api/sandbox/{id}/snapshot", snapshot_sandbox)
    r.add_get("/api/sandbox/{id}/toolbox-proxy-url", toolbox_proxy_url)
    r.add_post("/api/sandbox/{id}/last-activity", last_activity)
    r.add_post("/api/sandbox/{id}/fork", fork_sandbox)

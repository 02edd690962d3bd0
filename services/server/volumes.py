"""The Daytona volume routes of `sandbench serve` (issue 12): the wire side only; the service owns the policy
(services/volumes.py: names, the per-identity cap, ownership, mount paths) and the local provider keeps the folders
(services/local/volumes.py).

    POST   /api/volumes                 {"name"} → VolumeDto (state "ready": a local folder is ready when made)
    GET    /api/volumes                 → [VolumeDto] of the caller's identity only
    GET    /api/volumes/{id}            → VolumeDto (by id; a name is accepted too)
    GET    /api/volumes/by-name/{name}  → VolumeDto (404 for a missing one: the SDK's `get(name, create=True)`
                                          creates it then)
    DELETE /api/volumes/{id}            → 200; 409 while a sandbox mounts it

Another identity's volume is a 404, as a missing one. A create's `volumes` ([{volumeId, mountPath, subpath}]) are
read by `mounts_from_create`; `subpath` (an S3 prefix on Daytona) is refused rather than ignored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aiohttp import web

from services.errors import InvalidInput, NotSupported
from services.models import VolumeInfo, VolumeMount
from services.server import wire
from services.server.context import json_body, service_of
from services.volumes import MAX_MOUNTS, mounted_path


def volume_dto(v: VolumeInfo) -> dict[str, Any]:
    return {
        "id": v.id,
        "name": v.name,
        "organizationId": wire.ORG,
        "state": v.state,
        "createdAt": wire.iso(v.created_at),
        "updatedAt": wire.iso(v.last_used_at or v.created_at),
        "lastUsedAt": wire.iso(v.last_used_at) if v.last_used_at is not None else None,
        "errorReason": v.error,
    }


def mounts_from_create(body: dict[str, Any]) -> tuple[VolumeMount, ...]:
    """The create body's `volumes`, shape-checked (the service checks the paths and the volumes themselves)."""
    raw = body.get("volumes")
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_MOUNTS:
        raise InvalidInput(f"volumes must be a list of at most {MAX_MOUNTS} mounts")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput("each volume mount is an object with volumeId and mountPath")
        vid, path = item.get("volumeId"), item.get("mountPath")
        if not isinstance(vid, str) or not vid or not isinstance(path, str):
            raise InvalidInput("each volume mount needs a volumeId (id or name) and a mountPath")
        if item.get("subpath") not in (None, ""):
            raise NotSupported(
                "volume subpaths are not supported by sandbench serve: mount the whole volume and use a folder in it"
            )
        out.append(VolumeMount(volume=vid, path=path))
    return tuple(out)


async def inside_path(request: web.Request, rel: str) -> str:
    """A home-relative path of the file API as the sandbox's processes name it (relative to their home, or the
    absolute path under a volume's mount point, which is not in the workspace they see as their home)."""
    if not rel:
        return "."
    return mounted_path((await service_of(request).get(request.match_info["sid"])).volumes, rel) or rel


async def exec_cwd(request: web.Request, cwd: str) -> str:
    """An exec's absolute cwd as the toolbox resolved it (the home's aliases folded into /home/sandbox), moved to
    the volume's mount point when it lies under one: the file API and exec agree on where `/home/daytona/v` is."""
    if not cwd.startswith(wire.HOME + "/"):
        return cwd
    found = mounted_path((await service_of(request).get(request.match_info["sid"])).volumes, cwd[len(wire.HOME) + 1 :])
    return found or cwd


async def create_volume(request: web.Request) -> web.Response:
    body = await json_body(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidInput("a volume needs a name (a string)")
    info = await service_of(request).create_volume(name)
    return wire.json_response(volume_dto(info))


async def list_volumes(request: web.Request) -> web.Response:
    return wire.json_response([volume_dto(v) for v in await service_of(request).list_volumes()])


async def get_volume(request: web.Request) -> web.Response:
    key = unquote(request.match_info.get("id") or request.match_info.get("name") or "")
    return wire.json_response(volume_dto(await service_of(request).get_volume(key)))


async def delete_volume(request: web.Request) -> web.Response:
    await service_of(request).delete_volume(unquote(request.match_info["id"]))
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/volumes", create_volume)
    r.add_get("/api/volumes", list_volumes)
    r.add_get("/api/volumes/by-name/{name}", get_volume)
    r.add_get("/api/volumes/{id}", get_volume)
    r.add_delete("/api/volumes/{id}", delete_volume)

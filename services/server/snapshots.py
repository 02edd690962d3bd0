"""The snapshot routes of `sandbench serve` under `/api/snapshots` (`daytona.snapshot.*`), with a built-in snapshot.

- **Built in**: `daytona-small`, the name of Daytona's default snapshot, stands for the host's system image every
  local sandbox runs on (1 vCPU, 1 GiB, 3 GiB, as Daytona's default). It is listed first, `general` and `active`,
  so code that looks a snapshot up before `create(CreateSandboxFromSnapshotParams(snapshot=...))` finds one; a
  create from it is a plain create. It cannot be deleted, and no snapshot may take its name.
- **Taken here**: `sandbox.create_snapshot(name)` snapshots (the caller's own, by name; the name is the id).
- **List**: `page` (from 1) and `limit` (1-200, default 100), `name` (a part of the name), `sourceSandboxId`,
  `sort` (`name`, `createdAt`, `lastUsedAt`) and `order` (`asc`, `desc`) as the SDK sends them; the answer is
  `PaginatedSnapshots` (`items`, `total`, `page`, `totalPages`).
- **Create from an image** (`snapshot.create(CreateSnapshotParams(image=...))`): refused at once with 501 and one
  line saying why: an image build or pull needs a registry, a builder and the network, and serve runs offline on
  the host's system image.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from services.errors import Conflict, InvalidInput, SandbenchError, SnapshotNotFound
from services.models import Resources, SnapshotInfo
from services.server import wire
from services.server.context import service_of
from services.server.lifecycle import NotSupported

BUILTIN = "daytona-small"
_STARTED = datetime.now(UTC)  # the built-in snapshot is as old as the server that offers it
LIMIT_DEFAULT = 100
LIMIT_MAX = 200

IMAGE_BUILD_REFUSED = (
    "creating snapshots from an image (snapshot.create) is not supported by sandbench serve: building or pulling "
    "an image needs a registry, a builder and the network, and it runs offline on the host's system image; use "
    f"the built-in snapshot {BUILTIN!r}, or sandbox.create_snapshot(name) to capture a sandbox"
)


class BuiltinSnapshot(SandbenchError):
    """A change to the built-in snapshot: it is the host image itself."""

    title = "Built-in snapshot"
    http_status = 403
    http_code = "FORBIDDEN"


def builtin_dto() -> dict[str, Any]:
    r = Resources()
    return {
        **wire.snapshot_dto(SnapshotInfo(BUILTIN, "local", None, None, _STARTED, None)),
        "general": True,
        "imageName": "sandbench host image",
        "size": None,
        "cpu": r.cpu,
        "mem": round(r.memory_gib),
        "disk": round(r.disk_gib),
        "ref": None,
    }


def is_builtin(name: str | None) -> bool:
    return name == BUILTIN


def refuse_builtin_name(name: str) -> None:
    """A snapshot taken here may not take the built-in's name."""
    if is_builtin(name):
        raise Conflict(f"{BUILTIN!r} is the built-in snapshot (the host image); choose another name")


async def _owned(request: web.Request) -> list[SnapshotInfo]:
    return await service_of(request).list_snapshots()


def _query_int(request: web.Request, key: str, default: int, hi: int | None = None) -> int:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1 or (hi is not None and int(raw) > hi):
        top = f" to {hi}" if hi is not None else " or more"
        raise InvalidInput(f"{key} must be an integer from 1{top}")
    return int(raw)


async def _source_name(request: web.Request, sandbox_id: str) -> str | None:
    """The name of the caller's sandbox `sandbox_id` (snapshots record their source by name); None if unknown."""
    for info in await service_of(request).list_sandboxes():
        if info.id == sandbox_id or info.name == sandbox_id:
            return info.name
    return None


async def list_snapshots(request: web.Request) -> web.Response:
    q = request.query
    page = _query_int(request, "page", 1)
    limit = _query_int(request, "limit", LIMIT_DEFAULT, LIMIT_MAX)
    sort, order = q.get("sort") or "createdAt", q.get("order") or "desc"
    if sort not in ("name", "createdAt", "lastUsedAt") or order not in ("asc", "desc"):
        raise InvalidInput("sort is name, createdAt or lastUsedAt; order is asc or desc")
    snaps = await _owned(request)
    part = q.get("name") or ""
    source = q.get("sourceSandboxId")
    if source:
        name = await _source_name(request, source)
        snaps = [s for s in snaps if name is not None and s.source == name]
    snaps = [s for s in snaps if part.lower() in s.name.lower()]
    if sort == "name":
        snaps.sort(key=lambda s: s.name, reverse=order == "desc")
    else:  # taken snapshots are never used apart from their creation, so lastUsedAt sorts as createdAt
        snaps.sort(key=lambda s: s.created_at, reverse=order == "desc")
    items = [wire.snapshot_dto(s) for s in snaps]
    if not source and part.lower() in BUILTIN:
        items.insert(0, builtin_dto())  # the general snapshot first, as Daytona lists its own
    total = len(items)
    start = (page - 1) * limit
    return wire.json_response(
        {"items": items[start : start + limit], "total": total, "page": page, "totalPages": math.ceil(total / limit)}
    )


async def _find(request: web.Request) -> dict[str, Any]:
    key = unquote(request.match_info["id"])
    if is_builtin(key):
        return builtin_dto()
    for snap in await _owned(request):
        if snap.name == key:
            return wire.snapshot_dto(snap)
    raise SnapshotNotFound(f"no snapshot {key!r}")


async def get_snapshot(request: web.Request) -> web.Response:
    return wire.json_response(await _find(request))


async def activate_snapshot(request: web.Request) -> web.Response:
    """Every snapshot here is active already: answer it as it is."""
    return wire.json_response(await _find(request))


async def delete_snapshot(request: web.Request) -> web.Response:
    name = unquote(request.match_info["id"])
    if is_builtin(name):
        raise BuiltinSnapshot(f"{BUILTIN!r} is the built-in snapshot (the host image) and cannot be deleted")
    await service_of(request).delete_snapshot(name)
    return web.Response(status=204)


async def create_snapshot(request: web.Request) -> web.Response:
    raise NotSupported(IMAGE_BUILD_REFUSED)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/snapshots", list_snapshots)
    r.add_post("/api/snapshots", create_snapshot)
    r.add_get("/api/snapshots/{id}", get_snapshot)
    r.add_delete("/api/snapshots/{id}", delete_snapshot)
    r.add_post("/api/snapshots/{id}/activate", activate_snapshot)

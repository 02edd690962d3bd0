"""Shapes of the Daytona wire protocol (`shared/daytona-wire.md`): DTOs, the error envelope, sandbox paths.

Everything here is pure: sandbench models in, JSON-ready dicts out. The SDK validates responses with strict
pydantic models, so integers stay integers, every required key is present, and timestamps are strings.
"""

from __future__ import annotations

import json
import stat as stat_mod
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services import paths
from services.errors import (
    AlreadyExists,
    Conflict,
    DiskLimitExceeded,
    FileNotFound,
    InvalidInput,
    IsolationUnavailable,
    NotRunning,
    OperationTimeout,
    PathRejected,
    PermissionDenied,
    SandbenchError,
    SandboxNotFound,
    SnapshotNotFound,
    TooLarge,
)
from services.models import FileEntry, SandboxInfo, SandboxState, SnapshotInfo

# The sandbox's home as its processes see it (services.local.launch.SANDBOX_HOME; a test keeps them equal).
HOME = "/home/sandbox"
# Agent code written for Daytona often hard-codes the Daytona image's home: it names the same workspace.
HOME_ALIASES = (HOME, "/home/daytona")
ORG = "sandbench-local"
LANGUAGE_LABEL = "code-toolbox-language"

# every DTO this server answers is of a sandbox the caller's token owns (others' are 404): this key names its owner
# (an extra key the SDK keeps in `additional_properties`; services/server/lifecycle.py says why)
OWNER_KEY = "sandbenchOwner"

_STATE = {
    SandboxState.STARTING: "starting",
    SandboxState.STARTED: "started",
    SandboxState.STOPPING: "stopping",
    SandboxState.STOPPED: "stopped",
    SandboxState.ARCHIVED: "archived",
    SandboxState.ERROR: "error",
    SandboxState.DELETED: "destroyed",
}


def iso(t: datetime | float) -> str:
    dt = t if isinstance(t, datetime) else datetime.fromtimestamp(t, UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sandbox_dto(info: SandboxInfo, toolbox_url: str) -> dict[str, Any]:
    state = _STATE.get(info.state, "unknown")
    desired = "started" if state == "started" else ("archived" if state == "archived" else "stopped")
    if state == "destroyed":
        desired = "destroyed"
    return {
        "id": info.id,
        "organizationId": ORG,
        "name": info.name,
        "snapshot": "sandbench-local",
        "user": "sandbox",
        "env": {},
        "labels": dict(info.labels),
        "public": False,
        "networkBlockAll": not info.network,
        "kvm": False,
        "target": "local",
        "cpu": int(info.resources.cpu),
        "gpu": 0,
        "memory": max(1, round(info.resources.memory_gib)),
        "disk": max(1, round(info.resources.disk_gib)),
        "state": state,
        "desiredState": desired,
        "errorReason": info.error,
        "autoStopInterval": int(info.auto_stop_minutes),
        "autoArchiveInterval": int(info.auto_archive_minutes),
        "autoDeleteInterval": int(info.auto_delete_minutes),
        "createdAt": iso(info.created_at),
        "updatedAt": iso(info.last_activity),
        "lastActivityAt": iso(info.last_activity),
        "toolboxProxyUrl": toolbox_url,
        "volumes": [],
        "daemonVersion": "sandbench",
        "sandboxClass": "container",
        # not part of the DTO schema; the SDK keeps unknown keys in `additional_properties`
        "isolation": str(info.isolation),
    }


def mounts_dto(info: SandboxInfo) -> list[dict[str, Any]]:
    """A sandbox's volume mounts as the DTO's `volumes`."""
    return [{"volumeId": m.volume, "mountPath": m.path, "subpath": None} for m in info.volumes]


def wire_labels(labels: Mapping[str, str], owner_label: str) -> dict[str, str]:
    """A sandbox's labels as a client sees them: without the service's internal owner label."""
    return {k: v for k, v in labels.items() if k != owner_label}


def snapshot_dto(snap: SnapshotInfo) -> dict[str, Any]:
    return {
        "id": snap.name,
        "organizationId": ORG,
        "general": False,
        "name": snap.name,
        "imageName": snap.name,
        "state": "active",
        "size": round((snap.size_bytes or 0) / 1024**3, 6),  # GB, as Daytona reports it
        "entrypoint": None,
        "cpu": 1,
        "gpu": 0,
        "mem": 1,
        "disk": 3,
        "errorReason": None,
        "createdAt": iso(snap.created_at),
        "updatedAt": iso(snap.created_at),
        "lastUsedAt": None,
        "sourceSandboxId": None,
        "ref": snap.source,
    }


def file_info(entry: FileEntry, abs_prefix: str) -> dict[str, Any]:
    mode = entry.mode & 0o7777
    type_bits = {"dir": stat_mod.S_IFDIR, "symlink": stat_mod.S_IFLNK, "file": stat_mod.S_IFREG}.get(entry.kind, 0)
    return {
        "name": entry.name or HOME.rsplit("/", 1)[1],
        "isDir": entry.is_dir,
        "size": int(entry.size),
        "mode": stat_mod.filemode(type_bits | mode),
        "modTime": iso(entry.mtime),
        "modifiedAt": iso(entry.mtime),
        "permissions": f"{mode:04o}",
        "owner": "sandbox",
        "group": "sandbox",
        "path": to_sandbox_path(entry.path, abs_prefix),
    }


def to_sandbox_path(rel: str, abs_prefix: str) -> str:
    """A workspace-relative path as the client named it: absolute under the home if it sent absolute paths."""
    if not abs_prefix:
        return rel
    return f"{abs_prefix}/{rel}" if rel else abs_prefix


def workspace_path(raw: str | None, *, default: str = "") -> tuple[str, str]:
    """Map a path the SDK sent to a workspace-relative one. Returns (relative, prefix the client used).

    The SDK sends absolute paths inside the sandbox (`/home/sandbox/x`, or `/home/daytona/x` from code written for
    Daytona) or paths relative to the work dir (the home). Anything else absolute is outside the workspace:
    refused, as is anything `services.paths.normalize` refuses (`..`, NUL, over-long)."""
    if raw is None or raw == "":
        return paths.normalize(default), ""
    if raw.startswith("/"):
        for home in HOME_ALIASES:
            if raw == home or raw.startswith(home + "/"):
                return paths.normalize(raw[len(home) :].lstrip("/")), home
        raise PathRejected(f"path outside the sandbox workspace: {raw[:200]!r}")
    return paths.normalize(raw), ""


_STATUS: list[tuple[type[SandbenchError], int, str]] = [
    (FileNotFound, 404, "FILE_NOT_FOUND"),
    (SandboxNotFound, 404, "SANDBOX_NOT_FOUND"),
    (SnapshotNotFound, 404, "SNAPSHOT_NOT_FOUND"),
    (PathRejected, 400, "INVALID_FILE_PATH"),
    (InvalidInput, 400, "BAD_REQUEST"),
    (PermissionDenied, 403, "FILE_ACCESS_DENIED"),
    (AlreadyExists, 409, "CONFLICT"),
    (Conflict, 409, "CONFLICT"),
    (NotRunning, 409, "SANDBOX_NOT_RUNNING"),
    (TooLarge, 413, "TOO_LARGE"),
    (DiskLimitExceeded, 507, "DISK_LIMIT"),
    (OperationTimeout, 408, "PROCESS_EXECUTION_TIMEOUT"),
    (IsolationUnavailable, 503, "ISOLATION_UNAVAILABLE"),
]


def status_of(exc: SandbenchError) -> tuple[int, str]:
    explicit = getattr(exc, "http_status", None)
    if isinstance(explicit, int):
        return explicit, str(getattr(exc, "http_code", "ERROR"))
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, "PROVIDER_ERROR"


def error_body(status: int, message: str, code: str, request: web.Request) -> dict[str, Any]:
    return {
        "statusCode": status,
        "message": message,
        "error": message,
        # the SDK's upload reads only this list ("<status>: e1, e2"); everything else reads `message`
        "errors": [message],
        "code": code,
        # the SDK maps (DAYTONA_DAEMON, code) to its typed file/git/process errors
        "source": "DAYTONA_DAEMON",
        "path": request.path,
        "method": request.method,
        "timestamp": iso(datetime.now(UTC)),
    }


def error_response(status: int, message: str, code: str, request: web.Request) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(error_body(status, message, code, request)),
        content_type="application/json",
    )


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data), content_type="application/json")

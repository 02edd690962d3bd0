"""Per-sandbox and per-snapshot metadata files: what `sandbench doctor --repair` rebuilds the state database from.

`sandboxes/<id>/meta.json` records what cannot be recovered from the folder itself: name, owner, labels, resources,
auto-stop, auto-archive, auto-delete, network, ephemeral, uid/gid, creation time and the volumes it mounts.
`snapshots/<stem>.json` does the same for `snapshots/<stem>.tar.gz` (owner, name, source, creation time). Both sit
outside any workspace (the sandbox cannot write them), are 0600 (they name owners) and are written atomically: a temp
file in the same folder, fsync, rename, fsync of the folder. The state database stays the authority while it is
healthy; these files are rewritten whenever one of their fields changes.

Reading is strict: a file that does not parse, or holds a value of the wrong type or a name the provider would
refuse, is `None` (the repair reports it and leaves the folder alone).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.errors import NameRejected
from services.models import Resources, VolumeMount

META_FILE = "meta.json"
VERSION = 1
# what `secrets.token_hex(6)` makes for a sandbox id, and `token_hex(8)` for a snapshot file stem
SANDBOX_ID_RE = re.compile(r"[0-9a-f]{12}")
SNAPSHOT_STEM_RE = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class SandboxMeta:
    id: str
    name: str
    owner: str
    labels: dict[str, str]
    resources: Resources
    auto_stop: int
    network: bool
    ephemeral: bool
    uid: int | None
    gid: int | None
    created_at: float
    auto_archive: int = 10080  # minutes; files written before these were kept lack them: the defaults
    auto_delete: int = -1
    volumes: tuple[VolumeMount, ...] = ()  # named volumes it mounts (volumes/<id>/ in the data dir)


@dataclass(frozen=True)
class SnapshotMeta:
    owner: str
    name: str
    source: str | None
    created_at: float


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` as JSON, all or nothing, mode 0600."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            raw = f.read(1024 * 1024)
        data = json.loads(raw)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_sandbox_meta(folder: Path, meta: SandboxMeta) -> None:
    write_json_atomic(
        folder / META_FILE,
        {
            "version": VERSION,
            "id": meta.id,
            "name": meta.name,
            "owner": meta.owner,
            "labels": dict(meta.labels),
            "resources": {
                "cpu": meta.resources.cpu,
                "memory_gib": meta.resources.memory_gib,
                "disk_gib": meta.resources.disk_gib,
            },
            "auto_stop_minutes": meta.auto_stop,
            "network": meta.network,
            "ephemeral": meta.ephemeral,
            "auto_archive_minutes": meta.auto_archive,
            "auto_delete_minutes": meta.auto_delete,
            "uid": meta.uid,
            "gid": meta.gid,
            "created_at": meta.created_at,
            "volumes": [{"volume": m.volume, "path": m.path} for m in meta.volumes],
        },
    )


def _mounts(raw: object) -> tuple[VolumeMount, ...] | None:
    """The `volumes` list of a sandbox's meta.json (absent in files written before volumes: none), or None."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return None
    out = []
    for d in raw:
        if not (isinstance(d, dict) and isinstance(d.get("volume"), str) and isinstance(d.get("path"), str)):
            return None
        out.append(VolumeMount(volume=d["volume"], path=d["path"]))
    return tuple(out)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(float(v))  # type: ignore[arg-type]


def read_sandbox_meta(folder: Path) -> SandboxMeta | None:
    """The folder's metadata, or None when missing or not valid (see the module docstring)."""
    from services.local.provider import validate_labels, validate_sandbox_name

    d = _read_json(folder / META_FILE)
    if d is None or d.get("version") != VERSION or d.get("id") != folder.name:
        return None
    res, labels = d.get("resources"), d.get("labels")
    if not (
        isinstance(d.get("name"), str)
        and isinstance(d.get("owner"), str)
        and d["owner"]
        and isinstance(labels, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
        and isinstance(res, dict)
        and _is_int(res.get("cpu"))
        and _is_num(res.get("memory_gib"))
        and _is_num(res.get("disk_gib"))
        and _is_int(d.get("auto_stop_minutes"))
        and isinstance(d.get("network"), bool)
        and isinstance(d.get("ephemeral"), bool)
        and (d.get("uid") is None or _is_int(d.get("uid")))
        and (d.get("gid") is None or _is_int(d.get("gid")))
        and _is_num(d.get("created_at"))
        and _is_int(d.get("auto_archive_minutes", 10080))
        and _is_int(d.get("auto_delete_minutes", 0 if d.get("ephemeral") else -1))
    ):
        return None
    if res["cpu"] < 1 or res["memory_gib"] <= 0 or res["disk_gib"] <= 0 or d["auto_stop_minutes"] < 0:
        return None
    mounts = _mounts(d.get("volumes"))
    if mounts is None:
        return None
    try:
        validate_sandbox_name(d["name"])
        clean = validate_labels(labels)
    except NameRejected:
        return None
    return SandboxMeta(
        id=d["id"],
        name=d["name"],
        owner=d["owner"],
        labels=clean,
        resources=Resources(cpu=res["cpu"], memory_gib=float(res["memory_gib"]), disk_gib=float(res["disk_gib"])),
        auto_stop=d["auto_stop_minutes"],
        network=d["network"],
        ephemeral=d["ephemeral"],
        uid=d["uid"],
        gid=d["gid"],
        created_at=float(d["created_at"]),
        auto_archive=d.get("auto_archive_minutes", 10080),
        auto_delete=d.get("auto_delete_minutes", 0 if d["ephemeral"] else -1),
        volumes=mounts,
    )


def snapshot_meta_path(snapshots_dir: Path, file: str) -> Path:
    """`<stem>.json` next to `<stem>.tar.gz`."""
    return snapshots_dir / (file.removesuffix(".tar.gz") + ".json")


def write_snapshot_meta(snapshots_dir: Path, file: str, meta: SnapshotMeta) -> None:
    write_json_atomic(
        snapshot_meta_path(snapshots_dir, file),
        {
            "version": VERSION,
            "file": file,
            "owner": meta.owner,
            "name": meta.name,
            "source": meta.source,
            "created_at": meta.created_at,
        },
    )


def read_snapshot_meta(snapshots_dir: Path, file: str) -> SnapshotMeta | None:
    from services.local.provider import validate_sandbox_name

    d = _read_json(snapshot_meta_path(snapshots_dir, file))
    if d is None or d.get("version") != VERSION or d.get("file") != file:
        return None
    if not (
        isinstance(d.get("owner"), str)
        and d["owner"]
        and isinstance(d.get("name"), str)
        and (d.get("source") is None or isinstance(d.get("source"), str))
        and _is_num(d.get("created_at"))
    ):
        return None
    try:
        validate_sandbox_name(d["name"], "snapshot name")
    except NameRejected:
        return None
    return SnapshotMeta(owner=d["owner"], name=d["name"], source=d["source"], created_at=float(d["created_at"]))

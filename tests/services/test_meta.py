"""The metadata a repair rebuilds from (services/local/meta.py) stays true to the state database, on the real
LocalProvider: written at create, rewritten on label changes, a sidecar per snapshot, and a folder with metadata or
files is never swept away for lacking a row."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from services.config import Config
from services.errors import StateDatabaseDamaged
from services.local import meta
from services.local.provider import LocalProvider
from services.local.repair import repair
from services.models import Resources, SandboxSpec
from services.sandbox_service import SandboxService


async def test_meta_follows_create_and_labels(service: SandboxService, provider: LocalProvider) -> None:
    spec = SandboxSpec(name="m1", resources=Resources(cpu=2, memory_gib=2, disk_gib=4), labels={"a": "1"}, network=True)
    info = await service.create(spec)
    folder = provider.data_dir / "sandboxes" / info.id
    m = meta.read_sandbox_meta(folder)
    assert m is not None and (m.name, m.owner, m.labels["a"], m.resources, m.network) == (
        "m1",
        "tester",
        "1",
        spec.resources,
        True,
    )
    assert oct((folder / meta.META_FILE).stat().st_mode & 0o777) == "0o600"
    await service.set_labels(info.id, {"a": "2", "b": "x"})
    m = meta.read_sandbox_meta(folder)
    assert m is not None and m.labels["a"] == "2" and m.labels["b"] == "x" and m.owner == "tester"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # atomic: no temp file left


async def test_snapshot_record_in_the_store_names_it_and_goes_with_it(
    service: SandboxService, provider: LocalProvider
) -> None:
    """A named snapshot is a checkpoint in the store: its record holds what a repair rebuilds the row from (owner,
    name, source), and deleting the snapshot removes it; no tar.gz or sidecar is written any more."""
    info = await service.create(SandboxSpec(name="s1"))
    await service.snapshot(info.id, "snap")
    snaps = provider.data_dir / "snapshots"
    assert sorted(p.name for p in snaps.iterdir()) == []
    (ckpt,) = [c for c in provider.kept.store.all(info.id) if c.kind == "snapshot"]
    assert (ckpt.owner, ckpt.name, ckpt.source) == ("tester", "snap", "s1")
    await provider.delete_snapshot("snap", "tester")
    assert [c for c in provider.kept.store.all(info.id) if c.kind == "snapshot"] == []


async def test_unlisted_folders_are_kept_and_an_emptied_db_is_refused(config: Config) -> None:
    p = LocalProvider(config.data_dir, owner_label=config.owner_label)
    svc = SandboxService(p, config)
    info = await svc.create(SandboxSpec(name="keep"))
    await svc.write_file(info.id, "work.txt", b"precious")
    await p.close()
    svc.audit.close()
    folder = config.data_dir / "sandboxes" / info.id
    old = time.time() - 3600
    os.utime(folder, (old, old))  # well past the sweep's age
    os.truncate(config.data_dir / "state.db", 0)
    with pytest.raises(StateDatabaseDamaged, match="lists none of the 1 sandbox folders"):
        LocalProvider(config.data_dir, owner_label=config.owner_label)
    assert (folder / "workspace" / "work.txt").read_bytes() == b"precious"
    # an older version's folder (no meta.json) with files in it is kept too, and reported by the repair
    (folder / meta.META_FILE).unlink()
    result = repair(config.data_dir)
    assert result.sandboxes == [] and any("no valid meta.json" in s for s in result.skipped)
    p = LocalProvider(config.data_dir, owner_label=config.owner_label)
    await p.close()
    assert (folder / "workspace" / "work.txt").read_bytes() == b"precious"


def test_invalid_meta_is_not_trusted(tmp_path: Path) -> None:
    folder = tmp_path / "0123456789ab"
    folder.mkdir()
    good = {
        "version": 1,
        "id": folder.name,
        "name": "ok",
        "owner": "me",
        "labels": {},
        "resources": {"cpu": 1, "memory_gib": 1, "disk_gib": 1},
        "auto_stop_minutes": 0,
        "network": False,
        "ephemeral": False,
        "uid": None,
        "gid": None,
        "created_at": 1.0,
    }
    (folder / meta.META_FILE).write_text(json.dumps(good))
    assert meta.read_sandbox_meta(folder) is not None
    for bad in (
        {"name": "../x"},
        {"id": "other"},
        {"labels": {"k": "\x1b[31m"}},
        {"uid": "0"},
        {"resources": {"cpu": True, "memory_gib": 1, "disk_gib": 1}},
        {"resources": {"cpu": 0, "memory_gib": 1, "disk_gib": 1}},
        {"auto_stop_minutes": -1},
    ):
        (folder / meta.META_FILE).write_text(json.dumps({**good, **bad}))
        assert meta.read_sandbox_meta(folder) is None, bad

"""LocalProvider lifecycle round trips on real files: create, stop/start, archive, snapshot, restart, crash."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from services.config import Config
from services.errors import AlreadyExists, SnapshotNotFound
from services.local.provider import LocalProvider
from services.models import Resources, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService


async def test_create_stop_start_keeps_files(service: SandboxService) -> None:
    info = await service.create(
        SandboxSpec(name="rt", resources=Resources(cpu=2, memory_gib=0.5, disk_gib=1), labels={"team": "a"})
    )
    assert info.state is SandboxState.STARTED
    assert info.labels["team"] == "a" and info.owner == "tester"
    assert info.resources == Resources(cpu=2, memory_gib=0.5, disk_gib=1)
    await service.write_file(info.id, "notes.md", b"# hello\n")
    await service.mkdir(info.id, "src/pkg", parents=True)
    await service.write_file(info.id, "src/pkg/m.py", b"x = 1\n")
    assert (await service.stop(info.id)).state is SandboxState.STOPPED
    assert (await service.start(info.id)).state is SandboxState.STARTED
    assert (await service.read_file(info.id, "src/pkg/m.py")).data == b"x = 1\n"


async def test_archive_packs_and_start_restores(service: SandboxService, provider: LocalProvider) -> None:
    info = await service.create(SandboxSpec(name="arc"))
    await service.mkdir(info.id, "data")
    await service.write_file(info.id, "data/keep.txt", b"keep me")
    archived = await service.archive(info.id)
    assert archived.state is SandboxState.ARCHIVED
    ws = provider._workspace(info.id)
    assert not ws.exists(), "an archived sandbox's workspace is packed away"
    assert (provider._dir(info.id) / "archive.ckpt").is_file(), "its checkpoint in the store holds it"
    restored = await service.start(info.id)
    assert restored.state is SandboxState.STARTED
    assert (await service.read_file(info.id, "data/keep.txt")).data == b"keep me"
    if os.geteuid() == 0:
        row = provider.store.get(info.id)
        assert row is not None and ws.stat().st_uid == row.uid
        assert (ws / "data" / "keep.txt").stat().st_uid == row.uid


async def test_snapshot_then_new_sandbox_has_the_same_files(service: SandboxService) -> None:
    src = await service.create(SandboxSpec(name="src"))
    await service.write_file(src.id, "a.txt", b"alpha")
    await service.mkdir(src.id, "d")
    await service.write_file(src.id, "d/b.txt", b"beta")
    snap = await service.snapshot(src.id, "base")
    assert snap.name == "base" and snap.source == "src" and (snap.size_bytes or 0) > 0
    with pytest.raises(AlreadyExists):
        await service.snapshot(src.id, "base")
    assert [s.name for s in await service.list_snapshots()] == ["base"]
    await service.write_file(src.id, "a.txt", b"changed after snapshot")
    copy = await service.create(SandboxSpec(name="copy", snapshot="base"))
    assert (await service.read_file(copy.id, "a.txt")).data == b"alpha"
    assert (await service.read_file(copy.id, "d/b.txt")).data == b"beta"
    with pytest.raises(SnapshotNotFound):
        await service.create(SandboxSpec(name="nope", snapshot="missing"))
    await service.delete_snapshot("base")
    assert await service.list_snapshots() == []


async def test_state_survives_a_process_restart(config: Config) -> None:
    first = LocalProvider(config.data_dir)
    svc = SandboxService(first, config)
    info = await svc.create(SandboxSpec(name="durable", labels={"k": "v"}, auto_stop_minutes=5))
    await svc.write_file(info.id, "f.txt", b"persisted")
    await svc.stop(info.id)
    await svc.close()
    code = (
        "import asyncio\n"
        "from services.config import Config\n"
        "from services.local.provider import LocalProvider\n"
        "from services.sandbox_service import SandboxService\n"
        "async def main():\n"
        "    cfg = Config(identity='tester')\n"
        "    svc = SandboxService(LocalProvider(cfg.data_dir), cfg)\n"
        "    [i] = await svc.list_sandboxes()\n"
        "    print(i.name, i.state, i.labels['k'], i.auto_stop_minutes)\n"
        "    print((await svc.read_file(i.id, 'f.txt')).data.decode())\n"
        "    await svc.close()\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.splitlines() == ["durable stopped v 5", "persisted"]


async def test_ephemeral_sandbox_is_deleted_when_stopped(service: SandboxService, provider: LocalProvider) -> None:
    info = await service.create(SandboxSpec(name="eph", ephemeral=True))
    await service.write_file(info.id, "tmp.txt", b"gone soon")
    stopped = await service.stop(info.id)
    assert stopped.state is SandboxState.DELETED
    assert provider.store.get(info.id) is None
    assert not provider._dir(info.id).exists()
    assert await service.list_sandboxes() == []


async def test_delete_removes_everything(service: SandboxService, provider: LocalProvider) -> None:
    info = await service.create(SandboxSpec(name="del"))
    await service.write_file(info.id, "x", b"x")
    await service.delete(info.id)
    assert provider.store.get(info.id) is None and not provider._dir(info.id).exists()


def test_crash_during_create_leaves_no_half_sandbox(sandbench_home: Path) -> None:
    env = {**os.environ, "SANDBENCH_FAULT": "create-crash"}
    crashed = subprocess.run(
        [sys.executable, "-m", "tui.cli", "create", "halfway"], env=env, capture_output=True, timeout=60
    )
    assert crashed.returncode == 70  # the injected crash, after the workspace exists, before it is recorded
    ws_dirs = list((sandbench_home / "sandboxes").iterdir())
    assert ws_dirs, "the crash left a workspace behind (that is the point of the test)"
    listed = subprocess.run(
        [sys.executable, "-m", "tui.cli", "ls", "--json"], capture_output=True, text=True, timeout=60, check=True
    )
    assert listed.stdout.strip() == "[]"
    assert list((sandbench_home / "sandboxes").iterdir()) == []
    again = subprocess.run([sys.executable, "-m", "tui.cli", "create", "halfway"], capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr


async def test_data_directory_permissions(service: SandboxService, provider: LocalProvider, config: Config) -> None:
    info = await service.create(SandboxSpec(name="perm"))
    assert stat.S_IMODE((config.data_dir / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(provider._workspace(info.id).stat().st_mode) == 0o700
    assert stat.S_IMODE((config.data_dir / "snapshots").stat().st_mode) == 0o700

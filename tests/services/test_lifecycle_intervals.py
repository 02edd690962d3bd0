"""Auto-archive and auto-delete of local sandboxes (issue 12, Lifecycle): the service's reaper archives a sandbox
stopped past its auto-archive interval and deletes one stopped past its auto-delete interval, with Daytona's meanings
(archive 0 = the maximum, delete -1 = never, 0 = on stop); the intervals persist in the state database and in the
sandbox's meta.json; a sandbox started meanwhile is left alone; every act is audited. Real LocalProvider, real bwrap;
the reaper's clock is its `now` argument, the stop time the real one recorded in state.db.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from services.config import Config
from services.errors import InvalidInput, SandboxNotFound
from services.local import meta
from services.local.provider import LocalProvider
from services.local.store import Store
from services.models import AUTO_ARCHIVE_MAX, SandboxInfo, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService

pytestmark = pytest.mark.bwrap


def _audit(config: Config) -> list[dict[str, object]]:
    return [json.loads(line) for line in config.audit_log.read_text().splitlines() if line.strip()]


async def _stopped(service: SandboxService, name: str, **spec: int) -> SandboxInfo:
    info = await service.create(SandboxSpec(name=name, **spec))  # type: ignore[arg-type]
    stopped = await service.stop(info.id)
    assert stopped.stopped_at is not None
    return stopped


async def test_stopped_sandbox_is_archived_after_its_interval(service: SandboxService, config: Config) -> None:
    info = await _stopped(service, "arch", auto_archive_minutes=60)
    t0 = info.stopped_at.timestamp()  # type: ignore[union-attr]
    assert await service.reap(now=t0 + 59 * 60) == []
    assert (await service.get(info.id)).state is SandboxState.STOPPED
    assert await service.reap(now=t0 + 61 * 60) == [info.id]
    archived = await service.get(info.id)
    assert archived.state is SandboxState.ARCHIVED
    assert archived.stopped_at == info.stopped_at  # archived is still stopped, for auto-delete's clock
    assert any(e["op"] == "auto-archive" and e["sandbox"] == info.id for e in _audit(config))
    # an archived sandbox starts again as any other (its files come back)
    await service.write_file(info.id, "back.txt", b"here")
    assert (await service.get(info.id)).state is SandboxState.STARTED


async def test_delete_after_interval_never_and_on_stop(service: SandboxService, config: Config) -> None:
    later = await _stopped(service, "del-later", auto_delete_minutes=30)
    never = await _stopped(service, "del-never")  # default: -1
    assert (later.auto_delete_minutes, never.auto_delete_minutes) == (30, -1)
    t0 = later.stopped_at.timestamp()  # type: ignore[union-attr]
    acted = await service.reap(now=t0 + 31 * 60)
    assert acted == [later.id]
    with pytest.raises(SandboxNotFound):
        await service.get(later.id)
    assert (await service.get(never.id)).state is SandboxState.STOPPED
    assert any(e["op"] == "auto-delete" and e["sandbox"] == later.id for e in _audit(config))
    # 0: deleted as it stops
    eph = await service.create(SandboxSpec(name="del-now", auto_delete_minutes=0))
    assert eph.ephemeral and eph.auto_delete_minutes == 0
    await service.stop(eph.id)
    with pytest.raises(SandboxNotFound):
        await service.get(eph.id)


async def test_archived_sandbox_is_deleted_after_the_delete_interval(service: SandboxService) -> None:
    info = await _stopped(service, "arch-del", auto_archive_minutes=10, auto_delete_minutes=120)
    t0 = info.stopped_at.timestamp()  # type: ignore[union-attr]
    assert await service.reap(now=t0 + 11 * 60) == [info.id]
    assert (await service.get(info.id)).state is SandboxState.ARCHIVED
    assert await service.reap(now=t0 + 121 * 60) == [info.id]
    with pytest.raises(SandboxNotFound):
        await service.get(info.id)


async def test_a_started_sandbox_is_left_alone(service: SandboxService, provider: LocalProvider) -> None:
    info = await _stopped(service, "restarted", auto_archive_minutes=5, auto_stop_minutes=0)
    await service.start(info.id)
    assert (await service.get(info.id)).stopped_at is None
    t0 = info.stopped_at.timestamp()  # type: ignore[union-attr]
    assert await service.reap(now=t0 + 3600) == []  # running (and never auto-stopped): nothing to archive
    # a reaper holding an old view (another process's) cannot act on a sandbox stopped again since
    await service.stop(info.id)
    assert await provider.expire(info.id, "archive", t0) is False
    assert (await service.get(info.id)).state is SandboxState.STOPPED


async def test_set_intervals_persist_with_daytona_meanings(
    service: SandboxService, provider: LocalProvider, config: Config
) -> None:
    info = await service.create(SandboxSpec(name="knobs"))
    assert (info.auto_stop_minutes, info.auto_archive_minutes, info.auto_delete_minutes) == (15, 7 * 24 * 60, -1)
    new = await service.set_intervals(info.id, auto_stop=0, auto_archive=0, auto_delete=-5)
    assert (new.auto_stop_minutes, new.auto_archive_minutes, new.auto_delete_minutes) == (0, AUTO_ARCHIVE_MAX, -1)
    new = await service.set_intervals(info.id, auto_archive=90, auto_delete=0)
    assert (new.auto_stop_minutes, new.auto_archive_minutes, new.auto_delete_minutes) == (0, 90, 0)
    assert new.ephemeral
    assert new.lifecycle_text == "auto-stop never · archive 1h30m · delete on stop"
    with pytest.raises(InvalidInput, match="auto-stop"):
        await service.set_intervals(info.id, auto_stop=-1)
    kept = meta.read_sandbox_meta(config.data_dir / "sandboxes" / info.id)
    assert kept is not None and (kept.auto_archive, kept.auto_delete, kept.ephemeral) == (90, 0, True)
    again = LocalProvider(config.data_dir)  # a fresh process reads what this one wrote
    try:
        row = await again.get(info.id)
        assert (row.auto_archive_minutes, row.auto_delete_minutes) == (90, 0)
    finally:
        await again.close()
    assert any(e["op"] == "set-intervals" for e in _audit(config))


async def test_create_refuses_intervals_past_the_bound_and_creates_nothing(service: SandboxService) -> None:
    # the same bounds as set_intervals: a huge number is a clear error, not an integer overflow in the state DB
    for spec in (
        SandboxSpec(name="huge-archive", auto_archive_minutes=10**30),
        SandboxSpec(name="huge-stop", auto_stop_minutes=10**8),
        SandboxSpec(name="negative-stop", auto_stop_minutes=-5),
    ):
        with pytest.raises(InvalidInput, match="interval"):
            await service.create(spec)
    assert [i.name for i in await service.list_sandboxes()] == []


def test_an_older_state_database_gains_the_columns(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    con = sqlite3.connect(db)
    con.executescript(
        """CREATE TABLE sandboxes (id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, state TEXT NOT NULL,
        labels TEXT NOT NULL, cpu INTEGER NOT NULL, memory_gib REAL NOT NULL, disk_gib REAL NOT NULL,
        auto_stop INTEGER NOT NULL, network INTEGER NOT NULL, ephemeral INTEGER NOT NULL, uid INTEGER, gid INTEGER,
        created_at REAL NOT NULL, last_activity REAL NOT NULL, error TEXT, creator TEXT);
        INSERT INTO sandboxes VALUES ('a','eph','me','stopped','{}',1,1,3,15,0,1,NULL,NULL,1,1,NULL,NULL);
        INSERT INTO sandboxes VALUES ('b','keep','me','started','{}',1,1,3,15,0,0,NULL,NULL,1,1,NULL,NULL);"""
    )
    con.commit()
    con.close()
    store = Store(db)
    try:
        rows = {r.id: r for r in store.all()}
        assert (rows["a"].auto_delete, rows["a"].auto_archive) == (0, 7 * 24 * 60)
        assert rows["a"].stopped_at is not None  # counted as stopped from the upgrade on, never archived at once
        assert (rows["b"].auto_delete, rows["b"].stopped_at) == (-1, None)
    finally:
        store.close()

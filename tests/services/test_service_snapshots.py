"""Snapshots in `SandboxService`: one's own (local, owner-scoped) and shared ones (Daytona reports `owner=None`:
snapshots belong to the organisation). Shared snapshots are listed and usable to create from; deleting one is
refused with one line. Local snapshots keep their owner semantics: others' stay hidden and undeletable.

The semantics run on a stub provider (fast, no processes); the shared path runs end to end through
DaytonaProvider → the `daytona` SDK → `sandbench serve`.
"""

from __future__ import annotations

import builtins
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.config import Config
from services.errors import PermissionDenied, SandbenchError, SnapshotNotFound
from services.models import SandboxSpec, SnapshotInfo
from services.sandbox_service import SandboxService
from tests.services import test_server_harness as harness
from tests.services.serve_helpers import IDENTITY

serve = harness.serve  # the shared fixtures
dservice = harness.dservice

pytestmark = pytest.mark.timeout(120)


def _snap(name: str, owner: str | None) -> SnapshotInfo:
    return SnapshotInfo(name, "stub", owner, None, datetime(2025, 1, 1, tzinfo=UTC), None)


class StubProvider:
    """Only what the snapshot calls need: a fixed list, and a record of deletes."""

    name = "stub"

    def __init__(self, snaps: builtins.list[SnapshotInfo]) -> None:
        self.snaps = snaps
        self.deleted: builtins.list[tuple[str, str]] = []

    async def list_snapshots(self) -> builtins.list[SnapshotInfo]:
        return list(self.snaps)

    async def delete_snapshot(self, name: str, owner: str) -> None:
        if not any(s.name == name and s.owner == owner for s in self.snaps):
            raise SnapshotNotFound(f"no snapshot {name!r}")
        self.deleted.append((name, owner))

    async def close(self) -> None:
        pass


@pytest.fixture
def stub_service(sandbench_home: Path) -> Iterator[tuple[SandboxService, StubProvider]]:
    sandbench_home.mkdir(parents=True, exist_ok=True)
    stub = StubProvider([_snap("mine", IDENTITY), _snap("theirs", "other"), _snap("team", None)])
    cfg = Config(identity=IDENTITY, data_dir=sandbench_home)
    svc = SandboxService(stub, cfg)  # type: ignore[arg-type]  # a stub: only the snapshot calls
    yield svc, stub
    svc.audit.close()


async def test_listing_shows_own_and_shared_not_others(stub_service: tuple[SandboxService, StubProvider]) -> None:
    svc, _ = stub_service
    assert sorted(s.name for s in await svc.list_snapshots()) == ["mine", "team"]


async def test_deleting_a_shared_snapshot_is_refused_in_one_line(
    stub_service: tuple[SandboxService, StubProvider],
) -> None:
    svc, stub = stub_service
    with pytest.raises(PermissionDenied) as err:
        await svc.delete_snapshot("team")
    assert "\n" not in str(err.value) and "shared" in str(err.value)
    assert stub.deleted == []
    await svc.delete_snapshot("mine")
    assert stub.deleted == [("mine", IDENTITY)]
    with pytest.raises(SnapshotNotFound):  # another owner's stays exactly as before: not found, not "refused"
        await svc.delete_snapshot("theirs")
    lines = [json.loads(line) for line in svc.config.audit_log.read_text().splitlines()]
    outcomes = [(e["op"], e.get("name"), e["outcome"]) for e in lines if e["op"] == "delete-snapshot"]
    assert outcomes == [
        ("delete-snapshot", "team", "error:PermissionDenied"),
        ("delete-snapshot", "mine", "ok"),
        ("delete-snapshot", "theirs", "error:SnapshotNotFound"),
    ]


async def test_daytona_snapshots_are_shared_listed_usable_not_deletable(dservice: SandboxService) -> None:
    svc = dservice
    made: list[str] = []
    snap = f"s-{secrets.token_hex(4)}"
    try:
        src = await svc.create(SandboxSpec(name=f"src-{secrets.token_hex(3)}"))
        made.append(src.id)
        await svc.write_file(src.id, "kept.txt", b"from the snapshot")
        await svc.snapshot(src.id, snap)
        listed = [s for s in await svc.list_snapshots() if s.name == snap]
        assert len(listed) == 1 and listed[0].owner is None and listed[0].provider == "daytona"

        copy = await svc.create(SandboxSpec(name=f"copy-{secrets.token_hex(3)}", snapshot=snap))
        made.append(copy.id)
        assert (await svc.read_file(copy.id, "kept.txt")).data == b"from the snapshot"

        with pytest.raises(PermissionDenied) as err:
            await svc.delete_snapshot(snap)
        assert "\n" not in str(err.value) and snap in str(err.value)
        assert snap in [s.name for s in await svc.list_snapshots()]  # still there
    finally:
        for sid in made:
            try:
                await svc.delete(sid)
            except SandbenchError:
                pass
        # the owner removes it where Daytona lets them (here: the provider directly, as the dashboard would)
        try:
            await svc.provider.delete_snapshot(snap, IDENTITY)
        except SandbenchError:
            pass

"""Conformance, snapshots (issue 12): the built-in snapshot `daytona-small` (the host image) is there before any is
made, and `create(CreateSandboxFromSnapshotParams(snapshot=...))` code finds and uses it; `snapshot.create(image=...)`
fails at once in one line saying image builds cannot run offline; `snapshot.list(page, limit)` pages as the SDK
asks. The unmodified `daytona` SDK (async, and the sync client) against real servers and real bubblewrap.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import test_server_harness as harness
from tests.services.serve_helpers import running_serve
from tests.services.test_server_harness import Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]

BUILTIN = "daytona-small"


@pytest.fixture(scope="module")
def fresh() -> Iterator[Serve]:
    """A server of its own: its snapshot list holds only what these tests made."""
    with running_serve(other_owner=False) as srv:
        yield srv


def test_builtin_is_listed_before_any_snapshot_is_made(fresh: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams, Daytona

    d = Daytona(fresh.config())
    page = d.snapshot.list()
    assert [s.name for s in page.items] == [BUILTIN]
    assert (page.total, page.page, page.total_pages) == (1, 1, 1)
    snap = page.items[0]
    assert snap.state == "active" and snap.general is True
    assert (snap.cpu, snap.mem, snap.disk) == (1, 1, 3)
    assert d.snapshot.get(BUILTIN).name == BUILTIN

    # the common pattern: look the snapshot up, then create from it
    wanted = next(s for s in d.snapshot.list().items if s.name == BUILTIN)
    sb = d.create(CreateSandboxFromSnapshotParams(name=unique(), snapshot=wanted.name), timeout=30)
    try:
        assert sb.state.value == "started"
        assert sb.process.exec("echo from-builtin").result.strip() == "from-builtin"
    finally:
        sb.delete()


async def test_builtin_cannot_be_deleted_or_shadowed(sdk: Any) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaError

    with pytest.raises(DaytonaError, match=r"built-in snapshot .*cannot be deleted"):
        await sdk.snapshot.delete(BUILTIN)
    assert (await sdk.snapshot.get(BUILTIN)).state == "active"
    sb = await sdk.create(CreateSandboxFromSnapshotParams(name=unique(), snapshot=BUILTIN), timeout=30)
    with pytest.raises(DaytonaError, match="is the built-in snapshot"):
        await sb.create_snapshot(BUILTIN)
    assert (await sdk.snapshot.activate(BUILTIN)).state == "active"
    await sb.delete()


async def test_create_from_an_image_says_why_at_once(sdk: Any) -> None:
    from daytona import CreateSnapshotParams, DaytonaError, DaytonaNotFoundError, Image

    for image in ("python:3.12", Image.debian_slim("3.12").pip_install("numpy")):
        started = time.monotonic()
        with pytest.raises(DaytonaError) as err:
            await sdk.snapshot.create(CreateSnapshotParams(name=unique("img"), image=image))
        assert time.monotonic() - started < 5
        text = str(err.value)
        assert "is not supported by sandbench serve" in text and "offline" in text, text
        assert "Method Not Allowed" not in text and "\n" not in text
        assert not isinstance(err.value, DaytonaNotFoundError)
        assert err.value.status_code == 501
    assert [s.name for s in (await sdk.snapshot.list()).items if s.name.startswith("img-")] == []


def test_create_from_an_image_with_the_sync_client(serve: Serve) -> None:
    from daytona import CreateSnapshotParams, Daytona, DaytonaError

    d = Daytona(serve.config())
    with pytest.raises(DaytonaError, match="building or pulling an image"):
        d.snapshot.create(CreateSnapshotParams(name=unique("img"), image="ubuntu:22.04"))


def test_list_pages_as_the_sdk_asks(fresh: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams, Daytona, DaytonaError

    d = Daytona(fresh.config())
    sb = d.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    other = d.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    made = [unique("page") for _ in range(4)]
    try:
        for name in made:
            sb.create_snapshot(name)
        other.create_snapshot("from-other")
        everything = {s.name for s in d.snapshot.list().items}
        assert everything == {BUILTIN, "from-other", *made}

        seen: list[str] = []
        for n in (1, 2, 3):
            page = d.snapshot.list(page=n, limit=2)
            assert (page.total, page.page, page.total_pages) == (6, n, 3)
            assert len(page.items) == 2
            seen += [s.name for s in page.items]
        assert sorted(seen) == sorted(everything)  # every snapshot once, none twice
        assert seen[0] == BUILTIN
        assert d.snapshot.list(page=4, limit=2).items == []

        mine = d.snapshot.list(source_sandbox_id=sb.id)
        assert sorted(s.name for s in mine.items) == sorted(made) and mine.total == 4
        assert d.snapshot.list(limit=200).total == 6
        with pytest.raises(DaytonaError):
            d.snapshot.list(page=0)
    finally:
        for name in [*made, "from-other"]:
            d.snapshot.delete(name)
        sb.delete()
        other.delete()
    assert [s.name for s in d.snapshot.list().items] == [BUILTIN]


async def test_list_of_another_owner_shows_only_the_builtin_and_its_own(sdk: Any, serve: Serve) -> None:
    from daytona import AsyncDaytona

    sb = await sdk.create(harness_params(), timeout=30)
    mine = unique("mine")
    await sb.create_snapshot(mine)
    other = AsyncDaytona(serve.config(serve.other_token))
    try:
        names = [s.name for s in (await other.snapshot.list()).items]
        assert BUILTIN in names and mine not in names
    finally:
        await other.close()
        await sdk.snapshot.delete(mine)
        await sb.delete()


def harness_params() -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return CreateSandboxFromSnapshotParams(name=unique())

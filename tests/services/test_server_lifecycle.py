"""Conformance, lifecycle (issue 12): what `sandbench serve` does with the SDK's lifecycle settings — intervals set and
kept, and honoured by the server's own reaper against real sandboxes; `env_vars` in every code interpreter context
and `update_env`; `public=True` and `network_allow_list` refused clearly; the internal owner label never on the wire.
The unmodified `daytona` SDK (async, and the sync client) against a real server and real bubblewrap.

The reaper tests run a server whose reaper ticks every 0.2 s (`--reaper-interval`, a real flag) and move a sandbox's
recorded stop time (or last activity) back in the server's real state database: the intervals stay minutes on the
wire, and nothing waits real minutes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.daytona import DaytonaProvider
from services.models import AUTO_ARCHIVE_MAX, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services import test_server_harness as harness
from tests.services.serve_helpers import running_serve
from tests.services.test_server_harness import Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]

OWNER_LABEL = "sandbench.owner"


async def make(d: Any, **kw: Any) -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return await d.create(CreateSandboxFromSnapshotParams(name=unique(), **kw), timeout=30)


# -- intervals on the wire --------------------------------------------------------------------------------------
async def test_intervals_at_create_are_kept(sdk: Any) -> None:
    sb = await make(sdk, auto_stop_interval=5, auto_archive_interval=1440, auto_delete_interval=2880)
    assert (sb.auto_stop_interval, sb.auto_archive_interval, sb.auto_delete_interval) == (5, 1440, 2880)
    again = await sdk.get(sb.id)
    assert (again.auto_stop_interval, again.auto_archive_interval, again.auto_delete_interval) == (5, 1440, 2880)
    default = await make(sdk)  # Daytona's defaults: 15 min, 7 days, never
    assert (default.auto_stop_interval, default.auto_archive_interval, default.auto_delete_interval) == (
        15,
        7 * 24 * 60,
        -1,
    )
    biggest = await make(sdk, auto_archive_interval=0)  # 0 is "the maximum": what is in force is reported
    assert biggest.auto_archive_interval == AUTO_ARCHIVE_MAX
    eph = await make(sdk, ephemeral=True)
    assert eph.auto_delete_interval == 0
    for s in (sb, default, biggest, eph):
        await s.delete()


async def test_set_intervals_as_the_sdk_examples_do(sdk: Any) -> None:
    """The SDK's auto-archive and auto-delete example scripts, with each value checked after a fresh get."""
    sb = await make(sdk)
    await sb.set_autostop_interval(60)
    await sb.set_auto_archive_interval(60)
    await sb.set_auto_delete_interval(60)
    got = await sdk.get(sb.id)
    assert (got.auto_stop_interval, got.auto_archive_interval, got.auto_delete_interval) == (60, 60, 60)
    await sb.set_auto_delete_interval(0)  # delete on stop
    assert (await sdk.get(sb.id)).auto_delete_interval == 0
    await sb.set_auto_delete_interval(-1)  # never
    await sb.set_autostop_interval(0)  # never stop
    await sb.set_auto_archive_interval(0)  # the maximum
    await sb.refresh_data()
    assert (sb.auto_stop_interval, sb.auto_archive_interval, sb.auto_delete_interval) == (0, AUTO_ARCHIVE_MAX, -1)
    await sb.delete()


def test_set_intervals_with_the_sync_client(serve: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams, Daytona
    from daytona_api_client.exceptions import BadRequestException

    d = Daytona(serve.config())
    sb = d.create(CreateSandboxFromSnapshotParams(name=unique(), auto_delete_interval=90), timeout=30)
    assert sb.auto_delete_interval == 90
    sb.set_auto_archive_interval(120)
    sb.set_autostop_interval(7)
    sb = d.get(sb.id)
    assert (sb.auto_stop_interval, sb.auto_archive_interval, sb.auto_delete_interval) == (7, 120, 90)
    with pytest.raises(BadRequestException, match=r"0 \(the maximum\) or more minutes"):
        sb._sandbox_api.set_auto_archive_interval(sb.id, -3)  # past the SDK's own check: the server's
    sb.delete()


async def test_intervals_of_another_owner_s_sandbox_are_not_found(sdk: Any, serve: Serve) -> None:
    from daytona import AsyncDaytona
    from daytona_api_client_async.exceptions import NotFoundException

    sb = await make(sdk)
    other = AsyncDaytona(serve.config(serve.other_token))
    try:
        with pytest.raises(NotFoundException, match="no sandbox"):
            await other._sandbox_api.set_autostop_interval(sb.id, 0)
    finally:
        await other.close()
    assert (await sdk.get(sb.id)).auto_stop_interval == 15
    await sb.delete()


# -- the reaper, for real ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fast_serve() -> Iterator[Serve]:
    with running_serve("--reaper-interval", "0.2") as srv:
        yield srv


@pytest.fixture
async def fast_sdk(fast_serve: Serve) -> AsyncIterator[Any]:
    from daytona import AsyncDaytona

    client = AsyncDaytona(fast_serve.config())
    yield client
    await client.close()


def backdate(srv: Serve, sandbox_id: str, column: str, seconds: float) -> None:
    """Move a sandbox's recorded time back in the server's real state database."""
    assert column in ("stopped_at", "last_activity")
    con = sqlite3.connect(srv.home / "state.db", timeout=30)
    try:
        cur = con.execute(f"UPDATE sandboxes SET {column} = {column} - ? WHERE id = ?", (seconds, sandbox_id))
        con.commit()
        assert cur.rowcount == 1
    finally:
        con.close()


def audited(srv: Serve, op: str, sandbox_id: str) -> bool:
    lines = (srv.home / "audit.jsonl").read_text().splitlines()
    return any((e := json.loads(line))["op"] == op and e.get("sandbox") == sandbox_id for line in lines if line)


async def state_of(d: Any, sandbox_id: str) -> str:
    from daytona import DaytonaNotFoundError

    try:
        sb = await d.get(sandbox_id)
    except DaytonaNotFoundError:
        return "gone"
    return str(getattr(sb.state, "value", sb.state))


# The list the reaper walks is ordered by creation: each control sandbox is made before the one that must be acted
# on, so once that one has been acted on, the reaper has looked at the control in the same pass and left it alone.
async def test_idle_sandbox_is_auto_stopped(fast_sdk: Any, fast_serve: Serve) -> None:
    keep = await make(fast_sdk, auto_stop_interval=0)
    idle = await make(fast_sdk, auto_stop_interval=1)
    for sb in (keep, idle):
        backdate(fast_serve, sb.id, "last_activity", 3600)
    await wait_until(None, lambda: _is(fast_sdk, idle.id, "stopped"), timeout=20)
    assert await state_of(fast_sdk, keep.id) == "started"  # 0: never auto-stopped
    assert audited(fast_serve, "auto-stop", idle.id)
    for sb in (keep, idle):
        await sb.delete()


async def test_stopped_sandbox_is_auto_archived_then_starts_with_its_files(fast_sdk: Any, fast_serve: Serve) -> None:
    keep = await make(fast_sdk, auto_archive_interval=0)  # the maximum: 30 days
    old = await make(fast_sdk, auto_archive_interval=60)
    await old.fs.upload_file(b"kept through the archive\n", "notes.txt")
    for sb in (keep, old):
        await sb.stop()
        backdate(fast_serve, sb.id, "stopped_at", 2 * 3600)
    await wait_until(None, lambda: _is(fast_sdk, old.id, "archived"), timeout=20)
    assert await state_of(fast_sdk, keep.id) == "stopped"
    assert audited(fast_serve, "auto-archive", old.id)
    archived = await fast_sdk.get(old.id)
    await archived.start(timeout=60)
    assert await archived.fs.download_file("notes.txt") == b"kept through the archive\n"
    for sb in (keep, archived):
        await sb.delete()


async def test_stopped_sandbox_is_auto_deleted(fast_sdk: Any, fast_serve: Serve) -> None:
    keep = await make(fast_sdk)  # auto-delete -1: never
    old = await make(fast_sdk, auto_delete_interval=30)
    for sb in (keep, old):
        await sb.stop()
        backdate(fast_serve, sb.id, "stopped_at", 3600)
    await wait_until(None, lambda: _is(fast_sdk, old.id, "gone"), timeout=20)
    assert await state_of(fast_sdk, keep.id) == "stopped"
    assert audited(fast_serve, "auto-delete", old.id)
    assert not (fast_serve.home / "sandboxes" / old.id).exists()
    # delete 0 set on a stopped sandbox: it goes at the next pass, as "delete immediately upon stopping" says
    await keep.set_auto_delete_interval(0)
    await wait_until(None, lambda: _is(fast_sdk, keep.id, "gone"), timeout=20)


async def test_ephemeral_sandbox_is_deleted_when_it_stops(fast_sdk: Any) -> None:
    sb = await make(fast_sdk, ephemeral=True)
    await sb.stop()
    assert await state_of(fast_sdk, sb.id) == "gone"


async def test_the_app_over_serve_sees_the_intervals(fast_serve: Serve, fast_sdk: Any, tmp_path: Path) -> None:
    cfg = harness.daytona_config(fast_serve, tmp_path)
    svc = SandboxService(DaytonaProvider(cfg), cfg)
    try:
        sb = await make(fast_sdk, auto_archive_interval=1440, auto_delete_interval=4320)
        info = await svc.get(sb.id)
        assert (info.auto_archive_minutes, info.auto_delete_minutes) == (1440, 4320)
        assert info.lifecycle_text == "auto-stop 15m · archive 1d · delete 3d"
        new = await svc.set_intervals(sb.id, auto_stop=30, auto_archive=0, auto_delete=-1)
        assert (new.auto_stop_minutes, new.auto_archive_minutes, new.auto_delete_minutes) == (30, AUTO_ARCHIVE_MAX, -1)
        assert new.state is SandboxState.STARTED
        await svc.delete(sb.id)
    finally:
        await svc.close()


async def _is(d: Any, sandbox_id: str, state: str) -> bool:
    return await state_of(d, sandbox_id) == state


# -- environment ------------------------------------------------------------------------------------------------
async def test_env_vars_reach_code_interpreter_contexts_and_update_env(sdk: Any, serve: Serve) -> None:
    sb = await make(sdk, env_vars={"FOO": "bar", "GONE": "soon"})
    out: list[str] = []
    r = await sb.code_interpreter.run_code(
        "import os; print(os.environ['FOO'])", on_stdout=lambda m: out.append(m.output)
    )
    assert r.error is None and "".join(out) == "bar\n"
    ctx = await sb.code_interpreter.create_context()
    out.clear()
    await sb.code_interpreter.run_code(
        "import os; print(os.environ.get('GONE'))", context=ctx, on_stdout=lambda m: out.append(m.output)
    )
    assert "".join(out) == "soon\n"

    await sb.update_env({"NEW": "fresh", "FOO": "changed"}, unset=["GONE"])
    r2 = await sb.process.exec('echo "$FOO $NEW ${GONE:-unset}"')
    assert r2.result == "changed fresh unset\n"
    assert (await sdk.get(sb.id)).env == {"FOO": "changed", "NEW": "fresh"}
    ctx2 = await sb.code_interpreter.create_context()  # a context started now has the new environment
    out.clear()
    await sb.code_interpreter.run_code(
        "import os; print(os.environ['NEW'])", context=ctx2, on_stdout=lambda m: out.append(m.output)
    )
    assert "".join(out) == "fresh\n"
    with pytest.raises(Exception, match="environment variable name"):
        await sb.update_env({"BAD NAME": "x"})
    await sb.delete()


# -- refused clearly --------------------------------------------------------------------------------------------
async def test_public_sandboxes_are_refused_by_name(sdk: Any) -> None:
    from daytona import DaytonaError

    name = unique()
    from daytona import CreateSandboxFromSnapshotParams

    with pytest.raises(DaytonaError, match=r"public sandboxes \(public=True\) are not supported by sandbench serve"):
        await sdk.create(CreateSandboxFromSnapshotParams(name=name, public=True), timeout=30)
    assert [s.name async for s in sdk.list() if s.name == name] == []  # nothing was made
    sb = await make(sdk, public=False)
    assert sb.public is False
    with pytest.raises(DaytonaError, match="not supported by sandbench serve") as err:
        await sb.set_public(True)
    assert err.value.status_code == 501
    await sb.set_public(False)
    await sb.delete()


async def test_network_allow_list_is_refused_never_ignored(sdk: Any) -> None:
    from daytona import CreateSandboxFromSnapshotParams, DaytonaError

    name = unique()
    with pytest.raises(DaytonaError, match="network_allow_list is not supported by sandbench serve") as err:
        await sdk.create(CreateSandboxFromSnapshotParams(name=name, network_allow_list="10.0.0.0/8"), timeout=30)
    assert "cannot filter by destination" in str(err.value)
    with pytest.raises(DaytonaError, match="domain_allow_list is not supported"):
        await sdk.create(CreateSandboxFromSnapshotParams(name=name, domain_allow_list="pypi.org"), timeout=30)
    assert [s.name async for s in sdk.list() if s.name == name] == []


# -- the owner label stays inside -------------------------------------------------------------------------------
async def test_owner_label_never_on_the_wire(sdk: Any, serve: Serve) -> None:
    from daytona import Daytona, ListSandboxesQuery

    sb = await make(sdk, labels={"team": "a"})
    assert sb.labels == {"team": "a", "code-toolbox-language": "python"}
    assert sb.additional_properties["sandbenchOwner"] == "tester"  # the caller's own identity, apart from labels
    assert OWNER_LABEL not in (await sdk.get(sb.id)).labels
    listed = [s async for s in sdk.list(ListSandboxesQuery(labels={"team": "a"}))]
    assert [s.id for s in listed] == [sb.id] and OWNER_LABEL not in listed[0].labels
    # a client's attempt to set the owner label neither shows nor gives the sandbox away
    new = await sb.set_labels({"team": "b", OWNER_LABEL: "someone-else"})
    assert new == {"team": "b"}
    sync = Daytona(serve.config()).get(sb.id)
    assert sync.labels == {"team": "b"}
    assert [s.id async for s in sdk.list(ListSandboxesQuery(labels={OWNER_LABEL: "tester"}))] == []
    await sb.delete()

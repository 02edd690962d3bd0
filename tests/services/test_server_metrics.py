"""Conformance, metrics (issue 12): `sandbox.get_metrics_latest()` answers from the sandbox's cgroup — memory that a
process in the sandbox really holds, CPU it really burns, the workspace's size on disk — with the unmodified SDK
(async, and the sync client) against a real server and real bubblewrap. Where the host has no per-sandbox cgroups
the call fails at once naming why, never with made-up numbers; `get_metrics` (history) says what to use instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from services.config import Config
from tests.services import test_server_harness as harness
from tests.services.test_server_harness import Serve, unique

serve = harness.serve  # the shared fixture
sdk = harness.sdk  # the shared fixture

pytestmark = [pytest.mark.timeout(120), pytest.mark.bwrap]

MiB = 1024 * 1024
HOLD = 150  # MiB a process in the sandbox writes and holds
# touches every page of HOLD MiB, then burns CPU holding them until the test has seen it (the file `seen`; 20 s at
# most): a fixed 6 s burn took a core from every other test of a 2-core run for the whole time
BUSY = (
    f'python3 -c \'import os, time; x = b"\\x01" * ({HOLD} * 2**20); t = time.time()\n'
    'while not os.path.exists("seen") and time.time() - t < 20:\n for _ in range(100000): pass\''
)


async def make(d: Any, **kw: Any) -> Any:
    from daytona import CreateSandboxFromSnapshotParams

    return await d.create(CreateSandboxFromSnapshotParams(name=unique(), **kw), timeout=30)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := await check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
    return got


async def test_metrics_follow_what_the_sandbox_uses(sdk: Any) -> None:
    sb = await make(sdk)
    idle = await sb.get_metrics_latest()
    assert idle.cpu_count == 1 and idle.mem_total == 1024 * MiB and idle.disk_total == 3 * 1024 * MiB
    assert idle.mem_used < HOLD * MiB
    assert abs(idle.timestamp.timestamp() - time.time()) < 60

    await sb.fs.upload_file(b"\x07" * (8 * MiB), "blob.bin")
    busy_run = asyncio.ensure_future(sb.process.exec(BUSY, timeout=30))
    try:

        async def holding() -> Any:
            m = await sb.get_metrics_latest()
            return m if m.mem_used >= (HOLD - 10) * MiB and m.cpu_used_pct >= 20 else None

        busy = await until(holding)
        assert busy.mem_used <= busy.mem_total and 0 <= busy.cpu_used_pct <= 100
        assert busy.disk_used >= idle.disk_used + 8 * MiB
    finally:
        await sb.fs.upload_file(b"", "seen")
        result = await busy_run
    assert result.exit_code == 0, result.result

    async def released() -> Any:
        m = await sb.get_metrics_latest()
        return m if m.mem_used < HOLD * MiB // 2 and m.cpu_used_pct < busy.cpu_used_pct else None

    await until(released)
    await sb.delete()


def test_metrics_with_the_sync_client(serve: Serve) -> None:
    from daytona import CreateSandboxFromSnapshotParams, Daytona

    d = Daytona(serve.config())
    sb = d.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
    try:
        sb.fs.upload_file(b"\x07" * MiB, "one.bin")
        m = sb.get_metrics_latest()
        assert m.cpu_count == 1 and m.mem_total == 1024 * MiB
        assert 0 <= m.cpu_used_pct <= 100 and 0 <= m.mem_used <= m.mem_total
        assert MiB <= m.disk_used < m.disk_total
    finally:
        sb.delete()


async def test_metrics_of_a_stopped_sandbox_say_so_and_do_not_start_it(sdk: Any) -> None:
    from daytona import DaytonaError, DaytonaNotFoundError

    sb = await make(sdk)
    await sb.stop()
    with pytest.raises(DaytonaError, match="metrics are read from a running sandbox") as err:
        await sb.get_metrics_latest()
    assert not isinstance(err.value, DaytonaNotFoundError)
    assert (await sdk.get(sb.id)).state.value == "stopped"
    await sb.delete()


async def test_metrics_history_names_what_to_use(sdk: Any) -> None:
    from daytona import DaytonaError, DaytonaNotFoundError

    sb = await make(sdk)
    with pytest.raises(DaytonaError, match=r"is not supported by sandbench serve.*use get_metrics_latest") as err:
        await sb.get_metrics()
    assert not isinstance(err.value, DaytonaNotFoundError)
    await sb.delete()


async def test_metrics_of_another_owner_s_sandbox_are_not_found(sdk: Any, serve: Serve) -> None:
    import aiohttp

    sb = await make(sdk)
    async with aiohttp.ClientSession() as http:
        url = f"{serve.base_url}/toolbox/{sb.id}/system/metrics"
        async with http.get(url, headers={"Authorization": f"Bearer {serve.other_token}"}) as resp:
            assert resp.status == 404
            assert "mem" not in await resp.text()
    await sb.delete()


# -- a host without per-sandbox cgroups ----------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def serve_without_cgroups(home: Path) -> AsyncIterator[str]:
    """The real server app on 127.0.0.1 over a real LocalProvider whose cgroup manager found no usable hierarchy
    (an invalid parent name makes the probe report unavailable, as on a host without delegation)."""
    from aiohttp import web

    from services.local.cgroups import CgroupManager
    from services.local.provider import LocalProvider
    from services.server.app import build_app
    from services.server.auth import TokenTable

    token = "t" * 40
    cfg = Config(identity="tester", data_dir=home)
    provider = LocalProvider(home, owner_label=cfg.owner_label)
    provider.launcher.cgroups = CgroupManager("no such parent!")
    assert not provider.launcher.cgroups.available
    runner = web.AppRunner(build_app(provider, cfg, TokenTable({token: "tester"})))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/api|{token}"
    finally:
        await runner.cleanup()


async def test_without_cgroups_metrics_fail_naming_why(sandbench_home: Path) -> None:
    from daytona import AsyncDaytona, CreateSandboxFromSnapshotParams, DaytonaConfig, DaytonaError

    sandbench_home.mkdir(parents=True, exist_ok=True)
    async with serve_without_cgroups(sandbench_home) as where:
        url, token = where.split("|")
        d = AsyncDaytona(DaytonaConfig(api_key=token, api_url=url, target="local"))
        try:
            sb = await d.create(CreateSandboxFromSnapshotParams(name=unique()), timeout=30)
            assert (await sb.process.exec("echo ok")).result.strip() == "ok"  # the sandbox itself works
            started = time.monotonic()
            with pytest.raises(DaytonaError, match=r"not supported by sandbench serve on this host.*cgroups") as err:
                await sb.get_metrics_latest()
            assert "no-cgroup" in str(err.value) and "invalid cgroup parent name" in str(err.value)
            assert time.monotonic() - started < 5
            await sb.delete()
        finally:
            await d.close()

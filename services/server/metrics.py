"""`GET /toolbox/{id}/system/metrics` (`sandbox.get_metrics_latest()`): a sandbox's use of CPU, memory and disk now,
measured, never estimated.

- CPU and memory come from the sandbox's cgroup (`services/local/cgroups.py`): `cpuUsedPct` is the CPU time its
  processes used over the sampling window, as a percentage of the CPUs it was given (`cpuCount`), at most 100;
  `memUsed` is what its cgroup is charged less the page cache, `memCache` that cache, `memTotal` its memory limit.
- Disk is its workspace: `diskUsed` its size on disk (the provider's cached walk), `diskTotal` its disk allowance,
  `diskFree` the difference.
- The window runs from the previous request for the same sandbox when that was 0.2-60 s ago (a client polling
  every second gets the second just gone), else the server reads twice, `SAMPLE_WINDOW` apart.

Where this host offers no per-sandbox cgroups (isolation `no-cgroup`), the route answers 501 naming why: no
numbers it cannot measure. Reading metrics never starts a sandbox: a stopped one is a 409 as for any toolbox call
that needs it running. A sandbox that has run nothing yet has no cgroup and uses nothing: zeros, truly.

`GET /api/health` and `/api/health/ready` (the SDK's `HealthApi`) answer `{"status": "ok"}`: a server that answers
at all is healthy, as there is nothing behind it to be down.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.errors import NotRunning
from services.local.cgroups import CgroupUsage
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxState
from services.server import wire
from services.server.context import service_of
from services.server.lifecycle import NotSupported

SAMPLE_WINDOW = 0.2  # seconds between two readings when no recent one is kept
REUSE_MAX = 60.0  # a kept reading older than this is too coarse a window
KEPT_MAX = 4096  # readings kept, one per sandbox: bounded whatever ids clients send

_last: dict[str, tuple[float, int]] = {}  # sandbox id -> (monotonic time, cgroup CPU ns) of the last reading


def _keep(sandbox_id: str, at: float, cpu_ns: int) -> None:
    if sandbox_id not in _last and len(_last) >= KEPT_MAX:
        _last.pop(next(iter(_last)))  # the oldest inserted
    _last[sandbox_id] = (at, cpu_ns)


async def _cpu_percent(provider: LocalProvider, info: SandboxInfo, now: CgroupUsage, at: float) -> float:
    if now.cpu_ns is None:
        return 0.0  # no CPU accounting in this hierarchy (v1 without cpuacct): memory and disk still stand
    before = _last.get(info.id)
    if before is None or not SAMPLE_WINDOW <= at - before[0] <= REUSE_MAX or now.cpu_ns < before[1]:
        await asyncio.sleep(SAMPLE_WINDOW)
        later = await provider.cgroup_usage(info.id)
        before, at = (at, now.cpu_ns), time.monotonic()
        now = later if later is not None and later.cpu_ns is not None else now
    assert now.cpu_ns is not None
    _keep(info.id, at, now.cpu_ns)
    cpus = max(1, info.resources.cpu)
    pct = (now.cpu_ns - before[1]) / 1e9 / max(at - before[0], 1e-6) / cpus * 100
    return round(min(max(pct, 0.0), 100.0), 2)


async def sample(provider: LocalProvider, info: SandboxInfo) -> dict[str, Any]:
    """The `SystemMetrics` body for sandbox `info` (running), or NotSupported without cgroups."""
    usage = await provider.cgroup_usage(info.id)
    if usage is None:
        raise NotSupported(
            "system metrics (get_metrics_latest) are not supported by sandbench serve on this host: they are read "
            f"from per-sandbox cgroups, and there are none here ({provider.cgroups_reason}); the sandbox runs at "
            "isolation 'no-cgroup'"
        )
    at = time.monotonic()
    cpu_pct = await _cpu_percent(provider, info, usage, at)
    usage = await provider.cgroup_usage(info.id) or usage
    memory = usage.memory_bytes or 0
    cache = min(usage.cache_bytes or 0, memory)
    disk_used = await provider.disk_usage(info.id)
    disk_total = info.resources.disk_bytes
    stamp = datetime.now(UTC)
    return {
        "cpuCount": max(1, info.resources.cpu),
        "cpuUsedPct": cpu_pct,
        "memTotal": info.resources.memory_bytes,
        "memUsed": memory - cache,
        "memCache": cache,
        "diskTotal": disk_total,
        "diskUsed": disk_used,
        "diskFree": max(0, disk_total - disk_used),
        "timestamp": wire.iso(stamp),
        "timestampUnix": int(stamp.timestamp()),
    }


async def system_metrics(request: web.Request) -> web.Response:
    svc = service_of(request)
    info = await svc.get(request.match_info["sid"])  # ownership first; looking must not start a sandbox
    if info.state is not SandboxState.STARTED:
        raise NotRunning(f"the sandbox is {info.state}: metrics are read from a running sandbox; start it first")
    provider = svc.provider
    if not isinstance(provider, LocalProvider):
        raise NotSupported("system metrics (get_metrics_latest) are not supported by sandbench serve's provider")
    return wire.json_response(await sample(provider, info))


async def health(request: web.Request) -> web.Response:
    return wire.json_response({"status": "ok", "info": {"server": {"status": "up"}}, "error": {}, "details": {}})


def add_routes(app: web.Application, base: str = "/toolbox/{sid}") -> None:
    app.router.add_get(f"{base}/system/metrics", system_metrics)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/health/ready", health)

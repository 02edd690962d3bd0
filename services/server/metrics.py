"""`GET /toolbox/{id}/system/metrics` (`sandbox.get_metrics_latest()`): a sandbox's use of CPU, memory and disk now,
measured, never estimated — a thin adapter over `SandboxService.metrics` (services/metrics.py), the same numbers
the app and `sandbench metrics` show.

- `cpuUsedPct` is the CPU time its processes used over the sampling window, as a percentage of the CPUs it was
  given (`cpuCount`), at most 100; `memUsed` is what its cgroup is charged less the page cache, `memCache` that
  cache, `memTotal` its memory limit; `diskUsed` its workspace's size on disk, `diskTotal` its disk allowance,
  `diskFree` the difference.
- The window runs from the previous request for the same sandbox when that was 0.2-60 s ago (a client polling
  every second gets the second just gone), else the service reads twice, 0.2 s apart.

Where this host offers no per-sandbox cgroups (isolation `no-cgroup`), the route answers 501 naming why: no
numbers it cannot measure. Reading metrics never starts a sandbox: a stopped one is a 409 as for any toolbox call
that needs it running. A sandbox that has run nothing yet has no cgroup and uses nothing: zeros, truly.

`GET /api/health` and `/api/health/ready` (the SDK's `HealthApi`) answer `{"status": "ok"}`: a server that answers
at all is healthy, as there is nothing behind it to be down.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.errors import NotRunning, NotSupported
from services.metrics import MetricsSample, MetricsUnavailable
from services.models import SandboxState
from services.server import wire
from services.server.context import service_of

UNSUPPORTED = "system metrics (get_metrics_latest) are not supported by sandbench serve on this host: "


def body(m: MetricsSample) -> dict[str, Any]:
    """The SDK's `SystemMetrics` body for sample `m`."""
    disk_used, disk_total = m.disk_used or 0, m.disk_limit or 0
    return {
        "cpuCount": m.cpus,
        "cpuUsedPct": m.cpu_pct or 0.0,  # None only without CPU accounting: memory and disk still stand
        "memTotal": m.memory_limit or 0,
        "memUsed": m.memory_used or 0,
        "memCache": m.memory_cache or 0,
        "diskTotal": disk_total,
        "diskUsed": disk_used,
        "diskFree": max(0, disk_total - disk_used),
        "timestamp": wire.iso(m.time),
        "timestampUnix": int(m.time.timestamp()),
    }


async def system_metrics(request: web.Request) -> web.Response:
    svc = service_of(request)
    info = await svc.get(request.match_info["sid"])  # ownership first; looking must not start a sandbox
    if info.state is not SandboxState.STARTED:
        raise NotRunning(f"the sandbox is {info.state}: metrics are read from a running sandbox; start it first")
    try:
        sample = await svc.metrics(info.id)
    except MetricsUnavailable as exc:
        raise NotSupported(UNSUPPORTED + str(exc)) from None
    return wire.json_response(body(sample))


async def health(request: web.Request) -> web.Response:
    return wire.json_response({"status": "ok", "info": {"server": {"status": "up"}}, "error": {}, "details": {}})


def add_routes(app: web.Application, base: str = "/toolbox/{sid}") -> None:
    app.router.add_get(f"{base}/system/metrics", system_metrics)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/health/ready", health)

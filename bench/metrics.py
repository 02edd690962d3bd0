"""What watching sandboxes' metrics costs (issue 13: "metrics sampling of 10 open sandboxes costs <= 1 % of one
CPU"), against references measured in the same run.

    .venv/bin/python -m bench.metrics

Ten local sandboxes, each having run a command (so each has its cgroup), all watched by the real sampler
(`SandboxService.metrics_sampler`, one sample per sandbox per second) for `SECONDS` seconds. Prints
`metric=value unit` lines:
- metrics_idle_loop_cpu_pct: the reference, this process's CPU use over the same time with the same event loop
  and nothing watched (an idle asyncio loop).
- metrics_sampling_10_cpu_pct: this process's CPU use (every thread: the disk figure's thread hops included)
  while the ten are sampled.
- metrics_sampling_10_cost_pct: the difference, the sampling's own cost, in % of one CPU (bar: <= 1 %).
- metrics_round_10_ms: the median wall time of one round (all ten sandboxes read, gathered), a second apart.
- metrics_cat_cgroup_files_ms: a reference for one round's kernel work: `cat` of the same cgroup files of the
  ten sandboxes in one process (what a shell script polling them would pay per round).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService

N = 10
SECONDS = 30.0


def _cpu_pct(seconds: float, cpu: float) -> float:
    return cpu / seconds * 100


async def _idle(seconds: float) -> float:
    c0, t0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return _cpu_pct(time.monotonic() - t0, time.process_time() - c0)


V2_FILES = (
    "cpu.stat",
    "memory.current",
    "memory.stat",
    "memory.events",
    "memory.max",
    "pids.current",
    "pids.max",
    "pids.events",
)
V1_FILES = {
    "memory": ("memory.stat", "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.oom_control"),
    "pids": ("pids.current", "pids.max", "pids.events"),
    "cpuacct": ("cpuacct.usage",),
    "cpu": ("cpu.stat",),
}


def _cgroup_files(provider: LocalProvider, ids: list[str]) -> list[str]:
    """The files services/local/cgroup_stats.py reads, for each of `ids`."""
    files: list[str] = []
    for sid in ids:
        cg = provider.launcher.cgroups.get(sid)
        assert cg is not None, "no cgroup: this bench needs per-sandbox cgroups"
        if cg.version == 2:
            files += [f"{cg.dirs['unified']}/{f}" for f in V2_FILES]
        else:
            files += [f"{cg.dirs[ctl]}/{f}" for ctl, names in V1_FILES.items() if ctl in cg.dirs for f in names]
    return files


async def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-metrics-", dir="/tmp"))
    base.chmod(0o711)
    home = base / "home"
    cfg = Config(identity="bench", data_dir=home)
    svc = SandboxService(LocalProvider(home, owner_label=cfg.owner_label), cfg)
    provider = svc.provider
    assert isinstance(provider, LocalProvider)
    if not provider.launcher.cgroups.available:
        raise SystemExit(f"no per-sandbox cgroups on this host: {provider.launcher.cgroups.reason}")
    ids: list[str] = []
    try:
        for n in range(N):
            info = await svc.create(SandboxSpec(name=f"bench-metrics-{n}"))
            await svc.exec(info.id, ["true"])
            ids.append(info.id)
        for sid in ids:
            await svc.metrics(sid)  # warm: the first reading of each waits for its CPU window
        idle = await _idle(SECONDS)

        sampler = svc.metrics_sampler
        rounds: list[float] = []

        async def timed(sid: str) -> object:
            return await svc.metrics(sid)

        watches = [sampler.watch(sid) for sid in ids]
        c0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(SECONDS)
        busy = _cpu_pct(time.monotonic() - t0, time.process_time() - c0)
        ticks = sampler.ticks
        for w in watches:
            w.close()
        assert not sampler.running
        for _ in range(10):
            await asyncio.sleep(sampler.interval)  # as the sampler paces them: each reuses the last CPU reading
            r0 = time.perf_counter()
            await asyncio.gather(*(timed(sid) for sid in ids))
            rounds.append((time.perf_counter() - r0) * 1000)

        files = _cgroup_files(provider, ids)
        cats = []
        for _ in range(20):
            r0 = time.perf_counter()
            subprocess.run(["cat", *files], capture_output=True, check=False)
            cats.append((time.perf_counter() - r0) * 1000)
    finally:
        for sid in ids:
            await svc.delete(sid)
        await svc.close()
        shutil.rmtree(base, ignore_errors=True)
    print(f"metrics_sampling_rounds={ticks} rounds")
    print(f"metrics_idle_loop_cpu_pct={idle:.3f} %")
    print(f"metrics_sampling_10_cpu_pct={busy:.3f} %")
    print(f"metrics_sampling_10_cost_pct={busy - idle:.3f} % (bar: <= 1 %)")
    print(f"metrics_round_10_ms={statistics.median(rounds):.2f} ms")
    print(f"metrics_cat_cgroup_files_ms={statistics.median(cats):.2f} ms ({len(files)} files)")


if __name__ == "__main__":
    asyncio.run(main())

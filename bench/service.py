"""Service-layer overhead against the isolation floor, measured in one run.

    .venv/bin/python -m bench.service

Prints `metric=value unit` lines:
- exec_true_service_p50 vs exec_true_bwrap_p50: `SandboxService.exec(["true"])` on a running sandbox against
  spawning the very same bwrap argument set around `true` with `subprocess` (the floor). Bar: ratio <= 1.5.
- ensure_running_cached: one cached `ensure_running` (bar <= 50 us, zero provider calls).
- autostart_extra: auto-start of a stopped sandbox to its first exec, minus a warm exec (bar <= 100 ms).
"""

from __future__ import annotations

import asyncio
import os
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

N_EXEC = 40


def _direct_bwrap(provider: LocalProvider, sandbox_id: str) -> list[float]:
    """Spawn bwrap with the launcher's own argument set, but without the service, asyncio or bookkeeping."""
    launcher = provider.launcher
    row = provider.store.get(sandbox_id)
    assert row is not None and launcher.bwrap_path
    rt = provider._runtime(row)
    cg = launcher.cgroup_for(rt)
    times = []
    for _ in range(N_EXEC):
        fds = {"seccomp": launcher._data_fd("seccomp", launcher._seccomp_program())}
        for name, data in launcher._identity_files().items():
            fds[name] = launcher._data_fd(name, data)
        args = launcher.bwrap_args(rt, ["true"], cwd="", env={}, fds=fds)
        fds["args"] = launcher._data_fd("args", b"".join(os.fsencode(a) + b"\0" for a in args))
        preexec = launcher.preexec_for(rt, cg, None)
        t0 = time.perf_counter()
        subprocess.run(
            [launcher.bwrap_path, "--args", str(fds["args"]), "--", "true"],
            pass_fds=sorted(fds.values()),
            env={"PATH": "/usr/bin:/bin"},
            preexec_fn=preexec,
            check=True,
        )
        times.append(time.perf_counter() - t0)
        for fd in fds.values():
            os.close(fd)
    return times


async def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="sandbench-bench-", dir="/tmp"))
    cfg = Config(identity="bench", data_dir=base / "home")
    provider = LocalProvider(cfg.data_dir)
    svc = SandboxService(provider, cfg)
    try:
        info = await svc.create(SandboxSpec(name="bench"))
        print(f"isolation={provider.isolation()}")
        await svc.exec(info.id, ["true"])  # warm up: cgroup created, seccomp program built

        direct = _direct_bwrap(provider, info.id)
        via_service = []
        for _ in range(N_EXEC):
            t0 = time.perf_counter()
            await svc.exec(info.id, ["true"])
            via_service.append(time.perf_counter() - t0)
        d50, s50 = statistics.median(direct), statistics.median(via_service)
        print(f"exec_true_bwrap_p50={d50 * 1000:.2f} ms")
        print(f"exec_true_service_p50={s50 * 1000:.2f} ms")
        print(f"exec_true_ratio={s50 / d50:.2f} x (bar <= 1.5)")

        svc.counters.clear()
        await svc.ensure_running(info.id)
        n = 20000
        t0 = time.perf_counter()
        for _ in range(n):
            await svc.ensure_running(info.id)
        per = (time.perf_counter() - t0) / n
        print(f"ensure_running_cached={per * 1e6:.2f} us (bar <= 50)")
        print(f"ensure_running_cached_provider_calls={svc.counters['provider.get'] + svc.counters['provider.start']}")

        extras = []
        for _ in range(5):
            await svc.stop(info.id)
            svc.invalidate()
            t0 = time.perf_counter()
            await svc.exec(info.id, ["true"])
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            await svc.exec(info.id, ["true"])
            warm = time.perf_counter() - t0
            extras.append(cold - warm)
        print(f"autostart_extra_p50={statistics.median(extras) * 1000:.1f} ms (bar <= 100)")
    finally:
        await svc.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

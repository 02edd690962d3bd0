"""What the Processes view costs (issue 13 §3): one reading — the process list and the ports, as each refresh of the
view does — of a local sandbox running 100 processes, through `SandboxService`, against `ps` reading the same
processes on the host in the same run.

    .venv/bin/python -m bench.processes

Prints `metric=value unit`:
- ps_reading_p50_ms / ps_reading_p95_ms: `processes()` + `ports()` (CPU time of the app's process, which is what the
  view costs the machine: the work is /proc reads in a thread);
- ps_ports_part_p50_ms: of the reading, the ports' share;
- ps_ref_p50_ms: `ps -o pid,ppid,user,pcpu,rss,stat,etimes,args -p PIDS` of the same processes (a subprocess, wall);
- ps_view_cpu_percent: what the open view costs: the process list every 1.5 s and the ports every third time, as
  CPU time over wall time, % of one CPU.
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
from services.local.procfs import sandbox_pids
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tui.screens.processes import PORTS_EVERY, REFRESH

PROCESSES = 100
ROUNDS = 40


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-ps-"))
    provider = LocalProvider(base / "home")
    svc = SandboxService(provider, Config(identity="bench", data_dir=base / "home"))
    box = await svc.create(SandboxSpec(name="bench-ps"))
    script = " ".join(["sleep 600 &"] * (PROCESSES - 1)) + " wait"
    run = asyncio.ensure_future(svc.exec(box.id, ["sh", "-c", script]))
    try:
        deadline = time.monotonic() + 60
        while len(await svc.processes(box.id)) < PROCESSES:
            if run.done() or time.monotonic() > deadline:
                raise SystemExit(f"the sandbox did not start {PROCESSES} processes: {run}")
            await asyncio.sleep(0.1)
        cpu: list[float] = []
        ports_cpu: list[float] = []
        for _ in range(ROUNDS):
            t0 = time.process_time()
            procs = await svc.processes(box.id)
            t1 = time.process_time()
            await svc.ports(box.id)
            cpu.append((time.process_time() - t0) * 1000)
            ports_cpu.append((time.process_time() - t1) * 1000)
        assert len(procs) >= PROCESSES
        pids = ",".join(str(p) for p in sorted(sandbox_pids(provider.launcher, box.id)))
        ref: list[float] = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            subprocess.run(
                ["ps", "-o", "pid,ppid,user,pcpu,rss,stat,etimes,args", "-p", pids],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            ref.append((time.perf_counter() - t0) * 1000)
        print(f"ps_processes={len(procs)} processes")
        print(f"ps_reading_p50_ms={_p(cpu, 0.5):.2f} ms")
        print(f"ps_reading_p95_ms={_p(cpu, 0.95):.2f} ms")
        print(f"ps_ports_part_p50_ms={_p(ports_cpu, 0.5):.2f} ms")
        print(f"ps_ref_p50_ms={_p(ref, 0.5):.2f} ms")
        ports_ms = statistics.median(ports_cpu)
        view_ms = statistics.median(cpu) - ports_ms + ports_ms / PORTS_EVERY  # ports every PORTS_EVERY readings
        print(f"ps_view_cpu_percent={view_ms / (REFRESH * 1000) * 100:.2f} %")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await provider.delete(box.id)
        await svc.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

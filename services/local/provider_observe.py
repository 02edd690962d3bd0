"""What the local provider observes of a sandbox (`LocalObservation`, a mixin of `LocalProvider`): its disk use,
its cgroup's accounting and metrics (services/local/cgroups.py, cgroup_stats.py), and its processes and listening
sockets read from the host's /proc (services/local/procfs.py), with signals sent to them.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import os

from services.local import procfs
from services.local.cgroups import CgroupUsage
from services.local.provider_state import ProviderState
from services.local.store import Row
from services.metrics import MetricsReading
from services.proc_parse import ProcTable, Socket


class LocalObservation(ProviderState):
    async def disk_usage(self, sandbox_id: str) -> int:
        row = self._row(sandbox_id)
        return await asyncio.to_thread(lambda: self._usage(row) or 0)

    @property
    def cgroups_reason(self) -> str:
        """Why there are no per-sandbox cgroups on this host ("" when there are)."""
        return "" if self.launcher.cgroups.available else self.launcher.cgroups.reason

    async def cgroup_usage(self, sandbox_id: str) -> CgroupUsage | None:
        """The sandbox cgroup's accounting now; None when this host has no per-sandbox cgroups (`cgroups_reason`).
        A sandbox that has run nothing yet has no cgroup, and uses nothing: all zero."""
        self._row(sandbox_id)
        if not self.launcher.cgroups.available:
            return None
        cg = self.launcher.cgroups.get(sandbox_id)
        if cg is None:
            return CgroupUsage(0, 0, 0)
        return await asyncio.to_thread(cg.usage)

    async def metrics_reading(self, sandbox_id: str) -> MetricsReading:
        """The running sandbox's use, limits and limit hits from its cgroup (services/local/cgroup_stats.py);
        `MetricsUnavailable` naming why where this host has no per-sandbox cgroups. The disk figure is the
        service's (`disk_usage`, a walk it paces)."""
        from services.local import cgroup_stats
        from services.local.launch_child import PIDS_PER_CPU
        from services.metrics import MetricsUnavailable

        row = self._running_row(sandbox_id)
        cgroups = self.launcher.cgroups
        if not cgroups.available or cgroups.version is None:
            raise MetricsUnavailable(
                f"metrics are read from per-sandbox cgroups, and there are none here ({cgroups.reason}); "
                "the sandbox runs at isolation 'no-cgroup'"
            )
        cpus = max(1, row.resources.cpu)
        # in-kernel files of a few hundred bytes: read on the loop (a thread hop costs more; bench/metrics.py)
        reading = cgroup_stats.read(
            cgroups.get(sandbox_id),
            version=cgroups.version,
            cpus=cpus,
            memory_limit=row.resources.memory_bytes,
            pids_limit=max(64, PIDS_PER_CPU * cpus),
        )
        return dataclasses.replace(reading, disk_limit=row.resources.disk_bytes)

    # -- the process list and ports (services/local/procfs.py) ----------------------------------------------
    def _mapped_uid(self, row: Row) -> int:
        """The host uid the sandbox's `sandbox` user is (launch.py's mapping)."""
        return row.uid if row.uid is not None else os.getuid()

    async def process_table(self, sandbox_id: str) -> ProcTable:
        row = self._row(sandbox_id)
        return await asyncio.to_thread(
            lambda: procfs.read_table(procfs.sandbox_pids(self.launcher, row.id), self._mapped_uid(row))
        )

    async def signal_process(self, sandbox_id: str, pid: int, started: int | None, sig: int) -> None:
        row = self._row(sandbox_id)
        await asyncio.to_thread(procfs.signal, self.launcher, row.id, pid, started, sig)

    async def process_alive(self, sandbox_id: str, pid: int, started: int) -> bool:
        self._row(sandbox_id)
        return await asyncio.to_thread(procfs.alive, pid, started)

    async def listening_sockets(self, sandbox_id: str) -> builtins.list[tuple[int, Socket, int | None]]:
        row = self._row(sandbox_id)
        return await asyncio.to_thread(lambda: procfs.listening(procfs.sandbox_pids(self.launcher, row.id)))

"""What this machine can give a local sandbox at most: its CPUs, its RAM, and the size of the data dir's filesystem.

A local sandbox's limits are cgroup caps on this host, so asking for more than the host has is accepted by the
kernel and means nothing (Memory 9999 GiB on a 23 GiB host; Metrics then read `1.3M of 9.8T`). The create dialog
and `sandbench create` refuse such a request in words (`check`) before anything is made. Daytona sandboxes are
sized by Daytona, not by this host: callers check only for the local provider.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.models import Resources

GiB = 1024**3


@dataclass(frozen=True)
class HostLimits:
    cpus: int
    memory_gib: float
    disk_gib: float | None  # None: the data dir's filesystem could not be read (no disk check then)

    @classmethod
    def read(cls, data_dir: Path) -> HostLimits:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
        return cls(cpus=os.cpu_count() or 1, memory_gib=memory, disk_gib=_filesystem_gib(data_dir))

    def check(self, resources: Resources) -> tuple[str, str] | None:
        """(the field at fault: "cpu", "memory" or "disk"; a one-line reason) when `resources` ask for more than
        this host has, else None."""
        if resources.cpu > self.cpus:
            return "cpu", f"{resources.cpu} CPUs is more than this machine has ({self.cpus})"
        if resources.memory_gib > self.memory_gib:
            return "memory", (
                f"{resources.memory_gib:.10g} GiB of memory is more than this machine has ({self.memory_gib:.1f} GiB)"
            )
        if self.disk_gib is not None and resources.disk_gib > self.disk_gib:
            return "disk", (
                f"{resources.disk_gib:.10g} GiB of disk is more than the data folder's filesystem holds "
                f"({self.disk_gib:.1f} GiB)"
            )
        return None


def _filesystem_gib(path: Path) -> float | None:
    # the data dir may not exist yet (a first run): its nearest existing parent is on the same filesystem
    for candidate in (path, *path.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return st.f_blocks * st.f_frsize / GiB
    return None

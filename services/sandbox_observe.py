"""What a running sandbox uses and runs, for SandboxService: metrics (services/metrics.py) and processes, signals,
ports and port forwards (services/processes.py).

Thin facades: each part is built on first use (so a service that never shows metrics never loads them) and does its
own access checks; the service closes them in `close()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.sandbox_core import SandboxCore

if TYPE_CHECKING:
    from services.forwards import Forward
    from services.metrics import Metrics, MetricsSample, MetricsSampler
    from services.processes import KillResult, PortInfo, ProcessInfo, ProcessService


class ObserveOps(SandboxCore):
    """Metrics, processes and ports of `SandboxService` (a mixin over its core)."""

    # -- metrics (services/metrics.py) ------------------------------------------------------------------
    def _metrics_of(self) -> Metrics:
        if self._metrics is None:
            from services.metrics import Metrics

            self._metrics = Metrics(self._whole())  # real time: CPU shares are per second of it
        return self._metrics

    async def metrics(self, sandbox_id: str) -> MetricsSample:
        """What a running sandbox uses now against its limits, and the limit hits (OOM kills, forks refused at
        the pids cap, CPU throttling). Read-only; never starts a sandbox (`NotRunning`); `MetricsUnavailable`
        where nothing can be measured (no per-sandbox cgroups)."""
        return await self._metrics_of().measure(sandbox_id)

    @property
    def metrics_sampler(self) -> MetricsSampler:
        """Samples the sandboxes someone watches (`watch(id)`), keeping their last 15 minutes."""
        return self._metrics_of().sampler

    # -- what runs now: processes, signals, ports, forwards (services/processes.py) --------------------------
    @property
    def process_service(self) -> ProcessService:
        if self._procs is None:
            from services.processes import ProcessService

            self._procs = ProcessService(self._whole())
        return self._procs

    async def processes(self, sandbox_id: str, *, sample: float = 0.0) -> list[ProcessInfo]:
        """The sandbox's processes ([] when it is not running); CPU % over the window since the last reading, or
        over `sample` seconds on a first one."""
        return await self.process_service.processes(sandbox_id, sample=sample)

    async def kill_process(
        self,
        sandbox_id: str,
        pid: int,
        signal: str = "TERM",
        *,
        started: int | None = None,
        kill_after: float | None = None,
        inside: bool = False,
    ) -> KillResult:
        """Signal one of the sandbox's processes (yours only); with `kill_after`, KILL if TERM did not end it;
        `inside`: `pid` is as the sandbox sees it (`ProcessService.kill`)."""
        return await self.process_service.kill(
            sandbox_id, pid, signal, started=started, kill_after=kill_after, inside=inside
        )

    async def ports(self, sandbox_id: str) -> list[PortInfo]:
        """Listening TCP ports inside the sandbox, with their processes."""
        return await self.process_service.ports(sandbox_id)

    async def forward_port(self, sandbox_id: str, port: int) -> Forward:
        """Forward a listening port of a sandbox with network to 127.0.0.1 (`Forward.url`), until closed."""
        return await self.process_service.forward(sandbox_id, port)

    async def close_forward(self, sandbox_id: str, port: int) -> bool:
        return await self.process_service.forwards.close(sandbox_id, port) if self._procs is not None else False

    def port_forwards(self, sandbox_id: str) -> list[Forward]:
        return self._procs.forwards.list(sandbox_id) if self._procs is not None else []

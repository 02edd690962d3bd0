"""Metrics of a sandbox (issue 13 §3): what it uses now against its limits, the limits it ran into, and the last
15 minutes of that while someone watches. One implementation for the app, the CLI and `sandbench serve`.

- A provider that can measure offers `MetricsSource.metrics_reading(sandbox_id) -> MetricsReading`: one raw
  reading (the local one from the sandbox's cgroup, services/local/cgroup_stats.py; Daytona from the SDK's
  `get_metrics_latest`). Fields it cannot measure are `None` and named in `unavailable` with the reason.
- `CpuWindow` turns cumulative CPU time into a share: the CPU time used between two readings, as a percentage of
  the CPUs given, at most 100. The window runs from the previous reading of the same sandbox when that was
  0.2-60 s ago (a client polling every second gets the second just gone), else it reads twice, `SAMPLE_WINDOW`
  apart. What it keeps is bounded (`KEPT_MAX` sandboxes) whatever ids callers send.
- `MetricsSampler` samples every watched sandbox every `interval` seconds (1 s default) in one task, keeps each
  one's samples of the last `keep` seconds (15 minutes) in a bounded ring, and stops the task the moment the last
  watcher lets go: a sandbox nobody looks at costs nothing. Histories of sandboxes no longer watched are kept (a
  view reopened shows them) for at most `MAX_HISTORIES` sandboxes, oldest watched dropped first.

The sampler reads through a callable (`SandboxService.metrics`), so tests and snapshot tests can feed it fixed
samples (`MetricsSampler.record` is that seam) with no provider behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from services.errors import SandbenchError

log = logging.getLogger(__name__)

SAMPLE_WINDOW = 0.2  # seconds between two readings when no recent one is kept
REUSE_MAX = 60.0  # a kept reading older than this is too coarse a window
KEPT_MAX = 4096  # CPU readings kept, one per sandbox
INTERVAL = 1.0  # seconds between samples of a watched sandbox
REMOTE_INTERVAL = 2.0  # the same for a provider over the network (Daytona)
KEEP = 15 * 60.0  # seconds of samples kept per sandbox
MAX_HISTORIES = 32  # sandboxes whose history is kept (the watched ones always are)


class MetricsUnavailable(SandbenchError):
    """This sandbox's metrics cannot be measured here (no per-sandbox cgroups, a provider without metrics)."""

    title = "Metrics unavailable"


@dataclass(frozen=True, slots=True)
class LimitHits:
    """How often the sandbox ran into its limits since its cgroup was made; `None`: not measurable here.

    `oom_kills`: processes the kernel killed for the memory limit; `pids_refused`: forks refused at the pids cap;
    `cpu_throttled`: scheduling periods in which it used its whole CPU quota and had to wait, for
    `cpu_throttled_seconds` in all."""

    oom_kills: int | None = None
    pids_refused: int | None = None
    cpu_throttled: int | None = None
    cpu_throttled_seconds: float | None = None

    def any(self) -> bool:
        return bool(self.oom_kills or self.pids_refused or self.cpu_throttled)


@dataclass(frozen=True, slots=True)
class MetricsReading:
    """One raw reading of a provider. CPU is either cumulative (`cpu_ns`, turned into a share by `CpuWindow`) or
    a share already (`cpu_pct`). Memory `used` leaves the page cache out; `cache` is that cache."""

    cpus: int
    source: str  # where the numbers come from: "cgroup v2", "cgroup v1", "daytona"
    cpu_ns: int | None = None
    cpu_pct: float | None = None
    memory_used: int | None = None
    memory_cache: int | None = None
    memory_limit: int | None = None
    pids: int | None = None
    pids_limit: int | None = None
    disk_used: int | None = None
    disk_limit: int | None = None
    hits: LimitHits = field(default_factory=LimitHits)
    unavailable: tuple[str, ...] = ()  # "what: why", one per measurement this source cannot give


@dataclass(frozen=True, slots=True)
class MetricsSample:
    """What a sandbox uses at `time` (wall clock, UTC) against its limits; `None` where not measurable."""

    sandbox_id: str
    time: datetime
    source: str
    cpus: int
    cpu_pct: float | None
    memory_used: int | None
    memory_cache: int | None
    memory_limit: int | None
    pids: int | None
    pids_limit: int | None
    disk_used: int | None
    disk_limit: int | None
    hits: LimitHits
    unavailable: tuple[str, ...] = ()
    at: float = 0.0  # monotonic seconds: orders samples and ages them out

    def to_json(self) -> dict[str, Any]:
        """The stable shape `sandbench metrics --json` prints (docs/cli.md, "metrics")."""
        h = self.hits
        return {
            "sandbox": self.sandbox_id,
            "time": self.time.isoformat(timespec="seconds"),
            "source": self.source,
            "cpu": {"percent": self.cpu_pct, "cpus": self.cpus},
            "memory": {
                "used_bytes": self.memory_used,
                "cache_bytes": self.memory_cache,
                "limit_bytes": self.memory_limit,
            },
            "pids": {"current": self.pids, "limit": self.pids_limit},
            "disk": {"used_bytes": self.disk_used, "limit_bytes": self.disk_limit},
            "hits": {
                "oom_kills": h.oom_kills,
                "pids_refused": h.pids_refused,
                "cpu_throttled_periods": h.cpu_throttled,
                "cpu_throttled_seconds": h.cpu_throttled_seconds,
            },
            "unavailable": list(self.unavailable),
        }


@runtime_checkable
class MetricsSource(Protocol):
    """Optional for a provider: one raw reading of a running sandbox's use and limits. Raises `NotRunning` for a
    sandbox that is not running, `MetricsUnavailable` where nothing can be measured."""

    async def metrics_reading(self, sandbox_id: str) -> MetricsReading: ...


class CpuWindow:
    """The previous CPU reading of each sandbox, to turn cumulative CPU time into a share (module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, kept_max: int = KEPT_MAX) -> None:
        self._clock = clock
        self._kept_max = kept_max
        self._last: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def _keep(self, sandbox_id: str, at: float, cpu_ns: int) -> None:
        self._last[sandbox_id] = (at, cpu_ns)
        self._last.move_to_end(sandbox_id)
        while len(self._last) > self._kept_max:
            self._last.popitem(last=False)

    def forget(self, sandbox_id: str) -> None:
        self._last.pop(sandbox_id, None)

    async def share(
        self, sandbox_id: str, reading: MetricsReading, read: Callable[[], Awaitable[MetricsReading]]
    ) -> tuple[MetricsReading, float | None]:
        """(the reading to report, the CPU share over the window ending at it); reads again after `SAMPLE_WINDOW`
        when no kept reading makes a window."""
        if reading.cpu_pct is not None:
            return reading, round(min(max(reading.cpu_pct, 0.0), 100.0), 2)
        if reading.cpu_ns is None:
            return reading, None
        at = self._clock()
        before = self._last.get(sandbox_id)
        if before is None or not SAMPLE_WINDOW <= at - before[0] <= REUSE_MAX or reading.cpu_ns < before[1]:
            before = (at, reading.cpu_ns)
            await asyncio.sleep(SAMPLE_WINDOW)
            later = await read()
            at = self._clock()
            if later.cpu_ns is not None:
                reading = later
        assert reading.cpu_ns is not None
        self._keep(sandbox_id, at, reading.cpu_ns)
        cpus = max(1, reading.cpus)
        pct = (reading.cpu_ns - before[1]) / 1e9 / max(at - before[0], 1e-6) / cpus * 100
        return reading, round(min(max(pct, 0.0), 100.0), 2)


def sample_of(sandbox_id: str, reading: MetricsReading, cpu_pct: float | None, at: float) -> MetricsSample:
    return MetricsSample(
        sandbox_id=sandbox_id,
        time=datetime.now(UTC),
        source=reading.source,
        cpus=max(1, reading.cpus),
        cpu_pct=cpu_pct,
        memory_used=reading.memory_used,
        memory_cache=reading.memory_cache,
        memory_limit=reading.memory_limit,
        pids=reading.pids,
        pids_limit=reading.pids_limit,
        disk_used=reading.disk_used,
        disk_limit=reading.disk_limit,
        hits=reading.hits,
        unavailable=reading.unavailable,
        at=at,
    )


SampleListener = Callable[[str, MetricsSample | None, str | None], None]  # (sandbox id, sample, or why none)


class Watch:
    """A hold on a sandbox's sampling; `close()` (or leaving the `with`) lets go. Closing twice is harmless."""

    def __init__(self, sampler: MetricsSampler, sandbox_id: str) -> None:
        self.sampler = sampler
        self.sandbox_id = sandbox_id
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sampler._release(self.sandbox_id)

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class MetricsSampler:
    """Samples watched sandboxes every `interval` seconds through `read` (module docstring)."""

    def __init__(
        self,
        read: Callable[[str], Awaitable[MetricsSample]],
        *,
        interval: float = INTERVAL,
        keep: float = KEEP,
        clock: Callable[[], float] = time.monotonic,
        max_histories: int = MAX_HISTORIES,
    ) -> None:
        if not 0 < interval <= keep:
            raise ValueError("the sampling interval must be positive and within the kept window")
        self._read = read
        self.interval = interval
        self.keep = keep
        self._clock = clock
        self._max_histories = max(1, max_histories)
        self._ring = math.ceil(keep / interval) + 1  # samples per sandbox, whatever the clock does
        self._watchers: dict[str, int] = {}
        self._history: OrderedDict[str, deque[MetricsSample]] = OrderedDict()
        self.errors: dict[str, str] = {}  # sandbox id -> why its last sample failed
        self._listeners: list[SampleListener] = []
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0  # sampling rounds run (tests check that sampling stopped)

    # -- watching --------------------------------------------------------------------------------------------
    def watch(self, sandbox_id: str) -> Watch:
        """Sample `sandbox_id` from now until the returned `Watch` is closed (several watchers share one)."""
        self._watchers[sandbox_id] = self._watchers.get(sandbox_id, 0) + 1
        self._history.setdefault(sandbox_id, deque(maxlen=self._ring))
        self._history.move_to_end(sandbox_id)
        self._trim()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="metrics sampler")
        return Watch(self, sandbox_id)

    def _release(self, sandbox_id: str) -> None:
        left = self._watchers.get(sandbox_id, 0) - 1
        if left > 0:
            self._watchers[sandbox_id] = left
            return
        self._watchers.pop(sandbox_id, None)
        if not self._watchers and self._task is not None:
            self._task.cancel()  # nobody watches: no more reads, not even the one due
            self._task = None

    @property
    def watched(self) -> set[str]:
        return set(self._watchers)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self, listener: SampleListener) -> Callable[[], None]:
        """Call `listener(sandbox_id, sample, error)` after each sample (or failure). Returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- the kept window -------------------------------------------------------------------------------------
    def history(self, sandbox_id: str) -> list[MetricsSample]:
        """The samples of the last `keep` seconds, oldest first."""
        ring = self._history.get(sandbox_id)
        if not ring:
            return []
        self._age_out(ring)
        return list(ring)

    def latest(self, sandbox_id: str) -> MetricsSample | None:
        ring = self._history.get(sandbox_id)
        return ring[-1] if ring else None

    def record(self, sample: MetricsSample) -> None:
        """Keep one sample (the sampler's own, or a test's fixed one) and tell the listeners."""
        ring = self._history.get(sample.sandbox_id)
        if ring is None:
            ring = self._history[sample.sandbox_id] = deque(maxlen=self._ring)
            self._trim()
        ring.append(sample)
        self._age_out(ring)
        self.errors.pop(sample.sandbox_id, None)
        self._notify(sample.sandbox_id, sample, None)

    def record_many(self, samples: Iterable[MetricsSample]) -> None:
        for s in samples:
            self.record(s)

    def _age_out(self, ring: deque[MetricsSample]) -> None:
        if not ring:
            return
        oldest = ring[-1].at - self.keep
        while ring and ring[0].at < oldest:
            ring.popleft()

    def _trim(self) -> None:
        # drop the histories of sandboxes nobody watches, least recently watched first, past the bound
        for sandbox_id in list(self._history):
            if len(self._history) <= max(self._max_histories, len(self._watchers)):
                break
            if sandbox_id not in self._watchers:
                del self._history[sandbox_id]
                self.errors.pop(sandbox_id, None)

    def _notify(self, sandbox_id: str, sample: MetricsSample | None, error: str | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(sandbox_id, sample, error)
            except Exception:
                log.exception("metrics listener failed")

    # -- sampling ----------------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        next_tick = self._clock()
        while self._watchers:
            self.ticks += 1
            ids = list(self._watchers)
            results = await asyncio.gather(*(self._read(i) for i in ids), return_exceptions=True)
            for sandbox_id, got in zip(ids, results, strict=True):
                if sandbox_id not in self._watchers:
                    continue  # let go while it was read
                if isinstance(got, MetricsSample):
                    self.record(got)
                elif isinstance(got, SandbenchError):
                    self.errors[sandbox_id] = str(got)
                    self._notify(sandbox_id, None, str(got))
                elif isinstance(got, asyncio.CancelledError):
                    raise got
                else:
                    log.error("metrics of %s failed", sandbox_id, exc_info=got)
                    self.errors[sandbox_id] = "metrics failed unexpectedly (details in the log)"
                    self._notify(sandbox_id, None, self.errors[sandbox_id])
            # a steady rhythm: a slow round shortens the next pause, never stacks rounds
            next_tick = max(next_tick + self.interval, self._clock())
            await asyncio.sleep(max(0.0, next_tick - self._clock()))

    async def close(self) -> None:
        self._watchers.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Service(Protocol):
    """What `Metrics` needs of `SandboxService` (kept narrow: this module is imported by it)."""

    provider: Any

    def cached(self, sandbox_id: str) -> Any: ...
    def invalidate(self, sandbox_id: str | None = None) -> None: ...
    async def get(self, sandbox_id: str) -> Any: ...
    def _check_access(self, info: Any, sandbox_id: str, *, write: bool) -> None: ...


class Metrics:
    """`SandboxService.metrics` and its sampler: access checked, never starts a sandbox, CPU share over a kept
    window."""

    def __init__(self, service: _Service, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self._clock = clock
        self.window = CpuWindow(clock)
        self._sampler: MetricsSampler | None = None

    @property
    def sampler(self) -> MetricsSampler:
        if self._sampler is None:
            # a remote provider's sample is an HTTP round trip per sandbox: every 2 s there (the 1-2 s)
            local = getattr(self.service.provider, "name", "") == "local"
            interval = INTERVAL if local else REMOTE_INTERVAL
            self._sampler = MetricsSampler(self.measure, interval=interval, clock=self._clock)
        return self._sampler

    async def _info(self, sandbox_id: str) -> Any:
        from services.errors import NotRunning
        from services.models import SandboxState

        info = self.service.cached(sandbox_id)
        if info is None or info.state is not SandboxState.STARTED:
            info = await self.service.get(sandbox_id)  # looks; never starts it
        self.service._check_access(info, sandbox_id, write=False)
        if info.state is not SandboxState.STARTED:
            raise NotRunning(f"sandbox {info.name!r} is {info.state}: metrics are read from a running sandbox")
        return info

    async def measure(self, sandbox_id: str) -> MetricsSample:
        """One sample of a running sandbox (see `SandboxService.metrics`)."""
        from services.errors import NotRunning

        info = await self._info(sandbox_id)
        provider = self.service.provider
        if not isinstance(provider, MetricsSource):
            raise MetricsUnavailable(f"the {provider.name} provider offers no metrics")

        async def read() -> MetricsReading:
            return await provider.metrics_reading(info.id)

        try:
            reading, cpu_pct = await self.window.share(info.id, await read(), read)
            if reading.disk_used is None:
                reading = _with_disk(reading, await self._disk_used(info.id))
        except NotRunning:
            self.service.invalidate(info.id)  # stopped meanwhile (by the CLI, the reaper): the cache was stale
            self.window.forget(info.id)
            raise
        return sample_of(info.id, reading, cpu_pct, self._clock())

    async def _disk_used(self, sandbox_id: str) -> int | None:
        # the provider paces its own walk (local: cached 5 s, dropped by every write through the file API)
        try:
            return int(await self.service.provider.disk_usage(sandbox_id))
        except SandbenchError:
            return None

    async def close(self) -> None:
        if self._sampler is not None:
            await self._sampler.close()


def _with_disk(reading: MetricsReading, used: int | None) -> MetricsReading:
    import dataclasses

    if used is None:
        return dataclasses.replace(reading, unavailable=(*reading.unavailable, "disk: its size could not be read"))
    return dataclasses.replace(reading, disk_used=used)

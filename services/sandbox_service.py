"""SandboxService: the one object the UI (and the CLI) talks to (DESIGN §3).

Every operation goes: ownership check → `ensure_running` (state cache with a TTL; auto-start of stopped and
archived sandboxes, one start shared by concurrent callers) → path policy and size limits → the provider →
an audit line. An operation that fails with `NotRunning` invalidates the cache, re-checks once and retries once.

Ownership fails closed: a sandbox whose owner label is not the configured identity (or has no owner label) is
answered exactly like a missing one, unless the config opts into seeing others' sandboxes read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from services import paths, volumes
from services.audit import AuditLog
from services.config import Config
from services.errors import (
    InvalidInput,
    NotRunning,
    OperationTimeout,
    PermissionDenied,
    ProviderError,
    SandbenchError,
    SandboxNotFound,
    TooLarge,
)
from services.exec_log import OutputKeeper, OutputStore
from services.models import (
    ExecResult,
    FileData,
    FileEntry,
    SandboxInfo,
    SandboxSpec,
    SandboxState,
    SnapshotInfo,
    TerminalInfo,
    VolumeInfo,
)
from services.provider import (
    FileStreams,
    LifecycleExpiry,
    OutputCallback,
    Provider,
    ReadStream,
    Stdin,
    TerminalReattach,
    WriteStream,
)
from services.redact import Redactor
from services.terminal import TerminalSession

if TYPE_CHECKING:
    from services.checkpoints import CheckpointService
    from services.forwards import Forward
    from services.metrics import Metrics, MetricsSample, MetricsSampler
    from services.processes import KillResult, PortInfo, ProcessInfo, ProcessService

log = logging.getLogger(__name__)
T = TypeVar("T")

START_WAIT = 120.0  # seconds to wait for a sandbox someone else is starting
TOUCH_EVERY = 10.0  # seconds between activity writes per sandbox
WRITE_LIMIT = 256 * 1024 * 1024
# a terminal session id as the Daytona API accepts it; anything else never reaches a URL
TERMINAL_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
StateListener = Callable[[SandboxInfo], None]


@dataclass
class _Cached:
    info: SandboxInfo
    expires: float


INTERVAL_MAX = 10**7  # minutes (19 years): far past any real interval, and well inside SQLite's integers


def check_intervals(
    *, auto_stop: int | None = None, auto_archive: int | None = None, auto_delete: int | None = None
) -> None:
    """The bounds of the lifecycle intervals in minutes, the same at create and when changed (`None`: not given)."""
    for what, value in (("auto-stop", auto_stop), ("auto-archive", auto_archive)):
        if value is not None and not 0 <= value <= INTERVAL_MAX:
            raise InvalidInput(f"the {what} interval is a whole number of minutes, 0 or more")
    if auto_delete is not None and not -1 - INTERVAL_MAX <= auto_delete <= INTERVAL_MAX:
        raise InvalidInput("the auto-delete interval is a whole number of minutes (negative: never)")


class SandboxService:
    def __init__(
        self,
        provider: Provider,
        config: Config,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.monotonic,
        volume_cap: int = volumes.VOLUME_CAP,
    ):
        self.provider = provider
        self.config = config
        self.identity = config.identity
        self.owner_label = config.owner_label
        self.audit = audit or AuditLog(
            config.audit_log,
            config.identity,
            provider.name,
            max_bytes=config.audit_max_bytes,
            keep=config.audit_keep,
            keep_days=config.audit_keep_days,
        )
        self.counters: Counter[str] = Counter()
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._starting: dict[str, asyncio.Task[SandboxInfo]] = {}
        self._listeners: list[StateListener] = []
        self._last_touch: dict[str, float] = {}
        self._busy: Counter[str] = Counter()  # in-flight operations and open terminals, per sandbox
        self._reaper: asyncio.Task[None] | None = None
        self.volume_cap = volume_cap  # named volumes this identity may keep
        self._checkpoints: CheckpointService | None = None
        self._metrics: Metrics | None = None
        # secrets this service handles, masked in every exec's audit entry and kept output (serve adds its tokens)
        self.redactor = Redactor([config.daytona.api_key, config.git_token])
        self.exec_outputs = OutputStore(config.data_dir, config.exec_output_total)
        self._procs: ProcessService | None = None

    @property
    def checkpoints(self) -> CheckpointService:
        """Checkpoints, changes, restore and fork of this service's sandboxes (services/checkpoints)."""
        if self._checkpoints is None:
            from services.checkpoints import CheckpointService

            self._checkpoints = CheckpointService(self)
        return self._checkpoints

    # -- metrics (services/metrics.py) ------------------------------------------------------------------
    def _metrics_of(self) -> Metrics:
        if self._metrics is None:
            from services.metrics import Metrics

            self._metrics = Metrics(self)  # real time: CPU shares are per second of it
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

            self._procs = ProcessService(self)
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
    ) -> KillResult:
        """Signal one of the sandbox's processes (yours only); with `kill_after`, KILL if TERM did not end it."""
        return await self.process_service.kill(sandbox_id, pid, signal, started=started, kill_after=kill_after)

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

    # -- identity and access -------------------------------------------------------------------------------
    def owns(self, info: SandboxInfo) -> bool:
        # the provider's word on the owner (the owner label; over `sandbench serve`, the server's, which keeps the
        # label to itself), else the label
        owner = info.owner if info.owner is not None else info.labels.get(self.owner_label)
        return bool(self.identity) and owner == self.identity

    def _check_access(self, info: SandboxInfo, sandbox_id: str, *, write: bool) -> None:
        if self.owns(info):
            return
        if not write and self.config.show_others:
            return
        # Same error, same words as a sandbox that does not exist: ids of others' sandboxes reveal nothing.
        raise SandboxNotFound(f"no sandbox {sandbox_id!r}")

    def subscribe(self, listener: StateListener) -> Callable[[], None]:
        """Call `listener` with the new info whenever a sandbox's state changes. Returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, info: SandboxInfo) -> None:
        for listener in list(self._listeners):
            try:
                listener(info)
            except Exception:
                log.exception("state listener failed")

    # -- the state cache -----------------------------------------------------------------------------------
    def _remember(self, info: SandboxInfo) -> SandboxInfo:
        old = self._cache.get(info.id)
        self._cache[info.id] = _Cached(info, self._clock() + self.config.state_ttl)
        if old is None or old.info.state is not info.state:
            self._emit(info)
        return info

    def invalidate(self, sandbox_id: str | None = None) -> None:
        if sandbox_id is None:
            self._cache.clear()
        else:
            self._cache.pop(sandbox_id, None)

    def cached(self, sandbox_id: str) -> SandboxInfo | None:
        hit = self._cache.get(sandbox_id)
        return hit.info if hit else None

    async def _provider_get(self, sandbox_id: str) -> SandboxInfo:
        self.counters["provider.get"] += 1
        try:
            return await self.provider.get(sandbox_id)
        except SandboxNotFound:
            self._cache.pop(sandbox_id, None)
            raise SandboxNotFound(f"no sandbox {sandbox_id!r}") from None

    async def ensure_running(self, sandbox_id: str, *, write: bool = True) -> SandboxInfo:
        hit = self._cache.get(sandbox_id)
        if hit is not None and hit.expires > self._clock():
            self.counters["cache.hit"] += 1
            info = hit.info
        else:
            self.counters["cache.miss"] += 1
            info = self._remember(await self._provider_get(sandbox_id))
        self._check_access(info, sandbox_id, write=write)
        if info.state is SandboxState.STARTED:
            return info
        if not self.owns(info):
            raise NotRunning(f"sandbox {info.name!r} is {info.state} (read-only: it is not yours to start)")
        if info.state is SandboxState.ERROR:
            raise ProviderError(f"sandbox {info.name!r} is in an error state: {info.error or 'unknown'}")
        if info.state is SandboxState.DELETED:
            raise SandboxNotFound(f"no sandbox {sandbox_id!r}")
        task = self._starting.get(sandbox_id)
        if task is None:
            task = asyncio.ensure_future(self._start_or_wait(info))
            self._starting[sandbox_id] = task
            task.add_done_callback(lambda _t: self._starting.pop(sandbox_id, None))
        return await asyncio.shield(task)

    async def _start_or_wait(self, info: SandboxInfo) -> SandboxInfo:
        if info.state in (SandboxState.STOPPED, SandboxState.ARCHIVED):
            self._emit(dataclasses.replace(info, state=SandboxState.STARTING))
            self.counters["provider.start"] += 1
            try:
                started = await self.provider.start(info.id)
            except SandbenchError as exc:
                self.audit.record("auto-start", sandbox=info.id, name=info.name, outcome=_outcome(exc))
                self.invalidate(info.id)
                raise
            self.audit.record("auto-start", sandbox=info.id, name=info.name)
            return self._remember(started)
        # starting or stopping elsewhere: wait for it to settle, then go round once more
        deadline = self._clock() + START_WAIT
        while self._clock() < deadline:
            await asyncio.sleep(0.2)
            current = self._remember(await self._provider_get(info.id))
            if current.state is SandboxState.STARTED:
                return current
            if current.state in (SandboxState.STOPPED, SandboxState.ARCHIVED):
                return await self._start_or_wait(current)
            if current.state in (SandboxState.ERROR, SandboxState.DELETED):
                raise ProviderError(f"sandbox {current.name!r} is {current.state}")
        raise OperationTimeout(f"sandbox {info.name!r} did not start within {START_WAIT:.0f} s")

    # -- running one operation -----------------------------------------------------------------------------
    async def _run(
        self,
        op: str,
        sandbox_id: str,
        call: Callable[[], Awaitable[T]],
        *,
        write: bool,
        path: str | None = None,
        dest: str | None = None,
        program: str | None = None,
        audit: Callable[[str], None] | None = None,
    ) -> T:
        """`audit`: writes the operation's audit entry given its outcome, instead of the standard line (exec's)."""

        def record(outcome: str = "ok") -> None:
            if audit is not None:
                audit(outcome)
            else:
                self.audit.record(op, sandbox=sandbox_id, path=path, dest=dest, program=program, outcome=outcome)

        if write and op != "exec" and self.provider.name == "local":
            self._moved(sandbox_id)
        self._busy[sandbox_id] += 1
        try:
            await self.ensure_running(sandbox_id, write=write)
            self.counters[f"provider.{op}"] += 1
            try:
                result = await call()
            except NotRunning:
                self.invalidate(sandbox_id)
                await self.ensure_running(sandbox_id, write=write)
                self.counters[f"provider.{op}"] += 1
                result = await call()
        except SandbenchError as exc:
            record(_outcome(exc))
            raise
        except asyncio.CancelledError:
            if audit is not None:  # an exec whose client went: it still happened, and the Timeline shows it
                audit("cancelled")
            raise
        except Exception as exc:
            log.exception("%s on %s failed", op, sandbox_id)
            record("error")
            raise ProviderError(f"{op} failed unexpectedly (details in the log)") from exc
        finally:
            self._busy[sandbox_id] -= 1
        record()
        await self._touch(sandbox_id)
        return result

    def _moved(self, sandbox_id: str) -> None:
        """A host-side write is coming: the next exec with automatic checkpoints scans before it runs."""
        from services.checkpoints.auto import forget_clean

        forget_clean(self.config.data_dir, sandbox_id)

    async def _touch(self, sandbox_id: str) -> None:
        now = self._clock()
        if now - self._last_touch.get(sandbox_id, -1e9) >= TOUCH_EVERY:
            self._last_touch[sandbox_id] = now
            with contextlib.suppress(SandbenchError):
                await self.provider.touch(sandbox_id)

    async def _lifecycle(
        self,
        op: str,
        sandbox_id: str,
        call: Callable[[], Awaitable[T]],
        name: str | None = None,
        transitional: SandboxState | None = None,
    ) -> T:
        try:
            info = self.cached(sandbox_id) or await self._provider_get(sandbox_id)
            self._check_access(info, sandbox_id, write=True)
            if transitional is not None and info.state is not transitional:
                self._emit(dataclasses.replace(info, state=transitional))  # the UI shows work in flight
            self.counters[f"provider.{op}"] += 1
            result = await call()
        except SandbenchError as exc:
            self.audit.record(op, sandbox=sandbox_id, name=name, outcome=_outcome(exc))
            raise
        except Exception as exc:
            log.exception("%s on %s failed", op, sandbox_id)
            self.audit.record(op, sandbox=sandbox_id, name=name, outcome="error")
            raise ProviderError(f"{op} failed unexpectedly (details in the log)") from exc
        self.audit.record(op, sandbox=sandbox_id, name=name)
        if isinstance(result, SandboxInfo):
            self._remember(result)
        return result

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def list_sandboxes(self, *, include_others: bool = False, usage: bool = False) -> list[SandboxInfo]:
        self.counters["provider.list"] += 1
        try:
            infos = await self.provider.list()
        except SandbenchError as exc:
            self.audit.record("list", outcome=_outcome(exc))
            raise
        visible = [i for i in infos if self.owns(i) or (include_others and self.config.show_others)]
        if usage:
            visible = [await self._with_usage(i) for i in visible]
        for info in visible:
            self._remember(info)
        self.audit.record("list")
        return visible

    async def _with_usage(self, info: SandboxInfo) -> SandboxInfo:
        if info.disk_used_bytes is not None or info.state not in (SandboxState.STARTED, SandboxState.STOPPED):
            return info
        try:
            used = await self.provider.disk_usage(info.id)
        except SandbenchError:
            return info
        return dataclasses.replace(info, disk_used_bytes=used)

    async def get(self, sandbox_id: str) -> SandboxInfo:
        info = self._remember(await self._provider_get(sandbox_id))
        self._check_access(info, sandbox_id, write=False)
        return info

    async def resolve(self, name_or_id: str) -> SandboxInfo:
        """The caller's sandbox with this name (or id). Others' sandboxes only by id and only if shown."""
        infos = await self.list_sandboxes(include_others=self.config.show_others)
        for info in infos:
            if info.name == name_or_id and self.owns(info):
                return info
        for info in infos:
            if info.id == name_or_id:
                return info
        raise SandboxNotFound(f"no sandbox {name_or_id!r}")

    async def create(self, spec: SandboxSpec) -> SandboxInfo:
        if not self.identity:
            raise PermissionDenied("no identity configured: cannot label a new sandbox with its owner")
        check_intervals(
            auto_stop=spec.auto_stop_minutes,
            auto_archive=spec.auto_archive_minutes,
            auto_delete=spec.auto_delete_minutes,
        )
        labels = dict(spec.labels)
        labels[self.owner_label] = self.identity
        spec = dataclasses.replace(spec, labels=labels, volumes=volumes.check_mounts(spec.volumes))
        if spec.volumes:
            self._volume_provider()
        self.counters["provider.create"] += 1
        try:
            if spec.snapshot:
                info = await self.provider.create_from_snapshot(spec.snapshot, spec, self.identity)
            else:
                info = await self.provider.create(spec, self.identity)
        except SandbenchError as exc:
            self.audit.record("create", name=spec.name, outcome=_outcome(exc))
            raise
        self.audit.record("create", sandbox=info.id, name=info.name)
        return self._remember(info)

    # -- named volumes (policy: services/volumes.py) -------------------------------------------------------
    def _volume_provider(self) -> volumes.VolumeProvider:
        if not isinstance(self.provider, volumes.VolumeProvider):
            raise volumes.VolumesUnsupported(f"the {self.provider.name} provider has no named volumes here")
        if not self.identity:
            raise PermissionDenied("no identity configured: volumes belong to an identity")
        return self.provider

    async def list_volumes(self) -> list[VolumeInfo]:
        """This identity's volumes (no other identity's is ever listed)."""
        return await self._volume_provider().list_volumes(self.identity)

    async def get_volume(self, id_or_name: str) -> VolumeInfo:
        """One of this identity's volumes, by id or by name; another identity's is `VolumeNotFound`, as a missing
        one."""
        for v in await self.list_volumes():
            if v.id == id_or_name or v.name == id_or_name:
                return v
        raise volumes.VolumeNotFound(f"no volume {id_or_name[:80]!r}")

    async def create_volume(self, name: str) -> VolumeInfo:
        provider = self._volume_provider()
        name = volumes.check_volume_name(name)
        try:
            info = await provider.create_volume(name, self.identity, cap=self.volume_cap)
        except SandbenchError as exc:
            self.audit.record("create-volume", name=name, outcome=_outcome(exc))
            raise
        self.audit.record("create-volume", name=name)
        return info

    async def delete_volume(self, id_or_name: str) -> VolumeInfo:
        """Delete one of this identity's volumes: refused (`VolumeInUse`) while a sandbox mounts it."""
        provider = self._volume_provider()
        try:
            info = await self.get_volume(id_or_name)
            await provider.delete_volume(info.id, self.identity)
        except SandbenchError as exc:
            self.audit.record("delete-volume", name=id_or_name[:80], outcome=_outcome(exc))
            raise
        self.audit.record("delete-volume", name=info.name)
        return info

    async def start(self, sandbox_id: str) -> SandboxInfo:
        return await self._lifecycle(
            "start", sandbox_id, lambda: self.provider.start(sandbox_id), transitional=SandboxState.STARTING
        )

    async def stop(self, sandbox_id: str) -> SandboxInfo:
        info = await self._lifecycle(
            "stop", sandbox_id, lambda: self.provider.stop(sandbox_id), transitional=SandboxState.STOPPING
        )
        if info.state is SandboxState.DELETED:
            self.invalidate(sandbox_id)
        return info

    async def archive(self, sandbox_id: str) -> SandboxInfo:
        return await self._lifecycle(
            "archive", sandbox_id, lambda: self.provider.archive(sandbox_id), transitional=SandboxState.STOPPING
        )

    async def delete(self, sandbox_id: str) -> None:
        info = self.cached(sandbox_id)
        await self._lifecycle("delete", sandbox_id, lambda: self.provider.delete(sandbox_id))
        self.invalidate(sandbox_id)
        with contextlib.suppress(OSError, SandbenchError):
            await asyncio.to_thread(self.exec_outputs.drop, sandbox_id)  # its commands' outputs go with it
        if info is not None:
            self._emit(dataclasses.replace(info, state=SandboxState.DELETED))

    async def snapshot(self, sandbox_id: str, name: str) -> SnapshotInfo:
        return await self._lifecycle("snapshot", sandbox_id, lambda: self.provider.snapshot(sandbox_id, name), name)

    async def list_snapshots(self) -> list[SnapshotInfo]:
        """This identity's snapshots, and the shared ones: a snapshot with no owner (`owner=None`, as Daytona
        reports them: they belong to the organisation) is the team's, listed and usable to create from. Local
        snapshots always carry their owner, so others' stay hidden."""
        self.counters["provider.list_snapshots"] += 1
        snaps = await self.provider.list_snapshots()
        return [s for s in snaps if s.owner == self.identity or s.owner is None]

    async def delete_snapshot(self, name: str) -> None:
        """Delete one of this identity's snapshots. A shared one (owner None) is refused: it is the
        organisation's, and sandbench cannot tell who else builds on it."""
        try:
            self.counters["provider.list_snapshots"] += 1
            same_name = [s for s in await self.provider.list_snapshots() if s.name == name]
            if same_name and not any(s.owner == self.identity for s in same_name):
                if any(s.owner is None for s in same_name):
                    raise PermissionDenied(f"snapshot {name!r} is shared by the organisation: not deleting it")
            self.counters["provider.delete_snapshot"] += 1
            await self.provider.delete_snapshot(name, self.identity)
        except SandbenchError as exc:
            self.audit.record("delete-snapshot", name=name, outcome=_outcome(exc))
            raise
        self.audit.record("delete-snapshot", name=name)

    async def adopt(self, sandbox_id: str) -> SandboxInfo:
        """Make another owner's (or an unlabelled) sandbox ours by setting the owner label: an explicit act,
        offered only when seeing others' sandboxes is switched on, and audited like every lifecycle operation."""
        if not self.config.show_others:
            raise PermissionDenied("adopting needs show_others = true in the config")
        try:
            info = await self._provider_get(sandbox_id)
            if self.owns(info):
                return info
            labels = dict(info.labels)
            labels[self.owner_label] = self.identity
            self.counters["provider.set_labels"] += 1
            adopted = await self.provider.set_labels(sandbox_id, labels)
        except SandbenchError as exc:
            self.audit.record("adopt", sandbox=sandbox_id, outcome=_outcome(exc))
            raise
        self.audit.record("adopt", sandbox=sandbox_id, name=adopted.name)
        return self._remember(adopted)

    async def set_labels(self, sandbox_id: str, labels: Mapping[str, str]) -> SandboxInfo:
        merged = dict(labels)
        merged[self.owner_label] = self.identity  # relabelling never gives a sandbox away by accident
        return await self._lifecycle("set-labels", sandbox_id, lambda: self.provider.set_labels(sandbox_id, merged))

    async def set_intervals(
        self,
        sandbox_id: str,
        *,
        auto_stop: int | None = None,
        auto_archive: int | None = None,
        auto_delete: int | None = None,
    ) -> SandboxInfo:
        """Change a sandbox's lifecycle intervals in minutes (Daytona's meanings: auto-stop 0 never; auto-archive 0
        the maximum; auto-delete -1 never, 0 on stop). Owners only, audited; `None` keeps an interval."""
        check_intervals(auto_stop=auto_stop, auto_archive=auto_archive, auto_delete=auto_delete)
        return await self._lifecycle(
            "set-intervals",
            sandbox_id,
            lambda: self.provider.set_intervals(
                sandbox_id, auto_stop=auto_stop, auto_archive=auto_archive, auto_delete=auto_delete
            ),
        )

    # -- files ---------------------------------------------------------------------------------------------
    async def list_dir(self, sandbox_id: str, path: str = "", *, details: bool = True) -> list[FileEntry]:
        """`details=False`: names and kinds only (size, mtime and mode may be -1), for trees."""
        p = paths.normalize(path)
        return await self._run(
            "list", sandbox_id, lambda: self.provider.list_dir(sandbox_id, p, details=details), write=False, path=p
        )

    async def stat(self, sandbox_id: str, path: str) -> FileEntry:
        p = paths.normalize(path)
        return await self._run("stat", sandbox_id, lambda: self.provider.stat(sandbox_id, p), write=False, path=p)

    async def read_file(self, sandbox_id: str, path: str, *, head: bool = False, limit: int | None = None) -> FileData:
        p = paths.normalize(path)
        lim = limit if limit is not None else self.config.read_limit
        return await self._run(
            "read",
            sandbox_id,
            lambda: self.provider.read_file(sandbox_id, p, limit=lim, head=head),
            write=False,
            path=p,
        )

    async def write_file(
        self, sandbox_id: str, path: str, data: bytes, *, expected_mtime: float | None = None
    ) -> FileEntry:
        p = paths.normalize(path)
        if not p:
            raise InvalidInput("cannot write to the workspace root")
        if len(data) > WRITE_LIMIT:
            raise TooLarge(f"{len(data) / 1024**2:.1f} MiB is over the {WRITE_LIMIT // 1024**2} MiB write limit")
        return await self._run(
            "write",
            sandbox_id,
            lambda: self.provider.write_file(sandbox_id, p, data, expected_mtime=expected_mtime),
            write=True,
            path=p,
        )

    def _streams(self) -> FileStreams:
        if not isinstance(self.provider, FileStreams):
            raise InvalidInput(f"{self.provider.name} sandboxes do not offer streamed file transfers")
        return self.provider

    async def open_read(self, sandbox_id: str, path: str) -> ReadStream:
        """A regular file opened for reading in chunks (no symlink followed); the caller closes it."""
        p = paths.normalize(path)
        streams = self._streams()
        return await self._run("read", sandbox_id, lambda: streams.open_read(sandbox_id, p), write=False, path=p)

    async def open_write(self, sandbox_id: str, path: str) -> WriteStream:
        """Begin an atomic replace of `path` fed in chunks; `commit()` makes it visible, `abort()` drops it."""
        p = paths.normalize(path)
        if not p:
            raise InvalidInput("cannot write to the workspace root")
        streams = self._streams()
        return await self._run("write", sandbox_id, lambda: streams.open_write(sandbox_id, p), write=True, path=p)

    async def mkdir(self, sandbox_id: str, path: str, *, parents: bool = False) -> FileEntry:
        p = paths.normalize(path)
        return await self._run(
            "mkdir", sandbox_id, lambda: self.provider.mkdir(sandbox_id, p, parents=parents), write=True, path=p
        )

    async def move(self, sandbox_id: str, src: str, dst: str, *, overwrite: bool = False) -> FileEntry:
        s, d = paths.normalize(src), paths.normalize(dst)
        if not s or not d:
            raise InvalidInput("cannot move the workspace root")
        return await self._run(
            "move",
            sandbox_id,
            lambda: self.provider.move(sandbox_id, s, d, overwrite=overwrite),
            write=True,
            path=s,
            dest=d,
        )

    async def delete_path(self, sandbox_id: str, path: str, *, recursive: bool = False) -> None:
        p = paths.normalize(path)
        if not p:
            raise InvalidInput("cannot delete the workspace root")
        await self._run(
            "delete",
            sandbox_id,
            lambda: self.provider.delete_path(sandbox_id, p, recursive=recursive),
            write=True,
            path=p,
        )

    async def search(self, sandbox_id: str, pattern: str, *, path: str = "", limit: int = 1000) -> list[str]:
        p = paths.normalize(path)
        if "\x00" in pattern or "/" in pattern:
            raise InvalidInput("a search pattern is a file name pattern (no '/' or NUL)")
        return await self._run(
            "search", sandbox_id, lambda: self.provider.search(sandbox_id, p, pattern, limit=limit), write=False, path=p
        )

    async def list_files(self, sandbox_id: str, path: str = "", *, limit: int = 200_000) -> list[str]:
        p = paths.normalize(path)
        return await self._run(
            "list-files", sandbox_id, lambda: self.provider.list_files(sandbox_id, p, limit=limit), write=False, path=p
        )

    # -- processes -----------------------------------------------------------------------------------------
    async def exec(
        self,
        sandbox_id: str,
        argv: Sequence[str],
        *,
        cwd: str = "",
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        stdin: Stdin | None = None,
        on_output: OutputCallback | None = None,
        keep_output: int | None = None,
        internal: bool = False,
        shown_argv: Sequence[str] | None = None,
        shown_cwd: str | None = None,
        shown_output: Callable[[], bytes] | None = None,
    ) -> ExecResult:
        """Run `argv` in the sandbox. Audited as one exec entry (services/audit.py): the command line redacted,
        duration, exit code, a bounded redacted copy of the output (`exec_output`), and — with automatic checkpoints
        on — the checkpoints before and after it (services/checkpoints/auto.py).

        `internal`: the app's own read-only probe (git status, a search): no checkpoints, marked so in the log.
        `shown_argv` / `shown_cwd`: what the log shows when `argv` is a wrapper around the caller's command (serve
        runs an agent's command string through `sh -c` with its own script); `shown_output`: the command's own
        output, when the stream also carries the wrapper's (read once it ended, then bounded and redacted)."""
        if not argv or not all(isinstance(a, str) and "\x00" not in a for a in argv):
            raise InvalidInput("a command is a non-empty list of arguments without NUL bytes")
        c = paths.normalize(cwd)
        for key in env or {}:
            if not key or "=" in key or "\x00" in key or "\x00" in (env or {})[key]:
                raise InvalidInput(f"invalid environment variable name {key[:40]!r}")
        shown = [str(a) for a in shown_argv] if shown_argv else list(argv)
        redactor = self.redactor.with_env(dict(env or {}))
        keeper = OutputKeeper(self.config.exec_output_limit)
        around: dict[str, str | None] = {"before": None, "after": None}
        done: dict[str, int] = {}

        def tee(stream: Any, data: bytes) -> None:
            if shown_output is None:
                keeper.feed(data)
            if on_output is not None:
                on_output(stream, data)

        async def call() -> ExecResult:
            auto = None if internal else await self._auto_bracket(sandbox_id, redactor.summary(shown))
            if auto is not None:
                around["before"] = await auto.before()
            t0 = time.monotonic()
            try:
                result = await self.provider.exec(
                    sandbox_id,
                    list(argv),
                    cwd=c,
                    env=env,
                    timeout=timeout,
                    stdin=stdin,
                    on_output=tee,
                    keep_output=keep_output,
                )
            except SandbenchError:
                done["ms"] = int((time.monotonic() - t0) * 1000)
                if auto is not None:
                    around["after"] = await auto.after()
                raise
            done["ms"] = int((time.monotonic() - t0) * 1000)
            done["exit"] = result.exit_code
            if shown_output is not None:
                keeper.feed(shown_output())
            elif keeper.total == 0:  # a provider that does not stream: what it kept is what there is
                keeper.feed(result.stdout)
                keeper.feed(result.stderr)
            if auto is not None:
                around["after"] = await auto.after()
            return result

        def audit(outcome: str) -> None:
            output_id = None
            kept = keeper.finish(redactor)
            if kept is not None:
                try:
                    output_id = self.exec_outputs.put(sandbox_id, kept)
                except (OSError, SandbenchError):
                    log.warning("could not keep the output of an exec in %s", sandbox_id, exc_info=True)
            self.audit.record_exec(
                sandbox=sandbox_id,
                cwd=shown_cwd if shown_cwd is not None else c,
                program=redactor.text(os.path.basename(shown[0]))[:200],
                argv=redactor.argv(shown),
                ms=done.get("ms", 0),
                outcome=outcome,
                exit_code=done.get("exit"),
                before=around["before"],
                after=around["after"],
                output=output_id,
                internal=internal,
            )

        return await self._run("exec", sandbox_id, call, write=True, audit=audit)

    async def _auto_bracket(self, sandbox_id: str, summary: str) -> Any:
        """The automatic checkpoints around one exec, or None when they are off for this sandbox."""
        from services.checkpoints.auto import bracket

        return await bracket(self, sandbox_id, summary)

    async def exec_output(self, sandbox_id: str, output_id: str) -> bytes:
        """The kept (bounded, redacted) output of one exec, by the id its audit entry names. Ownership checked:
        read access to the sandbox is enough, as for its files."""
        info = self.cached(sandbox_id) or self._remember(await self._provider_get(sandbox_id))
        self._check_access(info, sandbox_id, write=False)
        return await asyncio.to_thread(self.exec_outputs.read, sandbox_id, output_id)

    async def open_terminal(
        self, sandbox_id: str, cols: int = 80, rows: int = 24, *, cwd: str = "", env: Mapping[str, str] | None = None
    ) -> TerminalSession:
        c = paths.normalize(cwd)
        session = await self._run(
            "terminal",
            sandbox_id,
            lambda: self.provider.open_terminal(sandbox_id, cols, rows, cwd=c, env=env),
            write=True,
            path=c or None,
        )
        return _TrackedTerminal(session, self, sandbox_id)

    async def list_terminals(self, sandbox_id: str) -> list[TerminalInfo]:
        """Terminal sessions still alive on the provider's side, to offer reattaching to them when a sandbox is
        reopened (oldest first; `active=False` for exited ones). A
        sandbox that is not running has no live sessions, so this never starts one just to look."""
        if not isinstance(self.provider, TerminalReattach):
            return []
        provider = self.provider
        try:
            info = self.cached(sandbox_id) or self._remember(await self._provider_get(sandbox_id))
            self._check_access(info, sandbox_id, write=True)  # a terminal is exec: owners only, as open_terminal
        except SandbenchError as exc:
            self.audit.record("terminal-list", sandbox=sandbox_id, outcome=_outcome(exc))
            raise
        if info.state is not SandboxState.STARTED:
            return []
        return await self._run("terminal-list", sandbox_id, lambda: provider.list_terminals(sandbox_id), write=True)

    async def attach_terminal(self, sandbox_id: str, session_id: str) -> TerminalSession:
        """Reattach to a live terminal session (an id from `list_terminals`): its recent output replays, then it
        streams. Ownership-checked and audited like `open_terminal`. `close()` ends the shell; `detach()` drops
        only the connection, leaving the shell for a later attach."""
        if not isinstance(self.provider, TerminalReattach):
            exc: SandbenchError = InvalidInput(
                f"{self.provider.name} terminals end with the app: there is no session to reattach to"
            )
            self.audit.record("terminal-attach", sandbox=sandbox_id, outcome=_outcome(exc))
            raise exc
        if not isinstance(session_id, str) or not TERMINAL_ID.fullmatch(session_id):
            exc = InvalidInput("a terminal session id is 1-128 letters, digits, '.', '_' or '-'")
            self.audit.record("terminal-attach", sandbox=sandbox_id, outcome=_outcome(exc))
            raise exc
        provider = self.provider
        session = await self._run(
            "terminal-attach", sandbox_id, lambda: provider.attach_terminal(sandbox_id, session_id), write=True
        )
        return _TrackedTerminal(session, self, sandbox_id)

    # -- auto-stop -----------------------------------------------------------------------------------------
    def is_busy(self, sandbox_id: str) -> bool:
        return self._busy[sandbox_id] > 0

    async def reap_idle(self, now: float | None = None) -> list[str]:
        """Stop this identity's local sandboxes idle past their auto-stop interval. Daytona stops its own."""
        if self.provider.name != "local":
            return []
        stopped = []
        wall = now if now is not None else time.time()
        for info in await self.list_sandboxes():
            if info.state is not SandboxState.STARTED or info.auto_stop_minutes <= 0 or self.is_busy(info.id):
                continue
            if wall - info.last_activity.timestamp() >= info.auto_stop_minutes * 60:
                try:
                    await self.stop(info.id)
                    self.audit.record("auto-stop", sandbox=info.id, name=info.name)
                    stopped.append(info.id)
                except SandbenchError:
                    log.exception("auto-stop of %s failed", info.name)
        return stopped

    async def reap_stopped(self, now: float | None = None) -> list[str]:
        """Archive this identity's local sandboxes stopped longer than their auto-archive interval, and delete those
        stopped (or archived) longer than their auto-delete interval, as Daytona does with its own. Each is done only
        if the sandbox is still stopped since the same moment (`LifecycleExpiry.expire`), and audited."""
        if not isinstance(self.provider, LifecycleExpiry):
            return []
        expiry = self.provider
        done = []
        wall = now if now is not None else time.time()
        for info in await self.list_sandboxes():
            if info.stopped_at is None or self.is_busy(info.id):
                continue
            if info.state not in (SandboxState.STOPPED, SandboxState.ARCHIVED):
                continue
            stopped = info.stopped_at.timestamp()
            idle = wall - stopped
            if info.auto_delete_minutes >= 0 and idle >= info.auto_delete_minutes * 60:
                action = "delete"
            elif info.state is SandboxState.STOPPED and idle >= info.auto_archive_minutes * 60:
                action = "archive"
            else:
                continue
            try:
                acted = await expiry.expire(info.id, action, stopped)
                if acted and action == "archive":
                    self._remember(await self._provider_get(info.id))
            except SandbenchError as exc:
                log.warning("auto-%s of %s failed: %s", action, info.name, exc.message)
                self.audit.record(f"auto-{action}", sandbox=info.id, name=info.name, outcome=_outcome(exc))
                self.invalidate(info.id)
                continue
            if not acted:  # started, or changed, by someone meanwhile: left alone
                self.invalidate(info.id)
                continue
            if action == "delete":
                self.invalidate(info.id)
                self._emit(dataclasses.replace(info, state=SandboxState.DELETED))
            self.audit.record(f"auto-{action}", sandbox=info.id, name=info.name)
            done.append(info.id)
        return done

    async def reap(self, now: float | None = None) -> list[str]:
        """One pass of the lifecycle reaper: auto-stop, then auto-archive and auto-delete. Ids acted on."""
        return [*await self.reap_idle(now), *await self.reap_stopped(now)]

    def start_auto_stop(self, interval: float = 30.0) -> None:
        """Run the lifecycle reaper (`reap`) every `interval` seconds until `close()`."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.reap()
                except Exception:
                    log.exception("lifecycle pass failed")

        if self._reaper is None:
            self._reaper = asyncio.ensure_future(loop())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        if self._metrics is not None:
            await self._metrics.close()
        if self._procs is not None:
            await self._procs.close()  # forwards listen until here
        await self.provider.close()
        self.audit.close()


class _TrackedTerminal:
    """A terminal that keeps its sandbox marked busy while open, and records activity as it is used."""

    def __init__(self, inner: TerminalSession, service: SandboxService, sandbox_id: str):
        self._inner = inner
        self._service = service
        self._sandbox_id = sandbox_id
        self._open = True
        service._busy[sandbox_id] += 1

    @property
    def session_id(self) -> str:
        return self._inner.session_id

    @property
    def exit_code(self) -> int | None:
        return self._inner.exit_code

    async def write(self, data: bytes) -> None:
        await self._inner.write(data)
        await self._service._touch(self._sandbox_id)

    async def resize(self, cols: int, rows: int) -> None:
        await self._inner.resize(cols, rows)

    async def output(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner.output():
            yield chunk

    async def wait(self) -> int:
        code = await self._inner.wait()
        self._release()
        return code

    def _release(self) -> None:
        if self._open:
            self._open = False
            self._service._busy[self._sandbox_id] -= 1

    async def close(self) -> None:
        await self._inner.close()
        self._release()

    async def detach(self) -> None:
        """Drop the connection but leave the shell running (providers whose sessions outlive the client);
        elsewhere the same as `close()`, since a shell without its client would only leak."""
        detach = getattr(self._inner, "detach", None)
        if callable(detach):
            await detach()
        else:
            await self._inner.close()
        self._release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _outcome(exc: SandbenchError) -> str:
    return f"error:{type(exc).__name__}"

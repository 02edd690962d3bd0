"""The core of SandboxService (services/sandbox_service.py): the state and the brackets every operation goes through.

Owns what one service instance holds (all of it built here, in `SandboxCore.__init__`, so one place lists it), the
ownership check, the state listeners, the per-sandbox state cache with `ensure_running` (auto-start of stopped and
archived sandboxes, one start shared by concurrent callers), and the two brackets operations run in: `_run` for a
sandbox's toolbox (busy count, `ensure_running`, one retry after `NotRunning`, the audit line, activity) and
`_lifecycle` for lifecycle operations (owner check, audit, cache update).

`SandboxService` is this core plus one mixin per job, each a subclass of `SandboxCore` in its own module:
files (sandbox_files.py), exec (sandbox_exec.py), terminals (sandbox_terminals.py), metrics and processes
(sandbox_observe.py), named volumes (sandbox_volumes.py); lifecycle and the reaper stay in sandbox_service.py.
Mixins rather than delegated parts: every public method is defined once, on the class the UI and the server already
hold, with its real signature: no forwarding layer to keep in step with it, no second way to reach a method. The
parts share the core's state and brackets through `self`, and mypy checks each part against the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from services import volumes
from services.audit import AuditLog
from services.config import Config
from services.errors import NotRunning, OperationTimeout, ProviderError, SandbenchError, SandboxNotFound
from services.exec_log import OutputStore
from services.models import SandboxInfo, SandboxState
from services.provider import Provider
from services.redact import Redactor

if TYPE_CHECKING:
    from services.checkpoints import CheckpointService
    from services.metrics import Metrics
    from services.processes import ProcessService
    from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)
T = TypeVar("T")

START_WAIT = 120.0  # seconds to wait for a sandbox someone else is starting
TOUCH_EVERY = 10.0  # seconds between activity writes per sandbox
StateListener = Callable[[SandboxInfo], None]


@dataclass
class _Cached:
    info: SandboxInfo
    expires: float


class SandboxCore:
    """The state cache, access and operation brackets of `SandboxService` (which adds the operations)."""

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
        # everything an instance holds, the parts' state too: one place lists it
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

    def _whole(self) -> SandboxService:
        """This object as the whole service, for the parts built over one (metrics, processes, the checkpoints
        around an exec): a `SandboxCore` only ever exists as the core of a `SandboxService` (the mixins are never
        used alone)."""
        return cast("SandboxService", self)

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
                self.audit.record("auto-start", sandbox=info.id, name=info.name, outcome=outcome(exc))
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
            record(outcome(exc))
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
            self.audit.record(op, sandbox=sandbox_id, name=name, outcome=outcome(exc))
            raise
        except Exception as exc:
            log.exception("%s on %s failed", op, sandbox_id)
            self.audit.record(op, sandbox=sandbox_id, name=name, outcome="error")
            raise ProviderError(f"{op} failed unexpectedly (details in the log)") from exc
        self.audit.record(op, sandbox=sandbox_id, name=name)
        if isinstance(result, SandboxInfo):
            self._remember(result)
        return result


def outcome(exc: SandbenchError) -> str:
    """The audit outcome of an operation that failed with `exc` (its class, never its message)."""
    return f"error:{type(exc).__name__}"

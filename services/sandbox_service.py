"""SandboxService: the one object the UI (and the CLI) talks to (DESIGN §3).

Every operation goes: ownership check → `ensure_running` (state cache with a TTL; auto-start of stopped and
archived sandboxes, one start shared by concurrent callers) → path policy and size limits → the provider →
an audit line. An operation that fails with `NotRunning` invalidates the cache, re-checks once and retries once.

Ownership fails closed: a sandbox whose owner label is not the configured identity (or has no owner label) is
answered exactly like a missing one, unless the config opts into seeing others' sandboxes read-only.

The class is its core plus one mixin per job; this file holds the lifecycle (list, create, start, stop, archive,
delete, snapshots, labels, intervals), the lifecycle reaper (auto-stop, auto-archive, auto-delete) and `close()`.
The rest, each in its own module with what it owns at its top:
- services/sandbox_core.py: the state, ownership, the state cache and `ensure_running`, the operation brackets
- services/sandbox_files.py: file operations
- services/sandbox_exec.py: `exec`, its audit entry and automatic checkpoints, kept outputs
- services/sandbox_terminals.py: terminals (open, list, reattach) and their busy marking
- services/sandbox_observe.py: metrics, processes, ports and forwards
- services/sandbox_volumes.py: named volumes
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from services import volumes
from services.errors import InvalidInput, PermissionDenied, SandbenchError, SandboxNotFound
from services.models import SandboxInfo, SandboxSpec, SandboxState, SnapshotInfo
from services.periodic import every
from services.provider import LifecycleExpiry
from services.sandbox_core import SandboxCore, outcome
from services.sandbox_exec import ExecOps
from services.sandbox_files import FileOps
from services.sandbox_observe import ObserveOps
from services.sandbox_terminals import TerminalOps
from services.sandbox_volumes import VolumeOps

if TYPE_CHECKING:
    from services.checkpoints import CheckpointService

log = logging.getLogger(__name__)

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


class SandboxService(FileOps, ExecOps, TerminalOps, ObserveOps, VolumeOps, SandboxCore):
    """The one object the UI, the CLI and `sandbench serve` talk to (see the module docstring for its parts)."""

    @property
    def checkpoints(self) -> CheckpointService:
        """Checkpoints, changes, restore and fork of this service's sandboxes (services/checkpoints)."""
        if self._checkpoints is None:
            from services.checkpoints import CheckpointService

            self._checkpoints = CheckpointService(self)
        return self._checkpoints

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def list_sandboxes(self, *, include_others: bool = False, usage: bool = False) -> list[SandboxInfo]:
        self.counters["provider.list"] += 1
        try:
            infos = await self.provider.list()
        except SandbenchError as exc:
            self.audit.record("list", outcome=outcome(exc))
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
            self.audit.record("create", name=spec.name, outcome=outcome(exc))
            raise
        self.audit.record("create", sandbox=info.id, name=info.name)
        return self._remember(info)

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
        self._forget_feed(sandbox_id)  # its workspace goes into the store
        return await self._lifecycle(
            "archive", sandbox_id, lambda: self.provider.archive(sandbox_id), transitional=SandboxState.STOPPING
        )

    def _forget_feed(self, sandbox_id: str) -> None:
        if self._checkpoints is not None:
            self._checkpoints.forget(sandbox_id)  # its change feed (services/checkpoints/feed.py), if any

    async def delete(self, sandbox_id: str) -> None:
        info = self.cached(sandbox_id)
        self._forget_feed(sandbox_id)
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
            self.audit.record("delete-snapshot", name=name, outcome=outcome(exc))
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
            self.audit.record("adopt", sandbox=sandbox_id, outcome=outcome(exc))
            raise
        self.audit.record("adopt", sandbox=sandbox_id, name=adopted.name)
        return self._remember(adopted)

    async def set_labels(self, sandbox_id: str, labels: Mapping[str, str]) -> SandboxInfo:
        merged = dict(labels)
        merged[self.owner_label] = self.identity  # relabelling never gives a sandbox away by accident
        known = self.cached(sandbox_id)
        return await self._lifecycle(
            "set-labels",
            sandbox_id,
            lambda: self.provider.set_labels(sandbox_id, merged),
            name=self._label_changes(dict(known.labels) if known else {}, merged),
        )

    def _label_changes(self, old: Mapping[str, str], new: Mapping[str, str]) -> str | None:
        """What a relabelling changed, for its audit entry (the Timeline's row): `k=v` set, `k-` removed; redacted
        and bounded, since a label's value is the caller's text. None when nothing is known to have changed."""
        parts = [f"{k}={v}" for k, v in sorted(new.items()) if k != self.owner_label and old.get(k) != v]
        parts += [f"{k}-" for k in sorted(old) if k not in new and k != self.owner_label]
        return self.redactor.text(" ".join(parts))[:200] or None

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
                self.audit.record(f"auto-{action}", sandbox=info.id, name=info.name, outcome=outcome(exc))
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
        if self._reaper is None:
            self._reaper = asyncio.ensure_future(every(interval, self.reap, "lifecycle pass", log))

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
        if self._checkpoints is not None:
            self._checkpoints.close()  # its change feeds' inotify instances
        await self.provider.close()
        self.audit.close()

"""The sandbox list's CPU sparklines (issue 13 §3): while the list is on screen, every running sandbox in it is
watched (`SandboxService.metrics_sampler`), and each new sample redraws that row's `CPU%` cell.

The list lets go of every watch when another screen covers it (the workspace, the Metrics view: that one keeps its
own sandbox's) and takes them again when it is shown, so sandboxes nobody looks at are not read. The sampler's
listener runs on the event loop, mid-way through other work: it only posts a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

from services.metrics import MetricsSample, MetricsSampler, Watch
from services.models import SandboxState
from widgets.sandbox_table import SPARK_SPAN

if TYPE_CHECKING:
    from tui.screens.sandbox_list import SandboxListScreen


class CpuSampled(Message):
    def __init__(self, sandbox_id: str) -> None:
        super().__init__()
        self.sandbox_id = sandbox_id


class ListCpu:
    """Watches the list's running sandboxes while `active`; `sync()` after the rows change."""

    def __init__(self, screen: SandboxListScreen, sampler: MetricsSampler) -> None:
        self.screen = screen
        self.sampler = sampler
        self.active = True
        self._watches: dict[str, Watch] = {}
        self._unsubscribe: Callable[[], None] | None = sampler.subscribe(self._sampled)

    @property
    def watched(self) -> set[str]:
        return set(self._watches)

    def sync(self) -> None:
        wanted = {i.id for i in self.screen.table.infos if i.state is SandboxState.STARTED} if self.active else set()
        for sandbox_id in set(self._watches) - wanted:
            self._watches.pop(sandbox_id).close()
        for sandbox_id in wanted - set(self._watches):
            self._watches[sandbox_id] = self.sampler.watch(sandbox_id)
            self.draw(sandbox_id)  # what was kept from an earlier look shows at once

    def pause(self) -> None:
        self.active = False
        self.sync()

    def resume(self) -> None:
        self.active = True
        self.sync()

    def close(self) -> None:
        self.pause()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _sampled(self, sandbox_id: str, _sample: MetricsSample | None, _error: str | None) -> None:
        if sandbox_id in self._watches:
            self.screen.post_message(CpuSampled(sandbox_id))

    def draw(self, sandbox_id: str) -> None:
        history = self.sampler.history(sandbox_id)
        if not history:
            return
        end = history[-1].at
        points = [(s.at, s.cpu_pct) for s in history if s.cpu_pct is not None and s.at >= end - SPARK_SPAN]
        self.screen.table.set_cpu_history(sandbox_id, points, end)

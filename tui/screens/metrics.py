"""The Metrics screen (issue 13 §3): `widgets.metrics_view.MetricsView` of one sandbox, over the workspace (f10) or
the sandbox list (m), with its own footer.

While it is shown it holds a watch on the sandbox (`SandboxService.metrics_sampler`): the sampler reads the
sandbox every second and keeps 15 minutes; closing the screen lets go, and a sandbox nobody else watches is no
longer read. Samples arrive through the sampler's listener (called on the event loop), which only posts a message.

The seam for tests is `sampler`: snapshot tests pass a `MetricsSampler` holding fixed samples, whose reads never
complete, so the frame is the same every run.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from services.metrics import MetricsSample, MetricsSampler, Watch
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from services.text import safe_text
from tui.keymap import FOCUS_KEYS, METRICS_KEYS, bindings
from tui.screens.view_switch import ViewSwitch, view_keys
from widgets.metrics_view import MetricsView


class MetricsScreen(ViewSwitch, Screen[None], inherit_bindings=False):
    BINDINGS = bindings(METRICS_KEYS + view_keys("metrics", "Metrics", skip=("metrics",)) + FOCUS_KEYS)
    HELP_TITLE = "Metrics"
    DEFAULT_CSS = """
    MetricsScreen #metrics-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    """

    class Sampled(Message):
        def __init__(self, sandbox_id: str) -> None:
            super().__init__()
            self.sandbox_id = sandbox_id

    def __init__(self, service: SandboxService, info: SandboxInfo, *, sampler: MetricsSampler | None = None) -> None:
        super().__init__()
        self.service = service
        self.info = info
        self.sampler = sampler if sampler is not None else service.metrics_sampler
        self._watch: Watch | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(None), id="metrics-title")
        yield MetricsView(id="metrics-view")
        yield Footer()

    def _title(self, latest: MetricsSample | None) -> Text:
        out = Text(f"Metrics · {safe_text(self.info.name)}", no_wrap=True, overflow="ellipsis")
        minutes = self.sampler.keep / 60
        out.append(f"  last {minutes:g} min, every {self.sampler.interval:g} s", style="dim")
        if latest is not None:
            out.append(f"  · {safe_text(latest.source)}", style="dim")
        return out

    @property
    def view(self) -> MetricsView:
        return self.query_one(MetricsView)

    def on_mount(self) -> None:
        self._unsubscribe = self.sampler.subscribe(self._sampled)
        self._watch = self.sampler.watch(self.info.id)
        self._redraw()

    def on_unmount(self) -> None:
        self._let_go()

    def _let_go(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _sampled(self, sandbox_id: str, _sample: MetricsSample | None, _error: str | None) -> None:
        if sandbox_id == self.info.id:
            self.post_message(self.Sampled(sandbox_id))

    def on_metrics_screen_sampled(self, _message: Sampled) -> None:
        self._redraw()

    def _redraw(self) -> None:
        history = self.sampler.history(self.info.id)
        latest = history[-1] if history else None
        self.query_one("#metrics-title", Static).update(self._title(latest))
        self.view.show(history, span=self.sampler.keep, error=self.sampler.errors.get(self.info.id))

    def action_close(self) -> None:
        self._let_go()
        self.dismiss(None)

    def leave(self) -> None:
        self.action_close()  # to another view: the sampler is let go of as on escape

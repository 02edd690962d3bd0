"""The status bar: provider, sandbox, state, isolation level, git branch, and a spinner for work in flight.

A plain view of reactives: the screen sets them from service events and from messages panes post
(`widgets.messages.WorkInFlight`, `BranchChanged`). Several pieces of work can be in flight at once; the bar shows
the most recent one and a count. The spinner timer runs only while something is in flight.

On another owner's sandbox (opened from the list with others shown) the bar says "read-only" and whose it is, in
the warning colour, right after the sandbox's name: writes there fail, and the bar says why before they do.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget

from services.models import Isolation, SandboxInfo, SandboxState
from services.text import safe_text
from widgets.sandbox_table import SPINNER


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    provider: reactive[str] = reactive("")
    sandbox: reactive[str] = reactive("")
    state: reactive[str] = reactive("")
    isolation: reactive[str] = reactive("")
    isolation_via: reactive[str] = reactive("")  # what enforces it, e.g. "bwrap 0.11.0 (bundled)"
    branch: reactive[str | None] = reactive(None)
    read_only: reactive[bool] = reactive(False)
    owner: reactive[str | None] = reactive(None)  # shown with `read_only`: whose sandbox this is
    frame: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._work: dict[str, str] = {}
        self._timer: Timer | None = None

    def show_sandbox(self, info: SandboxInfo, *, read_only: bool = False, owner: str | None = None) -> None:
        self.provider = info.provider
        self.sandbox = info.name
        self.state = str(info.state)
        self.isolation = str(info.isolation)
        self.isolation_via = info.bwrap.label if info.bwrap is not None else ""
        self.read_only = read_only
        self.owner = owner

    # -- work in flight ------------------------------------------------------------------------------------
    @property
    def work(self) -> list[str]:
        return list(self._work.values())

    def begin(self, key: str, text: str) -> None:
        self._work.pop(key, None)
        self._work[key] = text  # re-insert: the newest is shown
        if self._timer is None:
            self._timer = self.set_interval(0.1, self._tick)
        self.refresh()

    def end(self, key: str) -> None:
        self._work.pop(key, None)
        if not self._work and self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.refresh()

    def _tick(self) -> None:
        self.frame += 1

    # -- rendering -----------------------------------------------------------------------------------------
    def _colour(self, name: str, fallback: str) -> str:
        value = getattr(self.app.current_theme, name, None)
        return value or fallback

    def render(self) -> Text:
        """The parts that fit: when the bar is too narrow the least useful go first (what enforces the isolation,
        the provider, the word "isolation:"), so the branch and the work in flight stay readable at 80 columns."""
        width = self.content_size.width
        dropped: set[str] = set()
        out = self._line(dropped)
        for drop in ("via", "provider", "label"):
            if not width or out.cell_len <= width:
                break
            dropped.add(drop)
            out = self._line(dropped)
        return out

    def _line(self, dropped: set[str]) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        if self.provider and "provider" not in dropped:
            out.append(self.provider, style="dim")
            out.append("  ")
        if self.sandbox:
            out.append(safe_text(self.sandbox), style="bold")
            out.append("  ")
        if self.read_only:
            out.append("read-only", style="bold reverse " + self._colour("warning", "yellow"))
            out.append(
                f" {safe_text(self.owner)}'s" if self.owner else " no owner", style=self._colour("warning", "yellow")
            )
            out.append("  ")
        if self.state:
            style = self._colour("success", "green") if self.state == SandboxState.STARTED else ""
            if self.state in (SandboxState.STARTING, SandboxState.STOPPING):
                style = self._colour("warning", "yellow")
            elif self.state == SandboxState.ERROR:
                style = self._colour("error", "red")
            out.append(self.state, style=style)
            out.append("  ")
        if self.isolation:
            warn = self.isolation not in (Isolation.FULL, Isolation.REMOTE)
            label = "" if "label" in dropped else "isolation: "
            out.append(
                f"{label}{self.isolation}",
                style=("bold " + self._colour("warning", "yellow")) if warn else "dim",
            )
            if self.isolation_via and "via" not in dropped:
                out.append(f" · {self.isolation_via}", style="dim")
            out.append("  ")
        if self.branch:
            out.append(f"⎇ {safe_text(self.branch)}", style=self._colour("accent", "magenta"))
            out.append("  ")
        if self._work:
            text = list(self._work.values())[-1]
            more = f" (+{len(self._work) - 1})" if len(self._work) > 1 else ""
            out.append(f"{SPINNER[self.frame % len(SPINNER)]} {safe_text(text)}{more}", style="italic")
        return out

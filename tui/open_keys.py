"""Keys typed while `sandbench open NAME` is still opening NAME: kept for its workspace, then handed to it.

Until the workspace is up the list is on screen ("loading sandboxes…"), whose keys are not the workspace's: alt+3
pressed then did nothing, and a letter could have run a list key on whatever row was selected. So from start-up
until NAME's workspace has the focus, keys are held (`OpenKeys.hold`, asked from the app's `on_event`), the first
one with a line saying they wait for NAME; once the workspace's focus has settled they are dispatched again, in
order, from the app's loop (`release`). If the open fails they are dropped, and the line says how many. Quitting
(the app's quit key) is never held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events

from widgets.early_keys import replay_keys
from widgets.messages import tell

if TYPE_CHECKING:
    from textual.app import App

SETTLE_POLL = 0.05  # seconds between looks at whether the workspace has the focus
SETTLE_AT_MOST = 30.0  # then the open is taken to have failed: the keys are dropped, never given to the list
PASSES = frozenset({"ctrl+q"})  # never held: quitting works while it opens


class OpenKeys:
    """The held keys of one `sandbench open NAME` (None once released or dropped: nothing more is held)."""

    def __init__(self, app: App[Any], name: str) -> None:
        self._app = app
        self._name = name
        self._held: list[events.Key] | None = []
        self._waited = 0.0
        self._ready: Any = None  # the workspace-is-up test, once the open has reported (release_when_settled)

    @property
    def holding(self) -> bool:
        return self._held is not None

    def hold(self, event: events.Event) -> bool:
        """True when `event` is kept for the workspace (see the module docstring)."""
        if self._held is None or not isinstance(event, events.Key) or event.is_forwarded or event.key in PASSES:
            return False
        if self._ready is not None and self._ready():  # up already, before the next look: nothing to hold for
            if not self._held:
                self._held = None
                return False
            self._held.append(event)  # behind the keys held before it
            self._app.call_later(self._release)
            return True
        if not self._held:
            tell(self._app, f"opening {self._name}… what you type goes to it once it is open", timeout=3)
        self._held.append(event)
        return True

    def release_when_settled(self, ready: Any) -> None:
        """Hand the keys over once `ready()` (the workspace is on top with the focus in a pane) holds."""
        if self._held is None:
            return
        if not self._app.is_running:  # closing: the keys have nowhere to go (and no timer may outlive the app)
            self._held = None
            return
        self._ready = ready
        if not ready():
            if self._waited >= SETTLE_AT_MOST:
                self.drop()
                return
            self._waited += SETTLE_POLL
            self._app.set_timer(SETTLE_POLL, lambda: self.release_when_settled(ready))
            return
        self._app.call_later(self._release)

    async def _release(self) -> None:
        if self._held is None:  # released already (a key arrived once it was up)
            return
        held, self._held = self._held, None
        await replay_keys(self._app, held)

    def drop(self) -> None:
        """The open failed: the keys were for a workspace that is not coming."""
        held, self._held = self._held or [], None
        if held:
            count = f"{len(held)} key{'s' if len(held) > 1 else ''}"
            tell(self._app, f"{count} typed while {self._name} was opening dropped: it did not open", timeout=5)

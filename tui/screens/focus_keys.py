"""Keys typed right behind a key that moves the focus to a pane go to that pane: `FocusMoveKeys`.

A pane jump (alt+3, f6) moves the focus after the next refresh — the pane may only become visible then (a tab
switch, a maximised pane restored) — and Textual's `focus()` is itself deferred. Keys read meanwhile were handed
to the widget focused before: `alt+3` then a fast `echo hi` typed "echo hi" into the open file (seen in tmux). So
from the jump on, the workspace holds the keys the app reads (`hold`, asked by the app through the screen's
`holds_key`) until the focus has landed in the pane (`landed`) or `SETTLE` has passed (the focus may stay where
it was: nothing focusable there), and then hands them to the app again in the order typed, from the app's own
loop, so no key read later overtakes them.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.screen import Screen
from textual.timer import Timer

from widgets.early_keys import replay_keys

SETTLE = 0.5  # the longest keys are held for a focus move that does not land


class FocusMoveKeys:
    """The keys held for one pending focus move (at most one: a second jump retargets it)."""

    def __init__(self, screen: Screen[Any]) -> None:
        self._screen = screen  # its timer goes with it; its app replays the keys
        self._pane: str | None = None
        self._held: list[events.Key] = []
        self._timer: Timer | None = None

    def start(self, pane: str) -> None:
        """The focus is on its way to `pane`: hold what is typed until it is there."""
        self._pane = pane
        if self._timer is not None:
            self._timer.stop()
        self._timer = self._screen.set_timer(SETTLE, self.release)

    def hold(self, event: events.Key) -> bool:
        """True when `event` is kept until the focus has moved."""
        if self._pane is None:
            return False
        self._held.append(event)
        return True

    def landed(self, pane: str | None) -> None:
        """The focus moved into `pane`: the held keys are that pane's now."""
        if self._pane is not None and pane == self._pane:
            self._screen.app.call_later(self.release)  # after the focus change has been handled

    async def release(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        held, self._held, self._pane = self._held, [], None
        await replay_keys(self._screen.app, held)

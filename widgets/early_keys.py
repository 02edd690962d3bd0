"""Keys that arrive before a freshly pushed screen can take them: held, then handed over in order once it can.

A fast typist (or a paste) delivers `ndx1` in one read. The app reads all four keys while the dialog `n` pushed
is still composing: with nothing focused on it yet they went to the dialog screen itself (no field to type into)
and its bindings ran before its fields existed. A screen with `HoldsEarlyKeys` holds every key the app reads
before its mount has focused its first field (the app asks it: `holds_key`); after that mount the held keys are
dispatched again, in the order typed, from the app's own message loop, so no key read later can overtake them.
Keys the app had already forwarded to a widget of the screen beneath (when the key that opens the dialog is not
a priority one, the keys behind it are queued at the focused widget first) come back to the app and are handed
to the dialog the same way (`StrayKeys`).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from textual import events
from textual.app import App
from textual.screen import Screen


class HoldsEarlyKeys:
    """Mixin for a `Screen` whose `on_mount` focuses the field typing belongs in (a dialog's name field)."""

    _held_keys: list[events.Key] | None = None
    _keys_released = False

    def holds_key(self, event: events.Key) -> bool:
        """True when `event` is kept for later: the screen has not finished mounting."""
        if self._keys_released:
            return False
        if self._held_keys is None:
            self._held_keys = []
        self._held_keys.append(event)
        return True

    def on_mount(self) -> None:
        # after the subclass's own on_mount (the MRO runs it first), whose `focus()` is itself a call_later on the
        # app: this one runs after it, with the field focused
        self.app.call_later(self._release_held_keys)  # type: ignore[attr-defined]

    async def _release_held_keys(self) -> None:
        held, self._held_keys, self._keys_released = self._held_keys or [], None, True
        await replay_keys(self.app, held)  # type: ignore[attr-defined]


async def replay_keys(app: App[Any], keys: list[events.Key]) -> None:
    """Hand held keys to the app again, in the order typed, as fresh events through its own dispatch. Done in the
    app's loop, so keys it reads meanwhile wait in its queue behind these."""
    for key in keys:
        await app.on_event(events.Key(key.key, key.character))


def held_by_screen(app: App[Any], event: events.Event) -> bool:
    """For the app's `on_event`: True when the top screen holds this key (see the module docstring; the
    workspace holds keys the same way while a pane jump moves the focus, `tui/screens/focus_keys.py`)."""
    if not isinstance(event, events.Key) or event.is_forwarded:
        return False
    holds = getattr(app.screen, "holds_key", None)
    return callable(holds) and bool(holds(event))


class StrayKeys:
    """Keys the app forwarded to a widget of the screen on top then, which a dialog has covered since (the key
    before them opened it): the widget ignores them and they bubble up to the app, where they would run the
    dialog's bindings at best and never type into its field. The app notes which screen each key was forwarded
    to (`forwarded`) and hands a covered one to the dialog on top instead (`redirect`), held like an early key
    while it is still mounting. `c` then a fast `fix` in the git panel typed f i x into the panel's bindings."""

    def __init__(self) -> None:
        self._sent: deque[tuple[events.Key, Screen[Any]]] = deque(maxlen=64)

    def forwarded(self, event: events.Key, screen: Screen[Any]) -> None:
        self._sent.append((event, screen))

    async def redirect(self, app: App[Any], event: events.Key) -> bool:
        """True when `event` (bubbled up to the app) went to the dialog on top instead."""
        sent_to = next((s for e, s in self._sent if e is event), None)
        if sent_to is None:
            return False
        self._sent = deque(((e, s) for e, s in self._sent if e is not event), maxlen=64)
        top = app.screen
        if sent_to is top or not isinstance(top, HoldsEarlyKeys):
            return False
        key = events.Key(event.key, event.character)
        if not top.holds_key(key):
            await app.on_event(key)
        return True

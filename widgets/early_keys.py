"""Keys that arrive before a freshly pushed screen can take them: held, then handed over in order once it can.

A fast typist (or a paste) delivers `ndx1` in one read. The app reads all four keys while the dialog `n` pushed
is still composing: with nothing focused on it yet they went to the dialog screen itself (no field to type into)
and its bindings ran before its fields existed. A screen with `HoldsEarlyKeys` holds every key the app reads
before its mount has focused its first field (the app asks it: `holds_key`); after that mount the held keys are
dispatched again, in the order typed, from the app's own message loop, so no key read later can overtake them.
"""

from __future__ import annotations

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
        app: App[Any] = self.app  # type: ignore[attr-defined]
        for key in held:
            # in the app's loop: keys it reads meanwhile wait in its queue, behind these
            await app.on_event(events.Key(key.key, key.character))


def held_by_screen(app: App[Any], event: events.Event) -> bool:
    """For the app's `on_event`: True when the top screen holds this key (see the module docstring)."""
    if not isinstance(event, events.Key) or event.is_forwarded:
        return False
    screen: Screen[Any] = app.screen
    return isinstance(screen, HoldsEarlyKeys) and screen.holds_key(event)

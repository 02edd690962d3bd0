"""No toast over a dialog: while one is on top, toasts wait, and show (in full) once it closes.

A toast sits bottom-right, where a dialog's buttons are at 80x24: the 8-line "Restored" toast covered "File
changed on disk" and its buttons for ten seconds, a provider error the Delete dialog's. So while the top screen
is a dialog (`HOLDS_TOASTS`), the toasts up when it opened and the ones raised while it is open are taken off the
screen and kept; when a screen that does not hold them is on top again they come back, each with what was left of
its time (at least `SHOWN_AT_LEAST` seconds, so one raised just before the dialog closed is still read). A
dialog with an error line (`#error`, `SubmitsInPlace`) that is empty shows the last toast raised while it is
open there, in its own line, so an error from its own work (ending a shell from the shell list) is seen at once;
its own rejections and "working…" are never replaced.

`HoldsToasts` is the `App` mixin; it hooks Textual's `_refresh_notifications`, which runs for every new toast,
every one that expires or is cleared, and every time a screen comes to the top.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.app import App
from textual.css.query import NoMatches
from textual.notifications import Notification, Notifications
from textual.widgets import Static

SHOWN_AT_LEAST = 3.0  # seconds a held toast shows once its dialog closed, however long it waited


@dataclass
class _Held:
    notification: Notification
    left: float  # seconds it had left when it was held


class HoldsToasts:
    """Mixin for the `App` (before `App` in the bases)."""

    _held_toasts: list[_Held] | None = None

    def _refresh_notifications(self) -> None:
        app: App[object] = self  # type: ignore[assignment]
        try:
            screen = app.screen
        except Exception:  # no screen yet (start-up): Textual's own method copes
            super()._refresh_notifications()  # type: ignore[misc]
            return
        notifications: Notifications = app._notifications
        held = self._held_toasts if self._held_toasts is not None else []
        self._held_toasts = held
        if getattr(screen, "HOLDS_TOASTS", False):
            opened_at = getattr(screen, "_toasts_held_since", None)
            if opened_at is None:  # the first refresh with it on top is its ScreenResume: it just opened
                opened_at = time.time()
                screen._toasts_held_since = opened_at  # type: ignore[attr-defined]
            fresh = [n for n in notifications if not n.has_expired]
            held.extend(_Held(n, n.time_left) for n in fresh)
            notifications.clear()
            raised_inside = [n for n in fresh if n.raised_at >= opened_at]
            if raised_inside:
                _show_in_line(screen, raised_inside[-1])
        elif held:
            now = time.time()
            for h in held:
                h.notification.raised_at = now
                h.notification.timeout = max(h.left, SHOWN_AT_LEAST)
                notifications.add(h.notification)
            held.clear()
        super()._refresh_notifications()  # type: ignore[misc]


def _show_in_line(screen: object, notification: Notification) -> None:
    """The dialog's own error line, if it has one and is not showing its own work or rejection."""
    try:
        line = screen.query_one("#error", Static)  # type: ignore[attr-defined]
    except (NoMatches, AttributeError):
        return
    if getattr(screen, "busy", False) or str(line.render()).strip():
        return  # "creating…", or its own rejection: the dialog's own word in its line wins over a toast
    text = f"{notification.title}: {notification.message}" if notification.title else notification.message
    line.set_class(notification.severity == "information", "-working")
    line.update(Text(text))

"""Typing before flooding: which terminal gets the event loop while the user waits for an echo.

All terminals of the app share one event loop. A terminal flooding output (a build log, `cat` of a big file) feeds
its emulator in slices of a few ms and yields between them, which is fair — but an echoed key takes several loop
turns from the PTY to the screen, and each turn waited behind another terminal's slice and repaint: measured,
20 ms p50 / 40 ms p99 per keystroke while a second terminal flooded, against 0.4 / 1 ms idle.

So a terminal that has just sent a key the user typed *awaits its echo*: until output from it has been fed, or
`ECHO_WINDOW` has passed (a key may echo nothing: vim's `j`, a shell's ctrl+u on an empty line), other terminals
neither feed their emulators nor repaint. Their output is not lost; it waits in their read buffer, and past that
in the PTY (back-pressure on the program). A human typing ten keys a second costs a flooding terminal a ms or two
per key, not more. A terminal whose key went unanswered (a password prompt) claims nothing for `SILENT_GRACE`
after, so typing there cannot hold the others back indefinitely.
"""

from __future__ import annotations

import asyncio
import time
import weakref

ECHO_WINDOW = 0.05  # the longest a key holds back the other terminals when its echo does not come
# A terminal whose key went unanswered (a password prompt, `stty -echo`) claims nothing for this long after: held
# keys or steady typing there would otherwise hold every other terminal back for good.
SILENT_GRACE = 1.0
# A person typing: keys less than this apart. While one is, tabs out of sight take a smaller share of the loop
# (`TerminalView`'s BACKGROUND_SHARE_TYPING), so their floods do not slow the echo of the tab in sight.
TYPING_WINDOW = 1.0


class EchoPriority:
    """The terminals awaiting an echo, with the time each one's claim runs out."""

    def __init__(self, window: float = ECHO_WINDOW) -> None:
        self.window = window
        self._waiting: dict[int, float] = {}  # id(terminal) → monotonic deadline
        self._silent: dict[int, float] = {}  # id(terminal) → until when its keys claim nothing
        self._released = asyncio.Event()
        self._last_typed = -1e9  # monotonic time of the last key typed into any terminal

    def typing(self) -> bool:
        """A key was typed into some terminal within `TYPING_WINDOW`: someone is at the keyboard."""
        return time.monotonic() - self._last_typed < TYPING_WINDOW

    def typed(self, terminal: object) -> None:
        """`terminal` has sent the program a key from the user: it goes first until its echo is fed."""
        now = time.monotonic()
        self._last_typed = now
        key = id(terminal)
        if self._silent.get(key, 0.0) > now:
            return
        self._waiting[key] = now + self.window
        self._released.clear()

    def answered(self, terminal: object) -> None:
        """Output from `terminal` has been fed (or it went away): its claim ends."""
        self._silent.pop(id(terminal), None)
        if self._waiting.pop(id(terminal), None) is not None and not self._waiting:
            self._released.set()

    def held_for(self, terminal: object) -> float:
        """Seconds until no *other* terminal awaits an echo; 0.0 when `terminal` may go on now."""
        if not self._waiting:
            return 0.0
        now = time.monotonic()
        me = id(terminal)
        latest = 0.0
        for key, deadline in list(self._waiting.items()):
            if deadline <= now:
                del self._waiting[key]
                self._silent[key] = now + SILENT_GRACE
            elif key != me:
                latest = max(latest, deadline - now)
        if not self._waiting:
            self._released.set()
        return latest

    async def turn(self, terminal: object) -> None:
        """Give the loop away once, then wait while another terminal awaits the echo of a typed key."""
        await asyncio.sleep(0)
        await self.give_way(terminal)

    async def give_way(self, terminal: object) -> None:
        """Wait while another terminal awaits the echo of a typed key; return at once when none does."""
        while (wait := self.held_for(terminal)) > 0:
            self._released.clear()
            try:
                await asyncio.wait_for(self._released.wait(), timeout=wait)
            except TimeoutError:
                pass


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EchoPriority] = weakref.WeakKeyDictionary()


def echo_priority() -> EchoPriority:
    """The shared `EchoPriority` of the running event loop (the app's): every terminal in it uses the same one."""
    loop = asyncio.get_running_loop()
    prio = _BY_LOOP.get(loop)
    if prio is None:
        prio = _BY_LOOP[loop] = EchoPriority()
    return prio

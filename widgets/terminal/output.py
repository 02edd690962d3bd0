"""The read path of a terminal: `TerminalOutput`, the base through which `TerminalView` takes its program's output.

Output is fed to the emulator as it arrives and the widget asks for one repaint per burst; Textual itself paints at
most once per frame (60 Hz), so a flood costs one paint per frame, not one per read. A burst larger than `SLICE` is
fed in slices with `more=True` (see `Emulator.feed`) and the event loop gets control between slices, so one
flooding terminal cannot freeze the others or the keyboard.

Typing goes first: while a key waits for its echo, other terminals' output waits (`priority.py`). A tab out of
sight takes at most half of the event loop for its output, 5 % while someone is typing, and is not repainted.
Read-ahead is small (`MAX_BUFFERED`), so when a program ends the pane has little left to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING

from textual.geometry import Region
from textual.timer import Timer
from textual.widget import Widget

from widgets.messages import report
from widgets.terminal.emulator import Emulator
from widgets.terminal.priority import echo_priority
from widgets.terminal.rows import Line

if TYPE_CHECKING:
    from services.terminal import TerminalSession

SLICE = 64 * 1024  # at most this many bytes fed per step of a burst
MIN_SLICE = 2048
SLICE_TIME = 0.003  # aim for steps of ~3 ms: the longest one terminal holds the event loop
SMALL_OUTPUT = 2048  # less than this is fed at once (echo, prompts); more is batched per frame
# ... unless this many bursts in a row each came within a frame of the feed before: a program writing line by line
# (an echo, or a command's output and then its prompt, are one or two)
TRICKLE_STREAK = 2
FRAME = 1 / 60
BURST = 512 * 1024  # a flood is fed in bursts of up to this much (or a frame's worth)
FLOOD_REFRESH = 1 / 20  # a terminal redrawing whole screens repaints at most this often
# read-ahead beyond which the reader stops taking output (back-pressure). Whatever waits between the program and
# the emulator when the program ends is still to be parsed before its last screen shows: 4 MiB here (and 2 MiB in
# the session host) were 240-580 ms of a colour log's screen lagging the stream, measured as seen. A burst this
# size still leaves the flood path nearly all of it to skip (it lays out only the last rows + 1 lines)
MAX_BUFFERED = 256 * 1024
# the share of the event loop a tab out of sight may spend on its output, and while someone types (in any tab):
# measured as seen, a hidden tab flooding at full speed tripled the echo time of the tab in sight (80 ms p50,
# 107 p90, against tmux's 23 and 43); held to 5 % while typing, it was 1.1x tmux's
BACKGROUND_SHARE = 0.5
BACKGROUND_SHARE_TYPING = 0.05
QUIET = 0.004  # no output for this long after a burst: the program paused, so a deferred repaint goes now


class TerminalOutput(Widget):
    """Reading a session into the emulator (`_pump`), and asking Textual to repaint what changed."""

    screen_model: Emulator
    _rate: float  # bytes/s this terminal's emulator has been parsing (sizes the feed slices)
    _last_cursor: tuple[int, int, bool, int]  # (x, y, visible, shape) when the output was last refreshed
    _shown_lines: list[Line]  # the screen's lines, row by row, when the output was last refreshed
    _last_full: float  # when the whole terminal was last repainted (monotonic)
    _full_timer: Timer | None  # a deferred full repaint (a flood repaints at most every FLOOD_REFRESH)
    _calls_in_flight: int = 0  # session calls started by `_in_background` and not finished (a key waits behind them)

    def _after_output(self) -> None:
        """What the widget does once a burst is fed: its title, bell and tab marks, then `_refresh_output`."""
        raise NotImplementedError

    async def _pump(self, session: TerminalSession) -> None:
        """Read the session into a buffer (one task) and feed the emulator from it (this task).

        A little output (an echoed key, a prompt) is fed at once. A flood is fed at most once per frame: the reads
        (4 KB each from a PTY) pile up for up to a frame and then go to the emulator as one burst, which is what
        lets its flood path skip lines that would scroll by unseen. While the buffer is over `MAX_BUFFERED` the
        reader stops taking output, so the PTY's own buffer pushes back on the program.
        """
        inbuf: list[bytes] = []
        state = {"size": 0, "eof": False}
        ready = asyncio.Event()
        room = asyncio.Event()
        room.set()

        async def reader() -> None:
            try:
                async for chunk in session.output():
                    # while another terminal awaits an echo, stop taking output, so the session stops reading the
                    # PTY (its reads cost the loop ~2.5 ms per 64 KiB) until the echo is on screen
                    await priority.give_way(self)
                    inbuf.append(chunk)
                    state["size"] += len(chunk)
                    ready.set()
                    if state["size"] >= MAX_BUFFERED:
                        room.clear()
                        await room.wait()
            finally:
                state["eof"] = True
                ready.set()

        priority = echo_priority()
        read_task = asyncio.get_running_loop().create_task(reader())
        screen = self.screen_model
        loop = asyncio.get_running_loop()
        last = 0.0
        streak = 0  # bursts in a row that each came within a frame of the feed before
        try:
            while True:
                if self._full_timer is not None and not ready.is_set():
                    # a flood's repaint is deferred (FLOOD_REFRESH): if the program has paused or ended, show its
                    # last screen now rather than up to FLOOD_REFRESH later (the screen must not lag the stream)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ready.wait(), QUIET)
                    if not ready.is_set():
                        self._flush_deferred_refresh()
                await ready.wait()
                ready.clear()
                streak = streak + 1 if loop.time() - last < FRAME else 0
                await priority.give_way(self)  # another terminal awaiting the echo of a key goes first
                if state["size"] < SMALL_OUTPUT and streak >= TRICKLE_STREAK and not state["eof"]:
                    # a trickle: a program writing a line at a time (`find`, a build) sends a few hundred bytes a
                    # write, and each came here alone — a feed on the exact path and a repaint per write (~1,000 a
                    # second through the session host). Output has kept coming, so take a frame's worth at once,
                    # as for a flood: the flood path then skips most of its lines too
                    await asyncio.sleep(max(0.0, last + FRAME - loop.time()))
                elif state["size"] >= SMALL_OUTPUT and not state["eof"]:
                    # a flood: let reads pile up (a PTY read is at most 4 KB, one per loop turn) for up to a frame,
                    # and while they keep coming, so the emulator gets one big burst instead of many small ones
                    deadline = max(last + FRAME, loop.time() + FRAME / 4)
                    while state["size"] < BURST and not state["eof"] and loop.time() < deadline:
                        before = state["size"]
                        await asyncio.sleep(0)
                        await asyncio.sleep(0)
                        if state["size"] == before:
                            await asyncio.sleep(0.0005)
                            if state["size"] == before:
                                break  # the program has paused: show what we have
                if inbuf:
                    data = b"".join(inbuf)
                    inbuf.clear()
                    state["size"] = 0
                    room.set()
                    last = loop.time()
                    n = len(data)
                    i = 0
                    while i < n:
                        # a slice is sized to take about SLICE_TIME at the rate this terminal has been parsing
                        # (fast for plain floods, smaller for output that needs the exact path)
                        step = max(MIN_SLICE, min(SLICE, int(self._rate * SLICE_TIME)))
                        more = i + step < n
                        t0 = time.perf_counter()
                        screen.feed(data[i : i + step], more=more)
                        spent = time.perf_counter() - t0
                        if step >= MIN_SLICE and spent > 0:
                            self._rate = 0.7 * self._rate + 0.3 * (step / spent)
                        i += step
                        if more:
                            await priority.turn(self)  # keys, paints and other terminals get the loop between slices
                    if screen.replies:
                        # queued behind any input still going in, never awaited: waiting here for a paste the
                        # program is slow to read would stop this pump reading the output the program waits on
                        self._in_background(session.write(screen.take_replies()))
                    priority.answered(self)
                    self._after_output()
                    if not self.display and not state["eof"]:
                        # a tab out of sight takes at most a share of the loop: its flood waits (and, through
                        # back-pressure, its program) rather than the keys and frames of the tab in sight
                        share = BACKGROUND_SHARE_TYPING if priority.typing() else BACKGROUND_SHARE
                        await asyncio.sleep((loop.time() - last) * (1 / share - 1))
                if state["eof"] and not inbuf:
                    break
        finally:
            priority.answered(self)
            if not read_task.done():
                read_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await read_task

    def _refresh_output(self) -> None:
        """Ask Textual to repaint what the output changed. A few rows (an echoed key) are refreshed alone and at
        once; a screenful (a flood scrolling) at most every `FLOOD_REFRESH` seconds, because repainting a whole
        terminal costs Textual several ms and a flood would otherwise take the frame from every other pane."""
        if not self.display:
            return  # out of sight: showing the tab lays it out and paints every row anyway
        screen = self.screen_model
        width = self.size.width
        # a row changed if its line did, or if another line is there now: a scroll moves lines (with their cached
        # strips) to other rows, and a scroll that only added a row or two must still repaint every row it moved
        shown = self._shown_lines
        lines = screen.lines
        rows = [y for y, line in enumerate(lines) if line.cache is None or y >= len(shown) or shown[y] is not line]
        self._shown_lines = list(lines)
        # a cursor shown or hidden without moving (vim hides it while it redraws) must repaint its row too
        cursor = (screen.x, screen.y, screen.cursor_visible, screen.cursor_shape)
        if cursor != self._last_cursor:
            rows.extend((self._last_cursor[1], screen.y))
            self._last_cursor = cursor
        if not rows:
            return
        if len(rows) <= 4:
            for y in set(rows):
                self.refresh(Region(0, y, width, 1))
            return
        now = time.monotonic()
        wait = max(self._last_full + FLOOD_REFRESH - now, echo_priority().held_for(self))
        if wait <= 0:
            self._last_full = now
            self.refresh()
        elif self._full_timer is None:
            self._full_timer = self.set_timer(wait, self._deferred_full_refresh)

    def _flush_deferred_refresh(self) -> None:
        """The deferred full repaint, now (the output has paused), unless a key typed elsewhere holds it."""
        timer = self._full_timer
        if timer is None or echo_priority().held_for(self) > 0:
            return
        timer.stop()
        self._deferred_full_refresh()

    def _deferred_full_refresh(self) -> None:
        self._full_timer = None
        held = echo_priority().held_for(self)
        if held > 0:  # a key typed in another terminal is still waiting for its echo
            self._full_timer = self.set_timer(held, self._deferred_full_refresh)
            return
        self._last_full = time.monotonic()
        self.refresh()

    def _in_background(self, call: Coroutine[object, object, None]) -> None:
        """Run a session call without waiting for it; a failure becomes a notification. Writes started here keep
        their order: each task starts in creation order, and a session queues a write before its first wait."""
        task = asyncio.get_running_loop().create_task(call)
        self._calls_in_flight += 1
        task.add_done_callback(self._write_done)

    def _write_done(self, task: asyncio.Task[None]) -> None:
        self._calls_in_flight -= 1
        error = None if task.cancelled() else task.exception()
        if error is not None:
            report(self, error, "terminal write")

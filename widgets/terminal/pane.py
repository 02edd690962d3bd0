"""`TerminalView`: one emulated terminal on a `TerminalSession` (the tabs around it are `tabs.py`, selection and
copy mode `selection.py`).

Rendering uses Textual's line API: each screen `Line` caches its `Strip` (`Line.cache`), the emulator clears it
when the line changes, so a repaint only rebuilds changed lines; the cursor row and selected rows are composed on
top per paint. Output is fed to the emulator as it arrives and the widget asks for one repaint per burst; Textual
itself paints at most once per frame (60 Hz), so a flood costs one paint per frame, not one per read. A burst
larger than `SLICE` is fed in slices with `more=True` (see `Emulator.feed`) and the event loop gets control between
slices, so one flooding terminal cannot freeze the others or the keyboard.

Keys: while a terminal runs a program and has focus (`holds_keyboard`) every key goes to the program, encoded as
xterm does (`keys.py`), except:

* **ctrl+]** (binding `terminal.leave`) moves focus out of the terminal, to the tab bar — the same escape key as
  telnet and `virsh console`; remap it with the `[keymap]` id `terminal.leave`;
* shift+PgUp / shift+PgDn scroll the scrollback (xterm's keys for it); the mouse wheel scrolls too;
* the app's bindings marked to apply in the terminal: quit (ctrl+q) and what the user's `[keymap]` adds with the
  `terminal:` prefix. The app enforces this (`SandbenchApp._check_bindings`): Textual checks priority bindings
  before any widget sees a key, and the app skips all others while `holds_keyboard` is true.

Typing or sending a key while scrolled back returns to the live screen and repaints it whole.

Typing goes first: while a key waits for its echo, other terminals' output waits (`priority.py`). A tab out of
sight takes at most half of the event loop for its output, 5 % while someone is typing, and is not repainted.
Read-ahead is small (`MAX_BUFFERED`), so when a program ends the pane has little left to show.

The mouse: when the program asks for it (htop, vim's `mouse=a`, tmux), clicks, drags and the wheel are reported to
it (`mouse.py`); hold shift to select and copy instead, as in xterm. Otherwise a drag selects and copies (a
double-click takes a word, a path or URL whole; a triple-click the line), and the wheel scrolls back (or, in
full-screen programs, sends cursor keys, xterm's alternateScroll). Focus changes are reported to programs that
ask (mode 1004).

Selecting with the mouse copies on release. Copies go through `App.copy_to_clipboard` (OSC 52), so they work
over SSH.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, ClassVar

from rich.color import Color
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import events
from textual.app import App
from textual.binding import BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer

from services.run_file import RunPlan
from widgets.keys import Key, bindings
from widgets.messages import describe, report
from widgets.terminal import styles as st
from widgets.terminal.emulator import Emulator
from widgets.terminal.fit import fit_cell, fit_runs
from widgets.terminal.keys import encode_key, encode_paste
from widgets.terminal.mouse import Kind, encode_mouse, tracking_mode
from widgets.terminal.priority import echo_priority
from widgets.terminal.rows import Line, segments_to_line
from widgets.terminal.scrollback import entry_segments
from widgets.terminal.selection import TerminalSelection

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService
    from services.terminal import TerminalSession

log = logging.getLogger(__name__)

SLICE = 64 * 1024  # at most this many bytes fed per step of a burst
MIN_SLICE = 2048
SLICE_TIME = 0.003  # aim for steps of ~3 ms: the longest one terminal holds the event loop
SMALL_OUTPUT = 2048  # less than this is fed at once (echo, prompts); more is batched per frame
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
LEAVE_KEY = "ctrl+right_square_bracket"
BELL_INTERVAL = 0.5
RESIZE_SETTLE = 0.08  # seconds without a new size before the emulator reflows and the program is told
WHEEL_LINES = 3

_RICH: dict[int, RichStyle] = {}


def _colour(c: int) -> Color | None:
    if c == st.DEFAULT:
        return None
    if c & st.RGB:
        return Color.from_rgb((c >> 16) & 255, (c >> 8) & 255, c & 255)
    return Color.from_ansi(c)


def rich_style(sid: int) -> RichStyle:
    """The Rich style for an interned terminal style (memoised: a handful of styles cover a screen)."""
    rs = _RICH.get(sid)
    if rs is None:
        fg, bg, flags = st.STYLES[sid]
        rs = RichStyle(
            color=_colour(fg),
            bgcolor=_colour(bg),
            bold=bool(flags & st.BOLD) or None,
            dim=bool(flags & st.DIM) or None,
            italic=bool(flags & st.ITALIC) or None,
            underline=bool(flags & st.UNDERLINE) or None,
            blink=bool(flags & st.BLINK) or None,
            reverse=bool(flags & st.REVERSE) or None,
            conceal=bool(flags & st.HIDDEN) or None,
            strike=bool(flags & st.STRIKE) or None,
            overline=bool(flags & st.OVERLINE) or None,
        )
        _RICH[sid] = rs
    return rs


_CURSOR_STYLE = RichStyle(reverse=True)
_CURSOR_LINE_STYLE = RichStyle(underline=True, bold=True)
_SELECT_STYLE = RichStyle(reverse=True)
_MATCH_STYLE = RichStyle(reverse=True, underline=True)
_MARKER_STYLE = RichStyle(reverse=True, bold=True)


def terminal_has_keyboard(app: App[object]) -> bool:
    """True while a terminal holds the keyboard: the app's keys then go to the program (see the module docstring)."""
    focused = app.focused
    return isinstance(focused, TerminalView) and focused.holds_keyboard


class TerminalView(TerminalSelection, can_focus=True):
    """One terminal: an `Emulator` fed by a `TerminalSession` opened through the SandboxService."""

    DEFAULT_CSS = """
    TerminalView { width: 1fr; height: 1fr; background: $surface; color: $foreground; }
    """

    BINDINGS: ClassVar[list[BindingType]] = bindings(
        (
            Key(
                "terminal.leave",
                LEAVE_KEY,
                "leave",
                "Leave terminal",
                "Move focus out of the terminal (every other key goes to the program running in it)",
            ),
            Key(
                "terminal.scroll_back",
                "shift+pageup",
                "scroll_back",
                "Scroll back",
                "Show older output from the scrollback",
            ),
            Key(
                "terminal.scroll_forward",
                "shift+pagedown",
                "scroll_forward",
                "Scroll forward",
                "Show newer output; at the bottom, back to the live screen",
            ),
            Key(
                "terminal.restart_exited",
                "enter",
                "restart",
                "Restart shell",
                "The shell has exited: start a new one in this tab",
            ),
        )
    )

    class TitleChanged(Message):
        def __init__(self, view: TerminalView, title: str) -> None:
            super().__init__()
            self.view = view
            self.title = title

    class Exited(Message):
        def __init__(self, view: TerminalView, code: int | None) -> None:
            super().__init__()
            self.view = view
            self.code = code

    class LeaveRequested(Message):
        def __init__(self, view: TerminalView) -> None:
            super().__init__()
            self.view = view

    class Flagged(Message):
        """A tab out of sight had output (`unseen`) or rang the bell (`rang`): its tab label shows it."""

        def __init__(self, view: TerminalView) -> None:
            super().__init__()
            self.view = view

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        *,
        scrollback: int = 10_000,
        autostart: bool = True,
        attach_to: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.service = service
        self.sandbox_id = sandbox_id
        self.scrollback = scrollback
        self.autostart = autostart
        self.attach_to = attach_to  # a provider-side session to reattach to, instead of a new shell
        self.reattached = False  # this tab's shell was found running (reattached), not started here: marked ↺
        # a run tab (F5): the program's argv goes in the shell's environment and a constant line `exec`s it
        # (services/run_file.py); None: a plain shell
        self.run_plan: RunPlan | None = None
        self.screen_model = Emulator(80, 24, scrollback)
        self.session: TerminalSession | None = None
        self.exit_code: int | None = None
        self.exited = False
        self.failed: str | None = None  # why the shell could not start (`describe`'s one safe line), until a restart
        self.unseen = False  # output arrived while this tab was out of sight
        self.rang = False  # ... and it rang the bell
        self.back_rows = 0
        self._mouse_selecting = False
        self._mouse_button = 0  # the button whose press went to the program (its release and drags follow it)
        self._mouse_cell = (-1, -1)
        self._hist_cache: dict[int, Strip] = {}
        self._title = ""
        self._pump_task: asyncio.Task[None] | None = None
        self.on_output: Callable[[], None] | None = None  # a hook for benchmarks: called after each burst is fed
        self._rate = 4e6  # bytes/s this terminal's emulator has been parsing (sizes the feed slices)
        self._last_cursor = (0, 0, True, 0)
        self._shown_lines: list[Line] = []  # the screen's lines, row by row, when the output was last refreshed
        self._last_full = 0.0
        self._full_timer: Timer | None = None
        self._resize_timer: Timer | None = None
        self._sized = False  # has the pane had a real size yet (a hidden tab has none)
        self._last_bell = 0.0
        self._base: RichStyle | None = None  # the widget's own style, looked up once (Textual computes it per call)
        self._keys: dict[str, tuple[str, ...]] | None = None  # see `_own_keys`

    # -- life cycle -------------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.autostart:
            self.start()

    def start(self) -> None:
        """Open the session and start reading it (done on mount unless `autostart=False`)."""
        self.exited = False
        self.exit_code = None
        self.failed = None
        self._pump_task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        cols, rows = self._pane_size()
        self.screen_model.resize(cols, rows)
        try:
            if self.attach_to is not None:
                session_id, self.attach_to = self.attach_to, None  # a restart opens a new shell
                session = await self.service.attach_terminal(self.sandbox_id, session_id)
                await session.resize(cols, rows)
                self.reattached = True
            else:
                self.reattached = False
                plan = self.run_plan
                session = await self.service.open_terminal(
                    self.sandbox_id, cols, rows, cwd=plan.cwd if plan else "", env=plan.env() if plan else None
                )
                if plan is not None:
                    await session.write(plan.typed_line())
        except Exception as err:  # a service error, shown as one line, never a traceback
            report(self, err, "terminal")
            self.failed = describe(err)
            self._show_banner(f"could not start a shell: {self.failed} — press enter to try again")
            self._mark_exited(None)
            return
        self.session = session
        try:
            shown = (self.screen_model.cols, self.screen_model.rows)
            if shown != (cols, rows):
                # resized while the shell was starting (a tab shown at its real size): the resize found no
                # session then, so the program gets the size shown now
                await session.resize(*shown)
            await self._pump(session)
            code: int | None = await session.wait()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            report(self, err, "terminal")
            code = session.exit_code
        if self.run_plan is not None:
            self._show_banner(f"{self.run_plan.label[2:]} exited with code {code} — enter or F5 runs it again")
        else:
            self._show_banner(f"shell exited with code {code} — press enter to restart")
        self._mark_exited(code)

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
                await priority.give_way(self)  # another terminal awaiting the echo of a key goes first
                if state["size"] >= SMALL_OUTPUT and not state["eof"]:
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

    def _after_output(self) -> None:
        screen = self.screen_model
        if not self.copy_mode:
            self._to_live_screen()  # new output returns to the bottom
        if screen.title != self._title:
            self._title = screen.title
            self.post_message(self.TitleChanged(self, screen.title))
        rang, screen.bell = screen.bell, False
        if not self.display:
            # a tab out of sight: mark it, as tmux marks windows with activity (#) and a bell (!)
            if not self.unseen or (rang and not self.rang):
                self.unseen = True
                self.rang = self.rang or rang
                self.post_message(self.Flagged(self))
        elif rang and time.monotonic() - self._last_bell > BELL_INTERVAL:
            # the tab in sight rang: pass it on to the real terminal (tmux's bell-action), but a program printing
            # bells in a loop rings it at most twice a second
            self._last_bell = time.monotonic()
            self.app.bell()
        self._refresh_output()
        if self.on_output is not None:
            self.on_output()

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

    def _show_banner(self, text: str) -> None:
        self.screen_model.feed_text(f"\r\n\x1b[0;7m {text} \x1b[0m")
        self.refresh()

    def _mark_exited(self, code: int | None) -> None:
        self.exited = True
        self.exit_code = code
        self.session = None
        self.refresh_bindings()
        self.post_message(self.Exited(self, code))

    async def restart(self) -> None:
        await self.stop()
        self.screen_model = Emulator(*self._pane_size(), self.scrollback)
        self._title = ""
        self.back_rows = 0
        self._hist_cache.clear()
        self.post_message(self.TitleChanged(self, ""))
        self.start()
        self.refresh()

    async def stop(self, *, detach: bool = False) -> None:
        """End this tab's shell (`detach=True`: only let go of it, where the provider keeps shells running
        without a client: the session host, Daytona; elsewhere a detach ends it too)."""
        task, self._pump_task = self._pump_task, None
        session, self.session = self.session, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if session is not None:
            let_go = getattr(session, "detach", None) if detach else None
            with contextlib.suppress(Exception):
                await (let_go() if callable(let_go) else session.close())

    async def on_unmount(self) -> None:
        # Unmounted without being ended on purpose (the app quits, its terminal went away): the shell stays for
        # `sandbench open` to find again, as tmux detaches. Ending is explicit: close tab, close workspace, stop.
        await self.stop(detach=True)

    def _pane_size(self) -> tuple[int, int]:
        w, h = self.size
        return (w if w > 1 else 80, h if h > 1 else 24)

    # -- input ------------------------------------------------------------------------------------------------
    @property
    def holds_keyboard(self) -> bool:
        """A program runs here and gets every key (the app reads this; copy mode keeps the app's keys, and so does
        a tab whose shell has exited or never started)."""
        return self.session is not None and not self.copy_mode

    def _write(self, data: bytes) -> None:
        session = self.session
        if session is None or not data:
            return
        self._to_live_screen()
        echo_priority().typed(self)
        self._in_background(session.write(data))

    def _in_background(self, call: Coroutine[object, object, None]) -> None:
        """Run a session call without waiting for it; a failure becomes a notification. Writes started here keep
        their order: each task starts in creation order, and a session queues a write before its first wait."""
        task = asyncio.get_running_loop().create_task(call)
        task.add_done_callback(self._write_done)

    def _write_done(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            report(self, error, "terminal write")

    async def on_key(self, event: events.Key) -> None:
        if self.copy_mode:
            event.stop()
            event.prevent_default()
            self._copy_key(event.key, event.character)
            return
        # our own bindings (the escape key, scrollback keys, enter once the shell has exited) are left to
        # Textual's binding dispatch
        actions = self._own_keys().get(event.key, ())
        if actions and any(action != "restart" or self.exited for action in actions):
            return
        if self.session is None:
            return
        # a key is the program's even when xterm has no bytes for it (a lone modifier): it never falls through to
        # a binding of the panes around the terminal
        event.stop()
        event.prevent_default()
        data = encode_key(event.key, event.character, app_cursor=self.screen_model.app_cursor)
        if data is not None:
            self._write(data)

    def _own_keys(self) -> dict[str, tuple[str, ...]]:
        """This terminal's own keys → their actions, as the user's `[keymap]` binds them (`"terminal.leave" =
        "ctrl+g"` moves the escape key, and ctrl+] is then the program's). Looked up once: the key map is set when
        the app starts."""
        if self._keys is None:
            own = self._bindings.copy()
            own.apply_keymap(self.app._keymap)
            self._keys = {key: tuple(b.action for b in found) for key, found in own.key_to_bindings.items()}
        return self._keys

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.session is not None and event.text:
            self._write(encode_paste(event.text, bracketed=self.screen_model.bracketed_paste))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.copy_mode:
            return False  # copy mode takes every key (its own are shown at the top of the terminal)
        if action == "restart":
            return self.exited
        return True

    def action_leave(self) -> None:
        self.post_message(self.LeaveRequested(self))

    async def action_restart(self) -> None:
        if self.exited:
            await self.restart()

    def action_scroll_back(self) -> None:
        self._scroll_by(max(1, self.size.height - 1))

    def action_scroll_forward(self) -> None:
        self._scroll_by(-max(1, self.size.height - 1))

    def _scroll_by(self, n: int) -> None:
        new = max(0, min(len(self.screen_model.history), self.back_rows + n))
        if new != self.back_rows:
            self.back_rows = new
            self.refresh()

    def _to_live_screen(self) -> None:
        """Back from the scrollback to the live screen, repainted whole: output repaints only the rows it changed,
        which would leave the scrolled-back rows (and their marker) on screen around the live prompt."""
        if self.back_rows:
            self.back_rows = 0
            self.refresh()

    # -- the mouse, for programs that ask for it -------------------------------------------------------------
    def _wants_mouse(self, event: events.MouseEvent) -> bool:
        """The program asked for mouse reports and this event should go to it. Shift held keeps the mouse for the
        pane (select, copy, scroll back), as in xterm; so does looking at the scrollback or copy mode."""
        return (
            self.session is not None
            and bool(self.screen_model.mouse_modes)
            and not event.shift
            and not self.back_rows
            and not self.copy_mode
        )

    def _report_mouse(self, kind: Kind, button: int, event: events.MouseEvent) -> None:
        screen = self.screen_model
        x = max(0, min(event.x, screen.cols - 1))  # a drag captured outside the pane reports the nearest edge
        y = max(0, min(event.y, screen.rows - 1))
        if kind == "motion":
            if (x, y) == self._mouse_cell:
                return  # xterm reports motion once per cell
            self._mouse_cell = (x, y)
        data = encode_mouse(kind, button, x, y, screen.mouse_modes, meta=event.meta, ctrl=event.ctrl)
        if data is not None:
            self._write(data)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, up=True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, up=False)

    def _wheel(self, event: events.MouseEvent, *, up: bool) -> None:
        event.stop()
        if self._wants_mouse(event):
            self._report_mouse("wheel_up" if up else "wheel_down", 0, event)
        elif self.screen_model.in_alt and self.session is not None:
            # xterm's alternateScroll: in full-screen programs (less, vim) the wheel sends cursor keys
            key = encode_key("up" if up else "down", None, app_cursor=self.screen_model.app_cursor) or b""
            self._write(key * WHEEL_LINES)
        else:
            self._scroll_by(WHEEL_LINES if up else -WHEEL_LINES)

    def on_resize(self, event: events.Resize) -> None:
        # a drag sends many sizes: reflowing a long scrollback for each would take the loop from everything else,
        # so the emulator and the program follow once the size has settled (meanwhile rows are cropped or padded)
        if self._resize_timer is not None:
            self._resize_timer.stop()
            self._resize_timer = None
        if not self._sized:
            # the first real size (a tab shown, started hidden): the program gets it now, before anyone types
            # into it; waiting to settle let `stty size` typed at once still say 24 80
            self._apply_resize()
            return
        self._resize_timer = self.set_timer(RESIZE_SETTLE, self._apply_resize)

    def _apply_resize(self) -> None:
        self._resize_timer = None
        if self.size.width > 1 and self.size.height > 1:
            self._sized = True
        cols, rows = self._pane_size()
        screen = self.screen_model
        if (cols, rows) == (screen.cols, screen.rows):
            return
        screen.resize(cols, rows)
        self._hist_cache.clear()
        self.back_rows = min(self.back_rows, len(screen.history))
        if self.session is not None:
            self._in_background(self.session.resize(cols, rows))
        self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if self._wants_mouse(event) and event.button in (1, 2, 3):
            event.stop()
            self.focus()
            self._mouse_button = event.button
            self._mouse_cell = (event.x, event.y)
            self.capture_mouse()  # the release and a drag are reported even outside the pane
            self._report_mouse("press", event.button, event)
            return
        if event.button != 1:
            return
        self.focus()
        pos = (self._abs_row(event.y), event.x)
        self._sel_anchor = self._sel_end = pos
        self._mouse_selecting = True
        self.capture_mouse()
        self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._mouse_button or (tracking_mode(self.screen_model.mouse_modes) == 1003 and self._wants_mouse(event)):
            self._report_mouse("motion", self._mouse_button, event)
            return
        if self._mouse_selecting:
            self._sel_end = (self._abs_row(max(0, min(event.y, self.size.height - 1))), max(0, event.x))
            self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._mouse_button:
            button, self._mouse_button = self._mouse_button, 0
            self.release_mouse()
            if self.session is not None:
                self._report_mouse("release", button, event)
            return
        if not self._mouse_selecting:
            return
        self._mouse_selecting = False
        self.release_mouse()
        if self._sel_anchor != self._sel_end:
            self._copy_selection()
        else:
            self._sel_anchor = self._sel_end = None
        self.refresh()

    # -- rendering --------------------------------------------------------------------------------------------
    @property
    def base_style(self) -> RichStyle:
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        for line in self.screen_model.lines:
            line.cache = None
        self._hist_cache.clear()

    def _line_strip(self, line: Line, width: int) -> Strip:
        strip = line.cache
        if isinstance(strip, Strip) and strip.cell_length == width:
            return strip
        base = self.base_style
        segs = [Segment(text, base + rich_style(sid)) for text, sid in fit_runs(line.segments())]
        strip = Strip(segs).adjust_cell_length(width, base)
        line.cache = strip
        return strip

    def _history_strip(self, index: int, width: int) -> Strip:
        strip = self._hist_cache.get(index)
        if strip is None or strip.cell_length != width:
            base = self.base_style
            screen = self.screen_model
            runs = fit_runs(entry_segments(screen.history[index], screen.cols))
            segs = [Segment(t, base + rich_style(s)) for t, s in runs]
            strip = Strip(segs).adjust_cell_length(width, base)
            if len(self._hist_cache) > 512:
                self._hist_cache.clear()
            self._hist_cache[index] = strip
        return strip

    def _overlay(self, cells: Line, width: int, marks: dict[int, RichStyle]) -> Strip:
        """A row with some cells restyled (cursor, selection): built per cell, only for those few rows."""
        base = self.base_style
        segs: list[Segment] = []
        chars, styles = cells.chars, cells.styles
        for x in range(min(len(chars), width)):
            c = chars[x]
            if c == "":
                continue
            style = base + rich_style(styles[x])
            extra = marks.get(x)
            if extra is not None:
                style = style + extra
            if not c.isascii():
                c = fit_cell(c, 2 if x + 1 < len(chars) and chars[x + 1] == "" else 1)
            segs.append(Segment(c, style))
        return Strip(segs).adjust_cell_length(width, base)

    def render_line(self, y: int) -> Strip:
        screen = self.screen_model
        width = self.size.width
        hist = len(screen.history)
        offset = min(self.back_rows, hist)
        abs_row = hist - offset + y
        marks: dict[int, RichStyle] = {}
        sel = self._in_selection(abs_row)
        if sel is not None:
            for x in range(sel[0], sel[1] + 1):
                marks[x] = _SELECT_STYLE
        if self.copy_mode and self._match is not None and self._match[0] == abs_row:
            for x in range(self._match[1], self._match[2] + 1):
                marks[x] = _MATCH_STYLE
        if self.copy_mode and self._copy_cursor[0] == abs_row:
            marks[self._copy_cursor[1]] = _CURSOR_STYLE
        if abs_row < hist:
            if marks:
                line = segments_to_line(entry_segments(screen.history[abs_row], screen.cols), screen.cols)
                strip = self._overlay(line, width, marks)
            else:
                strip = self._history_strip(abs_row, width)
        elif abs_row - hist < screen.rows:
            line = screen.lines[abs_row - hist]
            if (
                not offset
                and not self.copy_mode
                and y == screen.y
                and screen.cursor_visible
                and self.has_focus
                and not self.exited
            ):
                # DECSCUSR: a block for 0-2; underline and bar (3-6, vim's insert mode) as an underline, since a
                # cell cannot show a bar — what matters is that the two modes look different
                marks[screen.x] = _CURSOR_STYLE if screen.cursor_shape <= 2 else _CURSOR_LINE_STYLE
            strip = self._overlay(line, width, marks) if marks else self._line_strip(line, width)
        else:
            strip = Strip.blank(width, self.base_style)
        if self.copy_mode and y == 0:
            back = f"↑{offset}  " if offset else ""
            strip = self._with_marker(strip, f" COPY {back}v select  y copy  / ? search  n N again  q quit ", width)
        elif offset and y == 0:
            strip = self._with_marker(strip, f" ↑ scrolled back {offset} lines ", width)
        if self._query is not None and y == self.size.height - 1:
            prompt = f"{'/' if self._search_up else '?'}{self._query}"
            strip = Strip([Segment(prompt[-width:].ljust(width), self.base_style + _MARKER_STYLE)])
        return strip

    def _with_marker(self, strip: Strip, text: str, width: int) -> Strip:
        text = text[: max(0, width)]
        keep = max(0, width - len(text))
        return Strip.join([strip.crop(0, keep), Strip([Segment(text, self.base_style + _MARKER_STYLE)])])

    def _report_focus(self, data: bytes) -> None:
        """Mode 1004: tell the program the pane gained or lost focus (vim re-checks its files on focus)."""
        if self.screen_model.focus_events and self.session is not None:
            self._in_background(self.session.write(data))

    def on_focus(self) -> None:
        self._report_focus(b"\x1b[I")
        self.refresh()

    def on_blur(self) -> None:
        self._report_focus(b"\x1b[O")
        self.refresh()

    @property
    def title(self) -> str:
        return self._title

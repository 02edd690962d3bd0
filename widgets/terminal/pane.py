"""`TerminalView`: one emulated terminal on a `TerminalSession` (the tabs around it are `tabs.py`). What it owns:
the session's life cycle (start, reattach, exit banner, restart, stop or detach), the keyboard, the mouse and
resizing; it draws through `TerminalRender` (`render.py`; selection and copy mode below it, `selection.py`) and
takes output through `TerminalOutput` (`output.py`: the read path, feeding and repainting).

Keys: while a terminal runs a program and has focus (`holds_keyboard`) every key goes to the program, encoded as
xterm does (`keys.py`), except:

* **ctrl+]** (binding `terminal.leave`) moves focus out of the terminal, to the tab bar — the same escape key as
  telnet and `virsh console`; remap it with the `[keymap]` id `terminal.leave`;
* shift+PgUp / shift+PgDn scroll the scrollback (xterm's keys for it); the mouse wheel scrolls too;
* the app's bindings marked to apply in the terminal: quit (ctrl+q) and what the user's `[keymap]` adds with the
  `terminal:` prefix. The app enforces this (`SandbenchApp._check_bindings`): Textual checks priority bindings
  before any widget sees a key, and the app skips all others while `holds_keyboard` is true.

Typing or sending a key while scrolled back returns to the live screen and repaints it whole.

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
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style as RichStyle
from textual import events
from textual.app import App
from textual.binding import BindingType
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer

from services.run_file import RunPlan
from widgets.keys import Key, bindings
from widgets.messages import describe, report
from widgets.terminal.emulator import Emulator
from widgets.terminal.keys import encode_key, encode_paste
from widgets.terminal.mouse import Kind, encode_mouse, tracking_mode
from widgets.terminal.output import TerminalOutput
from widgets.terminal.priority import echo_priority
from widgets.terminal.render import TerminalRender
from widgets.terminal.rows import Line

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService
    from services.terminal import TerminalSession

log = logging.getLogger(__name__)

LEAVE_KEY = "ctrl+right_square_bracket"
BELL_INTERVAL = 0.5
RESIZE_SETTLE = 0.08  # seconds without a new size before the emulator reflows and the program is told
LEAVE_SETTLE = 0.5  # seconds keys typed right after ctrl+] are held for the focus to move (see `action_leave`)
EARLY_MAX = 4096  # keys held for a shell still starting (a paste then goes whole, whatever its size)
WHEEL_LINES = 3


def terminal_has_keyboard(app: App[object]) -> bool:
    """True while a terminal holds the keyboard: the app's keys then go to the program (see the module docstring)."""
    focused = app.focused
    return isinstance(focused, TerminalView) and focused.holds_keyboard


class TerminalView(TerminalOutput, TerminalRender, can_focus=True):
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
        self.lost = False  # a remote session's connection was lost and the session is gone (not an exit)
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
        self._leaving: list[tuple[str, str | None]] | None = None  # keys held while focus leaves (`action_leave`)
        self._early: list[bytes] = []  # keys typed while the shell was starting, sent once it has

    # -- life cycle -------------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.autostart:
            self.start()

    def start(self) -> None:
        """Open the session and start reading it (done on mount unless `autostart=False`)."""
        self.exited = False
        self.lost = False
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
        early, self._early = b"".join(self._early), []
        if early:
            self._write(early)  # before anything typed from now on: `_write` keeps the order
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
        if getattr(session, "status", None) == "disconnected":  # a remote session lost, not an exit
            self.lost = True
            undelivered = getattr(session, "undelivered", 0)
            typed = f"; {undelivered} bytes typed meanwhile were not delivered" if undelivered else ""
            self._show_banner(
                f"lost the connection and this shell's session is gone (the server may have restarted){typed} — "
                "press enter for a new shell"
            )
            code = None
        elif self.run_plan is not None:
            self._show_banner(f"{self.run_plan.label[2:]} exited with code {code} — enter or F5 runs it again")
        else:
            self._show_banner(f"shell exited with code {code} — press enter to restart")
        self._mark_exited(code)

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

    @property
    def _shell_starting(self) -> bool:
        """A shell is on its way (started, no session yet, not ended): what is typed now waits for it (`_early`)."""
        return self.session is None and self._pump_task is not None and not self.exited

    def _write(self, data: bytes) -> None:
        session = self.session
        if session is None or not data:
            return
        self._to_live_screen()
        echo_priority().typed(self)
        # the session host's: the key leaves in this turn of the loop, unless a write started before it still has
        # to reach the session (its task has not run yet), which it must not overtake
        write_now = getattr(session, "write_now", None)
        if not self._calls_in_flight and callable(write_now) and write_now(data):
            return
        self._in_background(session.write(data))

    async def on_key(self, event: events.Key) -> None:
        if self._leaving is not None:  # typed after ctrl+], before the focus moved: not the program's
            event.stop()
            event.prevent_default()
            self._leaving.append((event.key, event.character))
            return
        if self.copy_mode:
            event.stop()
            event.prevent_default()
            self._copy_key(event.key, event.character)
            return
        # our own bindings (the escape key, scrollback keys, enter once the shell has exited) are left to
        # Textual's binding dispatch
        actions = self._own_keys().get(event.key, ())
        if "leave" in actions:
            self._hold_keys()
        if actions and any(action != "restart" or self.exited for action in actions):
            return
        if self.session is None:
            if not self._shell_starting:
                return  # no shell and none starting: the key is not the program's (enter restarts, above)
            # the shell is still starting (a new tab, the workspace just opened): the key waits for it, as tmux
            # hands a new window's shell what was typed into it meanwhile
            event.stop()
            event.prevent_default()
            data = encode_key(event.key, event.character, app_cursor=False)
            if data is not None and len(self._early) < EARLY_MAX:
                self._early.append(data)
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
        if not event.text:
            return
        if self.session is not None:
            self._write(encode_paste(event.text, bracketed=self.screen_model.bracketed_paste))
        elif self._shell_starting:  # it gets the paste once it has started
            self._early.append(encode_paste(event.text, bracketed=False))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.copy_mode:
            return False  # copy mode takes every key (its own are shown on the terminal's top row)
        if action == "restart":
            return self.exited
        return True

    def _hold_keys(self) -> None:
        """`ctrl+] c` typed as fast as tmux's prefix arrives in one read: the `c` reached this view before the
        ctrl+] binding had run (Textual runs it once the key has bubbled up to the app) and the pane had moved the
        focus (a message, then Textual's deferred focus), and went to the shell. From the leave key on, keys are
        held until the focus has moved and then handed to the app again (`_leave_settled`): the tab bar's."""
        if self._leaving is None:
            self._leaving = []
            self.set_timer(LEAVE_SETTLE, self._leave_settled)  # focus that does not move: the keys are the program's

    def action_leave(self) -> None:
        self._hold_keys()
        self.post_message(self.LeaveRequested(self))

    def _leave_settled(self) -> None:
        held, self._leaving = self._leaving, None
        for key, character in held or ():
            self.app.post_message(events.Key(key, character))  # to the focused widget now, through its bindings

    async def action_restart(self) -> None:
        if self.exited:
            await self.restart()

    def action_scroll_back(self) -> None:
        self._scroll_by(max(1, self.size.height - 1))

    def action_scroll_forward(self) -> None:
        self._scroll_by(-max(1, self.size.height - 1))

    def _scroll_by(self, n: int) -> None:
        new = max(0, min(self.max_back_rows, self.back_rows + n))
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
        self.back_rows = min(self.back_rows, self.max_back_rows)
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

    def _report_focus(self, data: bytes) -> None:
        """Mode 1004: tell the program the pane gained or lost focus (vim re-checks its files on focus)."""
        if self.screen_model.focus_events and self.session is not None:
            self._in_background(self.session.write(data))

    def on_focus(self) -> None:
        self._report_focus(b"\x1b[I")
        self.refresh()

    def on_blur(self) -> None:
        self._report_focus(b"\x1b[O")
        self._leave_settled()
        self.refresh()

    @property
    def title(self) -> str:
        return self._title

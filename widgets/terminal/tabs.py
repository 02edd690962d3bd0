"""`TerminalPane`: tabs of `TerminalView`s on one sandbox, and the tab bar above them.

From the tab bar (ctrl+] in a terminal leads there): n new tab, w close tab (asking first, naming it, when a
program runs in its shell), ←/→ switch, r restart an exited shell, c copy mode (see `selection.py`), enter or
escape back into the terminal. Tabs out of sight are marked as
tmux marks windows: `•` when they had output, `!` when they rang the bell. Shells still running from an earlier
session (the local session host's, Daytona's) are reattached when the pane opens, their tabs marked `↺`; `t` lists
the ones not shown (with their command and age) to attach or end them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import events, on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import ContentSwitcher

from services.terminal import CANNOT_TELL, ask_foreground
from services.text import safe_text
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors
from widgets.terminal.pane import TerminalView

if TYPE_CHECKING:
    from services.run_file import RunPlan
    from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)


TAB_BAR = "Terminal tabs (ctrl+] first)"  # the group these keys are known by: the tab bar has them


class _TabBar(Widget, can_focus=True):
    """The row of tab labels; focusable, and where the pane's own keys live (the terminal takes every key)."""

    DEFAULT_CSS = """
    _TabBar { height: 1; width: 1fr; background: $panel; }
    _TabBar:focus { background: $accent 30%; }
    """

    def __init__(self, pane: TerminalPane) -> None:
        super().__init__()
        self.pane = pane
        self.invited = False  # set by TerminalPane.focus_tab_bar just before it focuses us

    def on_focus(self) -> None:
        if self.invited or self.pane.active_view is None:
            self.invited = False
            self.refresh()  # the hint shows the tab bar's keys while it has focus
            return
        self.pane.active_view.focus()

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        segs: list[Segment] = []
        for i, view in enumerate(self.pane.views):
            label = f" {i + 1}:{self.pane.label_for(view)} "
            active = view is self.pane.active_view
            style = base + RichStyle(bold=active, reverse=active)
            segs.append(Segment(label, style))
            segs.append(Segment(" ", base))
        hint = (
            " ctrl+] leaves the terminal"
            if not self.has_focus
            else " n new  w close  ←/→ switch  t list  c copy  ⏎ back"
        )
        segs.append(Segment(hint, base + RichStyle(dim=True)))
        return Strip(segs).adjust_cell_length(self.size.width, base)

    def on_click(self, event: events.Click) -> None:
        x = 0
        for view in self.pane.views:
            w = len(f" {self.pane.views.index(view) + 1}:{self.pane.label_for(view)} ") + 1
            if x <= event.x < x + w:
                self.pane.activate(view)
                return
            x += w

    def on_blur(self) -> None:
        self.refresh()


class TerminalPane(ReportWorkerErrors, Vertical):
    """Several terminals on one sandbox, as tabs. The app mounts `TerminalPane(service, sandbox_id, id=...)`."""

    DEFAULT_CSS = """
    TerminalPane { height: 1fr; width: 1fr; }
    TerminalPane > ContentSwitcher { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = bindings(
        (
            Key(
                "terminal.new_tab",
                "n",
                "new_tab",
                "New terminal",
                "Open another terminal on this sandbox",
                group=TAB_BAR,
            ),
            Key(
                "terminal.close_tab",
                "w",
                "close_tab",
                "Close tab",
                "End this terminal's shell and close it (asks first when a program runs in it)",
                group=TAB_BAR,
            ),
            Key("terminal.next_tab", "right,l", "next_tab", "Next tab", "Show the next terminal tab", group=TAB_BAR),
            Key(
                "terminal.prev_tab",
                "left,h",
                "prev_tab",
                "Previous tab",
                "Show the previous terminal tab",
                group=TAB_BAR,
            ),
            Key("terminal.restart", "r", "restart", "Restart", "Start a new shell in this tab", group=TAB_BAR),
            Key(
                "terminal.list",
                "t",
                "terminal_list",
                "Terminals",
                "Shells of this sandbox not shown here (detached ones): attach or end them",
                group=TAB_BAR,
            ),
            Key(
                "terminal.copy_mode",
                "c",
                "copy_mode",
                "Copy mode",
                "Select text with the keyboard (v to start, y to copy, escape to leave)",
                group=TAB_BAR,
            ),
            Key(
                "terminal.enter",
                "enter,escape",
                "enter_terminal",
                "Back to terminal",
                "Give the keyboard back to the terminal",
                group=TAB_BAR,
            ),
        )
    )

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        *,
        scrollback: int = 10_000,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.service = service
        self.sandbox_id = sandbox_id
        self.scrollback = scrollback
        self.views: list[TerminalView] = []
        self.active_view: TerminalView | None = None
        self.run_view: TerminalView | None = None  # the tab F5 runs the current file in
        self._counter = 0
        self._tabbar = _TabBar(self)
        self._switcher = ContentSwitcher()

    def compose(self) -> ComposeResult:
        yield self._tabbar
        yield self._switcher

    async def on_mount(self) -> None:
        self.set_interval(1.0, self._watch_connections)
        try:
            running = [t for t in await self.service.list_terminals(self.sandbox_id) if t.active]
        except Exception as err:  # listing is a courtesy: a new shell still works without it
            log.info("listing terminal sessions failed: %s", err)
            running = []
        # Shells still running from an earlier session come back as they were, as `tmux attach` brings them (no
        # question asked: a new shell is one key away). One another app shows now stays in the terminal list.
        detached = [t for t in running if not t.attached]
        if not detached:
            await self.new_tab()
            return
        for info in detached:
            await self.new_tab(attach_to=info.id)

    async def end_all(self) -> None:
        """End every shell of this pane (closing the workspace on purpose): nothing is left running."""
        for view in list(self.views):
            await view.stop()

    def shown_sessions(self) -> set[str]:
        return {v.session.session_id for v in self.views if v.session is not None}

    def action_terminal_list(self) -> None:
        from widgets.terminal.session_list import SessionList

        async def chosen(answer: object) -> None:
            if isinstance(answer, str) and answer:
                await self.new_tab(attach_to=answer, focus=True)

        self.app.push_screen(SessionList(self.service, self.sandbox_id, self.shown_sessions()), chosen)

    def _watch_connections(self) -> None:
        """Redraw the tab labels when a remote session's connection state changes (reconnecting, detached)."""
        states = tuple(getattr(v.session, "status", None) for v in self.views)
        if states != getattr(self, "_states", None):
            self._states = states
            self._tabbar.refresh()

    def label_for(self, view: TerminalView) -> str:
        label = view.run_plan.label[:24] if view.run_plan is not None else (view.title or "shell")[:24]
        if view.reattached:
            label = "↺ " + label  # found running, not started here (tmux's reattach, made visible)
        if view.failed is not None:
            label += " [failed to start]"
        elif view.lost:
            label += " [lost]"
        elif view.exited:
            label += f" [exit {view.exit_code}]" if view.exit_code is not None else " [ended]"
        if view.rang:
            label += " !"
        elif view.unseen:
            label += " •"
        status = getattr(view.session, "status", None)
        if status == "reconnecting":
            label += " (reconnecting…)"
        return label

    async def new_tab(self, *, attach_to: str | None = None, focus: bool | None = None) -> TerminalView:
        self._counter += 1
        view = TerminalView(
            self.service,
            self.sandbox_id,
            scrollback=self.scrollback,
            attach_to=attach_to,
            id=f"{self.id or 'terminal'}-tab{self._counter}",
        )
        self.views.append(view)
        await self._switcher.mount(view)
        self.activate(view, focus=focus)
        return view

    def activate(self, view: TerminalView, *, focus: bool | None = None) -> None:
        """Show `view`; it takes the keyboard when focus is already in this pane (or `focus` says so). A first tab
        opening while the user is elsewhere (the workspace starts in the editor) must not take focus: a terminal
        holds every key, so the next alt+3 or letters typed would go to the new shell instead."""
        if focus is None:
            focus = self.has_focus_within
        self.active_view = view
        view.unseen = view.rang = False
        self._switcher.current = view.id
        if focus:
            view.focus()
        self._tabbar.refresh()

    def focus(self, scroll_visible: bool = True) -> TerminalPane:
        """Focusing the pane gives the keyboard to the active terminal."""
        if self.active_view is not None:
            self.active_view.focus(scroll_visible)
        return self

    async def close_tab(self, view: TerminalView) -> None:
        if view not in self.views:
            return
        index = self.views.index(view)
        had_focus = self.has_focus_within  # removing the view may move focus out of the pane
        self.views.remove(view)
        await view.stop()
        await view.remove()
        if not self.views:
            await self.new_tab(focus=had_focus)
            return
        self.activate(self.views[min(index, len(self.views) - 1)], focus=had_focus)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        view = self.active_view
        if view is not None and view.copy_mode:
            return False  # the keys belong to copy mode until it is left
        return True

    async def action_new_tab(self) -> None:
        await self.new_tab(focus=True)  # asked for (a key here, or the palette from another pane): it takes the keys

    async def run(self, plan: RunPlan) -> TerminalView:
        """Run `plan` in the run tab (F5): the tab of the last run, reused — a run still going there is ended
        first — or a new one. The tab shows without taking the keyboard; its label is the file, and the exit
        code shows on the label and in the tab when the program ends."""
        view = self.run_view if self.run_view in self.views else None
        if view is None:
            view = TerminalView(
                self.service, self.sandbox_id, scrollback=self.scrollback, id=f"{self.id or 'terminal'}-run"
            )
            view.run_plan = plan
            self.run_view = view
            self.views.append(view)
            await self._switcher.mount(view)
        else:
            view.run_plan = plan
            await view.restart()  # ends the previous run (its session closes), then runs this one
        self.activate(view, focus=False)
        return view

    async def action_close_tab(self) -> None:
        """Close the active tab; when a program runs in its shell (`sleep 1000`, vim), ask first, naming it, as
        Stop sandbox and Close workspace do: closing ends it. A bare shell closes at once."""
        view = self.active_view
        if view is None:
            return
        running = await ask_foreground(view.session) if view.session is not None else None
        if running is None:
            await self.close_tab(view)
            return
        from widgets.dialogs import ChoiceDialog  # not needed for the pane's first frame

        def answer(choice: object) -> None:
            if choice == "end":
                # closing unmounts the view: from a worker, not from the dismiss callback
                self.run_worker(self.close_tab(view), name="close terminal tab", exit_on_error=False)

        # the program's name is sandbox text: cleaned of control characters, and the dialog shows it as plain text
        if running == CANNOT_TELL:  # a remote terminal that does not say: ask anyway rather than end it unasked
            message = "A program may be running in this terminal (its provider does not say): closing the tab ends it."
        else:
            message = f"This terminal is running {safe_text(running)}: closing the tab ends it."
        self.app.push_screen(ChoiceDialog("Close terminal tab", message, [("end", "Close tab")]), answer)

    def _step(self, d: int) -> None:
        if self.active_view is None or not self.views:
            return
        i = (self.views.index(self.active_view) + d) % len(self.views)
        self.activate(self.views[i])
        self.focus_tab_bar()

    def action_next_tab(self) -> None:
        self._step(1)

    def action_prev_tab(self) -> None:
        self._step(-1)

    async def action_restart(self) -> None:
        if self.active_view is not None:
            await self.active_view.restart()
            self.active_view.focus()

    def action_copy_mode(self) -> None:
        if self.active_view is not None:
            self.active_view.enter_copy_mode()

    def action_enter_terminal(self) -> None:
        if self.active_view is not None:
            self.active_view.focus()

    @on(TerminalView.LeaveRequested)
    def _leave(self, event: TerminalView.LeaveRequested) -> None:
        event.stop()
        self.focus_tab_bar()

    def focus_tab_bar(self) -> None:
        """The tab bar keeps focus only when asked here (ctrl+], tab switching keys). Arriving any other way (a
        pane jump that remembered it, the focus chain) forwards to the shell: otherwise the first letters typed
        would be taken as tab-bar keys ('n' opens a tab) — seen when alt+3 landed on it."""
        self._tabbar.invited = True
        self._tabbar.focus()

    @on(TerminalView.TitleChanged)
    @on(TerminalView.Exited)
    @on(TerminalView.Flagged)
    def _relabel(self, event: Message) -> None:
        self._tabbar.refresh()

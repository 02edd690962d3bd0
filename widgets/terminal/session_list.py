"""`SessionList`: the sandbox's shells that this terminal pane does not show (detached ones, or ones another app
shows), each with its command and age; enter attaches it in a new tab, `x` ends it (after asking), escape closes.

The list comes from `SandboxService.list_terminals` (the local session host's or Daytona's sessions); ending goes
through `attach_terminal` + `close()`, the one way every provider ends a shell. The command is the sandbox's text:
shown as plain text, never markup.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from services.models import TerminalInfo
from widgets.dialogs import ConfirmDialog, DialogBase
from widgets.keys import Key, bindings
from widgets.messages import report, tell

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService

log = logging.getLogger(__name__)


def age(since: datetime, now: datetime | None = None) -> str:
    """`12s`, `5m`, `3h`, `2d`: how long ago, tmux's `choose-tree` style."""
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe(info: TerminalInfo, now: datetime | None = None) -> Text:
    text = Text()
    text.append((info.command or "shell")[:32], style="bold")
    text.append(f"  started {age(info.created_at, now)} ago  {info.cols}x{info.rows}")
    if info.attached:
        text.append("  (shown in another app)", style="dim")
    return text


class SessionList(DialogBase):
    DEFAULT_CSS = """
    SessionList OptionList { height: auto; max-height: 16; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *DialogBase.BINDINGS,
        *bindings(
            (
                Key("terminal.list.attach", "enter", "attach", "Attach", "Attach the selected shell in a new tab"),
                Key("terminal.list.end", "x,delete", "end", "End shell", "End the selected shell (asks)"),
                Key("terminal.list.refresh", "r", "refresh", "Refresh", "List the shells again"),
            )
        ),
    ]

    def __init__(self, service: SandboxService, sandbox_id: str, shown: Iterable[str] = ()) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.shown = set(shown)
        self.sessions: list[TerminalInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Terminals"), classes="dialog-title")
            yield Static(Text("Listing shells…"), id="sessions-note", classes="dialog-message")
            yield OptionList(id="sessions")
            yield Static(Text("enter attach  x end  r refresh  esc close"), classes="dialog-message")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load()

    @work(exclusive=True, group="terminal-list", exit_on_error=False)
    async def load(self) -> None:
        try:
            found = await self.service.list_terminals(self.sandbox_id)
        except Exception as err:
            report(self, err, "terminals")
            found = []
        self.sessions = [t for t in found if t.active and t.id not in self.shown]
        options = self.query_one(OptionList)
        options.clear_options()
        now = datetime.now(UTC)
        options.add_options([Option(describe(t, now), id=t.id) for t in self.sessions])
        note = self.query_one("#sessions-note", Static)
        count = len(self.sessions)
        note.update(
            Text(f"{count} shell{'s' if count != 1 else ''} not shown here" if count else "No other shells running")
        )
        if count:
            options.highlighted = 0

    def _selected(self) -> TerminalInfo | None:
        options = self.query_one(OptionList)
        index = options.highlighted
        if index is None or not 0 <= index < len(self.sessions):
            return None
        return self.sessions[index]

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.dismiss(event.option.id)

    def action_attach(self) -> None:
        info = self._selected()
        if info is not None:
            self.dismiss(info.id)

    def action_refresh(self) -> None:
        self.load()

    def action_end(self) -> None:
        info = self._selected()
        if info is None:
            return
        command = info.command or "shell"

        def answer(yes: object) -> None:
            if yes:
                self.end(info.id, command)

        self.app.push_screen(
            ConfirmDialog(
                "End shell?",
                f"End {command} (started {age(info.created_at)} ago) and everything running in it?",
                confirm="End",
                danger=True,
            ),
            answer,
        )

    @work(group="terminal-list-end", exit_on_error=False)
    async def end(self, session_id: str, command: str) -> None:
        try:
            session = await self.service.attach_terminal(self.sandbox_id, session_id)
            await session.close()
        except Exception as err:
            report(self, err, "end shell")
            return
        tell(self, f"ended {command}")
        self.load()

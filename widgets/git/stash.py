"""The git panel's stash list: apply, pop, drop (confirmed) and push a new stash with an optional message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from services.errors import SandbenchError
from services.git import GitService
from services.git_parse import Stash
from services.text import safe_text
from widgets.dialogs import ConfirmDialog, InputDialog
from widgets.footer import OwnFooter
from widgets.git.status_list import plain
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, report, tell


class StashScreen(ReportWorkerErrors, OwnFooter, ModalScreen[None]):
    """The stash list: enter (or space) applies the selected stash, `p` pops it, `d` drops it (confirmed), `n`
    stashes the current changes (untracked too), with an optional message."""

    DEFAULT_CSS = """
    StashScreen { align: center middle; background: $background 60%; }
    StashScreen > Vertical { width: 80; max-width: 95%; height: 60%; border: round $accent; background: $surface; }
    StashScreen OptionList { height: 1fr; }
    StashScreen #stash-hint { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS = bindings(
        (
            Key("git.stash.close", "escape,q", "close", "Close", "Close the stash list"),
            Key("git.stash.apply", "space", "apply", "Apply", "Apply the selected stash and keep it"),
            Key("git.stash.pop", "p", "pop", "Pop", "Apply the selected stash and drop it"),
            Key("git.stash.drop", "d", "drop", "Drop", "Delete the selected stash (asks first)"),
            Key("git.stash.push", "n", "push", "New stash", "Stash all changes, untracked files too"),
        )
    )

    def __init__(self, git: GitService, on_change: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.git = git
        self.on_change = on_change
        self.stashes: list[Stash] = []
        self.loaded = False
        self._busy = asyncio.Lock()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Stashes", style="bold"), id="stash-title")
            yield OptionList(id="stashes")
            # the footer's words: space applies (enter, the list's own select, does the same)
            yield Static(Text("space apply · p pop · d drop · n new stash · esc close"), id="stash-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load()

    @work(exclusive=True, group="git-stashes", exit_on_error=False)
    async def load(self) -> None:
        try:
            stashes = await self.git.stashes()
        except SandbenchError as exc:
            report(self, exc)
            return
        self.stashes = stashes
        ol = self.query_one(OptionList)
        ol.clear_options()
        for st in stashes:
            t = Text(st.ref, style="yellow")
            t.append("  ")
            t.append_text(plain(st.message))
            ol.add_option(Option(t))
        if stashes:
            ol.highlighted = 0
        else:
            ol.add_option(Option(Text("no stashes — n stashes the current changes", style="grey62"), disabled=True))
        self.loaded = True

    def _selected(self) -> Stash | None:
        i = self.query_one(OptionList).highlighted
        return self.stashes[i] if i is not None and 0 <= i < len(self.stashes) else None

    def action_close(self) -> None:
        self.dismiss(None)

    async def _op(self, label: str, op: Callable[[], Any], *, close: bool) -> None:
        async with self._busy:  # one git write at a time: a second key press waits for the first
            try:
                await op()
            except SandbenchError as exc:
                report(self, exc)
                self.load()
                return
        tell(self, label, title="Git")
        if self.on_change:
            self.on_change()
        if close:
            self.dismiss(None)
        else:
            self.load()

    @on(OptionList.OptionSelected)
    def _chosen(self) -> None:
        self.action_apply()

    @work(group="git-stash-op", exit_on_error=False)
    async def action_apply(self) -> None:
        st = self._selected()
        if st is not None:
            await self._op(f"applied {st.ref}", lambda: self.git.stash_apply(st.index), close=True)

    @work(group="git-stash-op", exit_on_error=False)
    async def action_pop(self) -> None:
        st = self._selected()
        if st is not None:
            await self._op(f"popped {st.ref}", lambda: self.git.stash_pop(st.index), close=True)

    @work(group="git-stash-op", exit_on_error=False)
    async def action_drop(self) -> None:
        st = self._selected()
        if st is None:
            return
        ok = await self.app.push_screen_wait(
            ConfirmDialog(
                "Drop stash", f"Delete {st.ref} ({safe_text(st.message)[:80]}) for good?", confirm="Drop", danger=True
            )
        )
        if ok:
            await self._op(f"dropped {st.ref}", lambda: self.git.stash_drop(st.index), close=False)

    @work(group="git-stash-op", exit_on_error=False)
    async def action_push(self) -> None:
        message = await self.app.push_screen_wait(
            InputDialog("New stash", "A message for the stash (optional):", placeholder="work in progress")
        )
        if message is None:
            return  # cancelled (an empty message is fine: git writes its own)
        text = str(message).strip() or None
        await self._op("stashed", lambda: self.git.stash_push(text), close=False)

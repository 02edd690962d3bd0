"""The git panel's branch list: enter switches, `n` creates (and switches), `D` deletes (confirmed; an unmerged
branch asks again before a force delete).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from services.errors import SandbenchError
from services.git import GitService
from services.git_errors import BranchNotMerged
from services.git_parse import Branch
from services.text import safe_text
from widgets.dialogs import ConfirmDialog, InputDialog
from widgets.footer import OwnFooter
from widgets.git.status_list import plain
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, report, tell


class BranchScreen(ReportWorkerErrors, OwnFooter, ModalScreen[None]):
    """Branches: enter switches, `n` creates (and switches), `D` deletes (confirmed)."""

    DEFAULT_CSS = """
    BranchScreen { align: center middle; background: $background 60%; }
    BranchScreen > Vertical { width: 70; max-width: 95%; height: 70%; border: round $accent; background: $surface; }
    BranchScreen OptionList { height: 1fr; }
    BranchScreen #branch-hint { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS = bindings(
        (
            Key("git.branches.close", "escape,q", "close", "Close", "Close the branch list"),
            # enter is also the list's own select, which switches too (`_chosen`): one action either way
            Key("git.branches.switch", "enter", "switch", "Switch", "Check out the selected branch"),
            Key("git.branches.new", "n", "new", "New branch", "Create a branch here and switch to it"),
            Key("git.branches.delete", "D", "delete", "Delete", "Delete the selected branch"),
        )
    )

    def __init__(self, git: GitService, on_change: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.git = git
        self.on_change = on_change
        self.branches: list[Branch] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Branches", style="bold"), id="branch-title")
            yield OptionList(id="branches")
            yield Static(Text("enter switch · n new · D delete · esc close"), id="branch-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load()

    @work(exclusive=True, group="git-branches", exit_on_error=False)
    async def load(self) -> None:
        try:
            branches = await self.git.branches()
        except SandbenchError as exc:
            report(self, exc)
            return
        self.branches = branches
        ol = self.query_one(OptionList)
        ol.clear_options()
        for b in branches:
            t = Text("* " if b.current else "  ", style="green bold")
            t.append_text(plain(b.name, "bold" if b.current else ""))
            if b.upstream:
                t.append("  → ", style="grey62")
                t.append_text(plain(b.upstream, "cyan"))
            if b.track:
                t.append_text(plain(f" [{b.track}]", "yellow"))
            t.append("  ")
            t.append_text(plain(b.subject[:60], "grey62"))
            ol.add_option(Option(t))
        current = next((i for i, b in enumerate(branches) if b.current), 0)
        if branches:
            ol.highlighted = current

    def _selected(self) -> Branch | None:
        i = self.query_one(OptionList).highlighted
        return self.branches[i] if i is not None and 0 <= i < len(self.branches) else None

    def action_close(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _chosen(self) -> None:
        self.switch_to()

    def action_switch(self) -> None:
        self.switch_to()

    @work(group="git-branch-op", exit_on_error=False)
    async def switch_to(self) -> None:
        b = self._selected()
        if b is None or b.current:
            return
        try:
            await self.git.switch(b.name)
        except SandbenchError as exc:
            report(self, exc)
            return
        tell(self, f"switched to {b.name}", title="Git")
        if self.on_change:
            self.on_change()
        self.dismiss(None)

    @work(group="git-branch-op", exit_on_error=False)
    async def action_new(self) -> None:
        # created from the dialog: a name git refuses (or one taken) comes back inline, the text kept
        name = await self.app.push_screen_wait(
            InputDialog(
                "New branch",
                "Name of the new branch (created here, then checked out):",
                placeholder="feature/x",
                validate=lambda v: None if v.strip() else "a branch needs a name",
                submit=lambda v: self.git.create_branch(v.strip()),
            )
        )
        if not name:
            return
        if self.on_change:
            self.on_change()
        self.dismiss(None)

    @work(group="git-branch-op", exit_on_error=False)
    async def action_delete(self) -> None:
        b = self._selected()
        if b is None:
            return
        if b.current:
            tell(self, "cannot delete the branch you are on: switch first", title="Git", severity="warning")
            return
        ok = await self.app.push_screen_wait(
            ConfirmDialog("Delete branch", f"Delete branch {safe_text(b.name)}?", confirm="Delete", danger=True)
        )
        if not ok:
            return
        try:
            await self.git.delete_branch(b.name)
        except BranchNotMerged:
            force = await self.app.push_screen_wait(
                ConfirmDialog(
                    "Not merged",
                    f"{safe_text(b.name)} has commits no other branch has. Delete it anyway and lose them?",
                    confirm="Delete anyway",
                    danger=True,
                )
            )
            if not force:
                return
            try:
                await self.git.delete_branch(b.name, force=True)
            except SandbenchError as exc:
                report(self, exc)
                return
        except SandbenchError as exc:
            report(self, exc)
            return
        self.load()

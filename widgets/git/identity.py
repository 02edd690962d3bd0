"""The "who are you?" dialog: a commit failed because git has no user name/email; set them for this repository.

Two fields (name, email), filled with whatever git already knows; enter moves on from the name and saves from
the email, ctrl+s saves from either, escape cancels. Saving checks the values (`services.git.check_identity`),
then stores them with `git config --local` run inside the sandbox; any refusal is shown inline and the fields keep
what was typed. Dismisses with True once stored (the panel then retries the commit), None when cancelled.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from services.errors import SandbenchError
from services.git import GitService, check_identity
from widgets.dialogs import DialogBase
from widgets.keys import Key, bindings


class IdentityDialog(DialogBase):
    BINDINGS = [
        *DialogBase.BINDINGS,
        *bindings((Key("git.identity.save", "ctrl+s", "save", "Save", "Store the name and email, then commit"),)),
    ]

    def __init__(self, git: GitService) -> None:
        super().__init__()
        self.git = git

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Who are you?"), classes="dialog-title")
            yield Static(
                Text("git needs a name and an email for your commits. They are stored in this repository only."),
                classes="dialog-message",
            )
            yield Input(placeholder="Ada Lovelace", id="name")
            yield Input(placeholder="ada@example.com", id="email")
            yield Static("", id="error", classes="dialog-error")
            yield Static(Text("enter next/save · ctrl+s save · esc cancel", style="grey62"))

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._prefill()

    @work(exit_on_error=False)
    async def _prefill(self) -> None:
        try:
            name, email = await self.git.identity()
        except SandbenchError:
            return  # nothing known: the fields stay empty
        for wid, value in (("#name", name), ("#email", email)):
            field = self.query_one(wid, Input)
            if value and not field.value:
                field.value = value
        if name and not email:
            self.query_one("#email", Input).focus()

    def _error(self, text: str) -> None:
        self.query_one("#error", Static).update(Text(text))

    @on(Input.Submitted, "#name")
    def _next(self) -> None:
        self.query_one("#email", Input).focus()

    @on(Input.Submitted, "#email")
    def _submitted(self) -> None:
        self.action_save()

    @work(exclusive=True, group="git-identity", exit_on_error=False)
    async def action_save(self) -> None:
        name = self.query_one("#name", Input).value
        email = self.query_one("#email", Input).value
        try:
            check_identity(name, email)
            await self.git.set_identity(name, email)
        except SandbenchError as exc:
            self._error(str(exc))
            self.query_one("#email" if name.strip() and "name" not in str(exc) else "#name", Input).focus()
            return
        self.dismiss(True)

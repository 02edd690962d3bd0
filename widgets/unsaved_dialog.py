"""The one question asked wherever unsaved editor work could be lost: Save all, Discard, or Cancel (issue 11 §3).

Asked before quitting, closing a workspace, closing a modified tab, and stopping or archiving a sandbox whose
workspace holds modified buffers. Keyboard first: `s` saves all, `d` discards, escape cancels, and the focus
starts on Save all (enter saves).

Save all really saves, from the dialog (`save`, the caller's async call, e.g. every workspace's `save_all`): the
dialog stays open while the files are written, and it closes with "saved" only when nothing is left unsaved. When
a save fails, nothing proceeds: the dialog stays, says which file was not saved and why, and the user can retry,
discard, or cancel. A save that asks (the file changed on disk) stacks its own question over this one.

Dismisses with "saved", "discard", or None (cancelled). File names are sandbox text: rendered as `Text`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from services.errors import SandbenchError
from services.text import safe_text
from widgets.dialogs import DialogBase
from widgets.keys import Key, bindings

SAVED = "saved"
DISCARD = "discard"

# What `save` returns: the files still unsaved, each with why when known ("notes.txt: permission denied").
SaveAll = Callable[[], Awaitable[Sequence[str]]]


def listed(names: Sequence[str], most: int = 5) -> str:
    """`a, b, c, …` (sandbox text made safe), at most `most` names."""
    shown = ", ".join(safe_text(n) for n in names[:most])
    return shown + (", …" if len(names) > most else "")


class UnsavedDialog(DialogBase):
    """Save all / Discard / Cancel for unsaved buffers; `then` names what follows ("quit", "close the workspace")."""

    BINDINGS = [
        *DialogBase.BINDINGS,
        *bindings(
            (
                Key("dialog.save_all", "s", "save_all", "Save all", "Save every unsaved file, then go on"),
                Key("dialog.discard", "d", "discard", "Discard", "Lose the unsaved changes and go on"),
            )
        ),
    ]

    def __init__(self, title: str, message: str, unsaved: Sequence[str], *, save: SaveAll, then: str) -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._unsaved = list(unsaved)
        self._save = save
        self._then = then

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            if self._message:
                yield Static(Text(self._message), classes="dialog-message")
            yield Static(
                Text(f"Unsaved: {listed(self._unsaved)}. Save all and {self._then}, or discard them and {self._then}?"),
                classes="dialog-message",
                id="unsaved-files",
            )
            yield Static("", classes="dialog-error", id="error")
            with Horizontal():
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Discard (d)", id="choice-discard", variant="error")
                yield Button("Save all (s)", id="choice-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#choice-save", Button).focus()

    def action_save_all(self) -> None:
        async def save() -> str:
            left = list(await self._save())
            if left:
                raise SandbenchError(f"not saved: {listed(left, 3)}; nothing else was done")
            return SAVED

        self.submit_in_place(save, field=self.query_one("#choice-save", Button), working="saving…")

    def action_discard(self) -> None:
        if not self.busy:
            self.dismiss(DISCARD)

    @on(Button.Pressed, "#choice-save")
    def _save_pressed(self) -> None:
        self.action_save_all()

    @on(Button.Pressed, "#choice-discard")
    def _discard_pressed(self) -> None:
        self.action_discard()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

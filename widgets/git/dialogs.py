"""The git panel's input dialogs: the commit message editor and the secret prompt.

`CommitDialog`: a TextArea with a live summary-length hint; ctrl+s commits, escape cancels. Opened by the git panel
(`c` commits, `A` amends); it may open with a draft (a message whose commit failed, or git's prepared merge
message), so nothing typed is lost. An empty message is refused inline. A message that must be read first (the last
commit's, for amend; git's merge message) is read from the open dialog (`load`): it opens at once, so what is typed
fast behind the key goes into it and never to the panel's keys, and the text read is put after what was typed, as
if it had been there from the start (the cursor starts at the top); ctrl+s pressed before it is read commits once
it is. `SecretDialog`: an `InputDialog` whose
input is hidden, for the password or passphrase a push or pull asks for.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from services.errors import SandbenchError
from widgets.dialogs import InputDialog, SubmitsInPlace
from widgets.early_keys import HoldsEarlyKeys
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings
from widgets.messages import UNEXPECTED, describe

log = logging.getLogger(__name__)

SUMMARY_SOFT = 50  # the classic summary-line length; over HARD it is wrapped badly by most tools
SUMMARY_HARD = 72


def summary_hint(message: str) -> Text:
    summary = message.split("\n", 1)[0]
    n = len(summary)
    style = "green" if n <= SUMMARY_SOFT else "yellow" if n <= SUMMARY_HARD else "bold red"
    t = Text(f"summary {n}/{SUMMARY_SOFT}", style=style)
    if n > SUMMARY_HARD:
        t.append(f"  over {SUMMARY_HARD}: shorten the first line", style="red")
    elif "\n" in message and message.split("\n")[1:2] != [""]:
        t.append("  leave the second line empty", style="yellow")
    t.append("   ctrl+s commit · esc cancel", style="grey62")
    return t


class CommitDialog(HoldsEarlyKeys, SubmitsInPlace, OwnFooter, ModalScreen[str | None]):
    """The commit message editor: a TextArea, a live summary-length hint; ctrl+s commits, escape cancels. With
    `submit` the commit runs from the dialog: a refused commit (a hook, no identity) shows inline and the message
    stays, with the focus in it."""

    HOLDS_TOASTS = True  # no toast over it while it is open (widgets/toast_hold.py)

    DEFAULT_CSS = """
    CommitDialog { align: center middle; background: $background 60%; }
    CommitDialog > Vertical {
        width: 80; max-width: 95%; height: 20; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    CommitDialog .dialog-title { text-style: bold; color: $accent; }
    CommitDialog TextArea { height: 1fr; }
    CommitDialog #hint { height: 1; }
    CommitDialog #error { color: $error; height: auto; }
    CommitDialog #error.-working { color: $text-muted; }
    """
    BINDINGS = bindings(
        (
            Key("git.commit_dialog.commit", "ctrl+s", "commit", "Commit", "Commit with this message"),
            Key("git.commit_dialog.cancel", "escape", "cancel", "Cancel", "Close without committing"),
        )
    )

    def __init__(
        self,
        *,
        amend: bool = False,
        message: str = "",
        submit: Callable[[str], Awaitable[object]] | None = None,
        load: Callable[[], Awaitable[str]] | None = None,
        loading: str = "the message",
    ) -> None:
        """`load` reads the message to start from once the dialog is open (`loading` names it: "reading the last
        commit's message…")."""
        super().__init__()
        self.amend = amend
        self.initial = message
        self._submit_call = submit
        self._load = load
        self._loading = loading
        self._commit_when_loaded = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text("Amend the last commit" if self.amend else "Commit staged changes"), classes="dialog-title"
            )
            yield TextArea(self.initial, id="message", soft_wrap=True, show_line_numbers=False)
            yield Static(summary_hint(self.initial), id="hint")
            yield Static("", id="error")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()
        if self._load is not None:
            self.show_error(f"reading {self._loading}…", working=True)
            self.run_worker(self._fill(self._load), name="read message", exit_on_error=False)

    @property
    def reading(self) -> bool:
        """The message to start from is still being read."""
        return self._load is not None

    async def _fill(self, load: Callable[[], Awaitable[str]]) -> None:
        try:
            text = await load()
        except Exception as exc:  # a SandbenchError says what; anything else is a bug, in the log
            if not isinstance(exc, SandbenchError):
                log.error("reading the commit message failed", exc_info=exc)
            why = describe(exc) if isinstance(exc, SandbenchError) else UNEXPECTED
            self._load, self._commit_when_loaded = None, False  # not committed without the text it was to keep
            self.show_error(f"could not read {self._loading}: {why} — what you write replaces it")
            return
        self._load = None
        area = self.query_one(TextArea)
        # after what was typed meanwhile, the cursor left where it is: as if the text had been there on opening
        # (the insert moves a cursor at the end along with it)
        selection = area.selection
        area.insert(text, area.document.end)
        area.selection = selection
        self.show_error("")
        if self._commit_when_loaded:
            self._commit_when_loaded = False
            self.action_commit()

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        self.query_one("#hint", Static).update(summary_hint(event.text_area.text))

    def action_commit(self) -> None:
        if self.reading:  # ctrl+s typed fast behind the key: commit the whole message, once it is read
            self._commit_when_loaded = True
            self.show_error(f"reading {self._loading}… commits once it is read", working=True)
            return
        text = self.query_one(TextArea).text
        if not text.strip():
            self.query_one("#error", Static).update(Text("write a message first: an empty one is refused"))
            return
        submit = self._submit_call
        if submit is None:
            self.dismiss(text)
            return
        self.submit_in_place(lambda: submit(text), result=text, field=self.query_one(TextArea), working="committing…")

    def action_cancel(self) -> None:
        self.cancel_unless_busy()


class SecretDialog(InputDialog):
    """An `InputDialog` whose input is hidden (passwords, passphrases)."""

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#value", Input).password = True

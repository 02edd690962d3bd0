"""Small modal dialogs shared by every pane: confirm, ask for text, choose one of a few actions.

Each is a `ModalScreen` that dismisses with its answer (None when cancelled with escape), so callers write
`answer = await self.app.push_screen_wait(InputDialog(...))` inside a worker, or pass a callback. Text shown in
them may come from a sandbox (file names): it is rendered with `Content`/`Text`, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from widgets.keys import Key, bindings

DIALOG_CSS = """
DialogBase {
    align: center middle;
    background: $background 60%;
}
DialogBase > Vertical {
    width: 64;
    max-width: 95%;
    height: auto;
    max-height: 90%;
    border: round $accent;
    background: $surface;
    padding: 0 1;
}
DialogBase .dialog-title { text-style: bold; color: $accent; padding-bottom: 1; }
DialogBase .dialog-message { padding-bottom: 1; }
DialogBase .dialog-error { color: $error; height: auto; }
DialogBase Horizontal { height: auto; align-horizontal: right; padding-top: 1; }
DialogBase Button { margin-left: 1; min-width: 10; }
"""


class DialogBase(ModalScreen[object]):
    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = bindings(
        (Key("dialog.cancel", "escape", "cancel", "Cancel", "Close without doing anything", fallback=True),)
    )

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(DialogBase):
    """Yes/no. `danger=True` colours the confirm button as destructive; enter confirms, escape cancels."""

    BINDINGS = [
        *DialogBase.BINDINGS,
        Binding("y", "confirm", "Yes", id="dialog.yes", show=False),
        Binding("n", "cancel", "No", id="dialog.no", show=False),
    ]

    def __init__(self, title: str, message: str, *, confirm: str = "OK", danger: bool = False) -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._confirm = confirm
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            yield Static(Text(self._message), classes="dialog-message")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self._confirm, id="confirm", variant="error" if self._danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _no(self) -> None:
        self.dismiss(None)


class InputDialog(DialogBase):
    """Ask for one line of text. `validate` returns an error message (shown, dialog stays) or None."""

    def __init__(
        self,
        title: str,
        prompt: str,
        *,
        value: str = "",
        placeholder: str = "",
        validate: Callable[[str], str | None] | None = None,
        select: tuple[int, int] | None = None,
        password: bool = False,
    ) -> None:
        super().__init__()
        self._title = title
        self._prompt = prompt
        self._value = value
        self._placeholder = placeholder
        self._validate = validate
        self._select = select
        self._password = password

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            yield Label(Text(self._prompt))
            yield Input(value=self._value, placeholder=self._placeholder, password=self._password, id="value")
            yield Static("", classes="dialog-error", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        field = self.query_one("#value", Input)
        field.focus()
        if self._select is not None:
            field.selection = self._select  # type: ignore[assignment]

    def _submit(self) -> None:
        value = self.query_one("#value", Input).value
        error = self._validate(value) if self._validate else None
        if error:
            self.query_one("#error", Static).update(Text(error))
            return
        self.dismiss(value)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._submit()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ChoiceDialog(DialogBase):
    """Pick one of a few named actions, e.g. overwrite / reload / diff. Dismisses with the chosen key."""

    def __init__(self, title: str, message: str, choices: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            yield Static(Text(self._message), classes="dialog-message")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                for key, label in self._choices:
                    yield Button(label, id=f"choice-{key}")

    def on_mount(self) -> None:
        buttons = self.query(Button)
        if len(buttons) > 1:
            buttons[1].focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        self.dismiss(bid.removeprefix("choice-") if bid.startswith("choice-") else None)

"""Small modal dialogs shared by every pane: confirm, ask for text, choose one of a few actions.

Each is a `ModalScreen` that dismisses with its answer (None when cancelled with escape), so callers write
`answer = await self.app.push_screen_wait(InputDialog(...))` inside a worker, or pass a callback. Text shown in
them may come from a sandbox (file names): it is rendered with `Content`/`Text`, never parsed as markup.

Input the service may still reject (a sandbox name taken, a file that already exists, a snapshot name it refuses)
is submitted *from the dialog* (`submit=`, `DialogBase.submit_in_place`): the dialog stays open while the call
runs, a rejection shows inline under the field with the field still focused and holding what was typed (the path
check does the same for `../evil.txt` before anything is sent), and only success closes it. Nothing typed is lost
to a one-line notification. A rejection that says more than its line (a hook's output) also takes the app's error
route, which keeps the full text: the inline line then ends with "details: shift+f2".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from services.errors import SandbenchError
from services.text import safe_text
from widgets.early_keys import HoldsEarlyKeys
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings
from widgets.messages import UNEXPECTED, ReportWorkerErrors, describe, details_key, details_of, report

log = logging.getLogger(__name__)

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
DialogBase .dialog-error.-working { color: $text-muted; }
DialogBase Horizontal { height: auto; align-horizontal: right; padding-top: 1; }
DialogBase Button { margin-left: 1; min-width: 10; }
"""


class DialogRejected(Message):
    """The call a dialog's answer asked for was refused: `text` goes inline, `field` gets the focus back."""

    def __init__(self, text: str, field: Widget | None) -> None:
        super().__init__()
        self.text = text
        self.field = field


class DialogAccepted(Message):
    """The call succeeded: the dialog closes with `result`."""

    def __init__(self, result: object) -> None:
        super().__init__()
        self.result = result


RETURNED = object()  # `submit_in_place(result=...)` left out: dismiss with what the call returned


class SubmitsInPlace(ReportWorkerErrors):
    """For a modal screen: run the call an answer asks for while the dialog stays open (`submit_in_place`).

    Success dismisses the screen with the result. A `SandbenchError` (the service's rejection) is shown inline in
    the screen's `#error` line and the `field` gets the focus back, its text untouched; anything unexpected is
    logged and shown as `UNEXPECTED`, the same. While the call runs the screen is `busy`: a second submit is
    ignored, and cancel says to wait (cancelling would leave the call half-reported)."""

    busy = False

    def show_error(self, text: str, *, working: bool = False) -> None:
        line = self.query_one("#error", Static)  # type: ignore[attr-defined]
        line.set_class(working, "-working")
        line.update(Text(text))

    def submit_in_place(
        self,
        call: Callable[[], Awaitable[object]],
        *,
        field: Widget | Callable[[BaseException], Widget] | None,
        result: object = RETURNED,
        working: str = "working…",
    ) -> None:
        """Run `call()`; on success dismiss with `result`, or with what `call` returned when no result is given.
        `field` gets the focus back after a rejection (a function of the error, when which field depends on it)."""
        if self.busy:
            return
        self.busy = True
        self.show_error(working, working=True)

        def at_fault(err: BaseException) -> Widget | None:
            return field if field is None or isinstance(field, Widget) else field(err)

        async def run() -> None:
            try:
                answer = await call()
            except SandbenchError as err:
                log.info("dialog input rejected: %s: %s", type(err).__name__, err)
                text = describe(err)
                if details_of(err) is not None:  # the line is cut: the route keeps it all for the details view
                    report(self, err, type(self).__name__)  # type: ignore[arg-type]
                    text = f"{text} — details: {details_key(self)}"  # type: ignore[arg-type]
                self.post_message(DialogRejected(text, at_fault(err)))  # type: ignore[attr-defined]
                return
            except Exception as err:  # a bug: the log has it; the dialog keeps what was typed
                log.error("dialog submit failed", exc_info=err)
                self.post_message(DialogRejected(UNEXPECTED, at_fault(err)))  # type: ignore[attr-defined]
                return
            self.post_message(DialogAccepted(answer if result is RETURNED else result))  # type: ignore[attr-defined]

        self.run_worker(run(), name="dialog submit", group="dialog-submit", exclusive=True, exit_on_error=False)  # type: ignore[attr-defined]

    # handlers by name, not `@on`: this is a plain mixin, and only message pumps collect `@on` handlers
    def on_dialog_rejected(self, message: DialogRejected) -> None:
        self.busy = False
        self.show_error(message.text)
        if message.field is not None and message.field.is_attached:
            message.field.focus()

    def on_dialog_accepted(self, message: DialogAccepted) -> None:
        self.busy = False
        self.dismiss(message.result)  # type: ignore[attr-defined]

    def cancel_unless_busy(self) -> None:
        if self.busy:
            self.show_error("still working: wait for it to finish", working=True)
            return
        self.dismiss(None)  # type: ignore[attr-defined]


class DialogBase(HoldsEarlyKeys, SubmitsInPlace, OwnFooter, ModalScreen[object]):
    """A modal dialog: keys typed before it has mounted are held and then typed into it (`HoldsEarlyKeys`);
    no toast covers it (the app holds them while it is on top: widgets/toast_hold.py)."""

    HOLDS_TOASTS = True

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = bindings(
        (Key("dialog.cancel", "escape", "cancel", "Cancel", "Close without doing anything", fallback=True),)
    )

    def action_cancel(self) -> None:
        self.cancel_unless_busy()


class ConfirmDialog(DialogBase):
    """Yes/no: `y` confirms, `n` and escape cancel, and enter presses the focused button. That is the confirm
    button, except with `danger=True` (delete, discard, restore): then Cancel has the focus, so a stray enter (the
    end of something typed too fast) confirms nothing; `y`, or tab to the red button and enter, does.

    A question that needs a look first (what a restore changes) is worked out from the open dialog (`load`): it
    opens at once, so a `y` typed fast behind the key that asked reaches it and never the screen below. `message`
    shows meanwhile; a yes given before the question is there counts once it is, and `load` returning None means
    there is nothing to ask (it has said why): the dialog closes with None."""

    BINDINGS = [
        *DialogBase.BINDINGS,
        *bindings(
            (
                Key("dialog.yes", "y", "confirm", "Yes", "Confirm: do what the dialog asks"),
                Key("dialog.no", "n", "cancel", "No", "Answer no: close without doing it (esc too)", show=False),
            )
        ),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        confirm: str = "OK",
        danger: bool = False,
        load: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._confirm = confirm
        self._danger = danger
        self._load = load
        self._yes_when_loaded = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            yield Static(Text(self._message), classes="dialog-message", id="message")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self._confirm, id="confirm", variant="error" if self._danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#cancel" if self._danger else "#confirm", Button).focus()
        if self._load is not None:
            self.run_worker(self._ask(self._load), name="work out the question", exit_on_error=False)

    @property
    def asking(self) -> bool:
        """The question is there (not still being worked out by `load`)."""
        return self._load is None

    async def _ask(self, load: Callable[[], Awaitable[str | None]]) -> None:
        try:
            message = await load()
        except Exception as exc:  # the app's error route says what (a bug's details go to the log there)
            self.dismiss(None)
            report(self, exc, self._title)
            return
        self._load = None
        if message is None:
            self.dismiss(None)
            return
        self.query_one("#message", Static).update(Text(message))
        if self._yes_when_loaded:
            self.dismiss(True)

    def action_confirm(self) -> None:
        if not self.asking:  # typed fast behind the key: a yes to the question once it is there
            self._yes_when_loaded = True
            return
        self.dismiss(True)

    @on(Button.Pressed, "#confirm")
    def _yes(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _no(self) -> None:
        self.dismiss(None)


class InputDialog(DialogBase):
    """Ask for one line of text. `validate` returns an error message (shown, dialog stays) or None. `submit`, when
    given, is the service call the text is for, run from the dialog: a rejection shows inline and the dialog
    stays with the text; success dismisses with the text."""

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
        submit: Callable[[str], Awaitable[object]] | None = None,
        refine: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        super().__init__()
        self._refine = refine  # a better first value, worked out once open: it replaces `value` if still untouched
        self._submit_call = submit
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
        refine = self._refine
        if refine is not None:

            async def work() -> None:
                better = await refine()
                if field.value == self._value and better != self._value:  # what was typed is never replaced
                    field.value = better
                    field.select_all()

            self.run_worker(work(), name="dialog value", group="dialog-value", exclusive=True, exit_on_error=False)

    def _submit(self) -> None:
        field = self.query_one("#value", Input)
        value = field.value
        error = self._validate(value) if self._validate else None
        if error:
            self.show_error(error)
            field.focus()
            return
        submit = self._submit_call
        if submit is None:
            self.dismiss(value)
            return
        self.submit_in_place(lambda: submit(value), result=value, field=field)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._submit()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self._submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()


def unused_snapshot_name(sandbox: str, taken: Iterable[str] = ()) -> str:
    """The name the snapshot dialog offers: `NAME-snap`, or `NAME-snap-2`, `-3`… when that one exists."""
    names = set(taken)
    base = f"{sandbox}-snap"
    name, n = base, 1
    while name in names:
        n += 1
        name = f"{base}-{n}"
    return name


def snapshot_name_dialog(
    sandbox_name: str,
    submit: Callable[[str], Awaitable[object]] | None = None,
    *,
    taken: Iterable[str] = (),
    list_taken: Callable[[], Awaitable[Iterable[str]]] | None = None,
) -> InputDialog:
    """The dialog that asks for the name of a snapshot of `sandbox_name` (proposing `<name>-snap`, or the first
    `<name>-snap-N` not in `taken`, the snapshots there are; refusing a blank one); `submit` as for `InputDialog`.
    `list_taken` lists them once the dialog is open (it opens at once: a name typed fast behind the key that
    opened it goes into its field), and the proposal follows unless something was typed meanwhile."""

    async def refine() -> str:
        return unused_snapshot_name(sandbox_name, await list_taken()) if list_taken is not None else ""

    return InputDialog(
        "Snapshot",
        f"Name for a snapshot of “{safe_text(sandbox_name)}”:",
        value=unused_snapshot_name(sandbox_name, taken),
        validate=lambda v: None if v.strip() else "a snapshot needs a name",
        submit=submit,
        refine=refine if list_taken is not None else None,
    )


def choice_letters(labels: Sequence[str], taken: Iterable[str] = ()) -> list[str | None]:
    """A key for each label: its first letter (or the next one) that no earlier label took and `taken` lacks;
    None when every letter is taken. `Overwrite, Reload, Diff` → o, r, d; `Close tab` → c."""
    used = {t.lower() for t in taken}
    keys: list[str | None] = []
    for label in labels:
        key = next((c for c in label.lower() if c.isalpha() and c not in used), None)
        if key is not None:
            used.add(key)
        keys.append(key)
    return keys


class ChoiceDialog(DialogBase):
    """Pick one of a few named actions, e.g. overwrite / reload / diff. Dismisses with the chosen key.

    Each choice also has a letter key, shown in the footer (`o Overwrite  r Reload  d Diff  esc Cancel`): the
    first letter of its label that is free (`choice_letters`). The choices are the caller's, so those bindings are
    the dialog's own, made per dialog (no table can list them); every one runs `choose`."""

    def __init__(self, title: str, message: str, choices: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._choices = list(choices)
        for (key, label), letter in zip(
            self._choices, choice_letters([label for _, label in self._choices]), strict=True
        ):
            if letter is not None:
                self._bindings.bind(letter, f"choose({key!r})", label)

    def action_choose(self, key: str) -> None:
        if any(key == k for k, _ in self._choices):
            self.dismiss(key)

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

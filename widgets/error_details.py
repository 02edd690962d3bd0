"""The last errors, in full: what the app's error route remembers (`ShownError`, `ErrorHistory`) and the screen
that shows them (`ErrorDetailsScreen`, opened with `ERROR_DETAILS_KEY` or the palette's "Last error details").

A notification is one line. When an error says more than that line holds — every line a git hook printed, the
report of a push the remote refused, a server's error body, a message past the notification's limit — the route
says so in the notification ("shift+f2 details") and keeps the full text here, so nothing is lost to a cut. The screen
pages through the last `KEEP` errors, newest first.

The text is the sandbox's (a hook's output is whatever the hook printed): each line is made safe with
`services.text.content` (control characters as control pictures, bidi and undecodable bytes as escapes) and drawn
by Textual's `Log`, which takes text literally — `[b]`, `[@click=…]` or ESC sequences in it stay inert. The text
is bounded (`services.errors.MAX_DETAILS`, 1 MiB) before it gets here. Tracebacks never come here: an unexpected
error is shown as one line and its traceback goes to the log file only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from services.text import content, safe_text
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings

KEEP = 20  # errors remembered for the details view

ERROR_DETAILS_KEY = Key(
    "app.error_details",
    "shift+f2",  # f8 is the workspace search
    "error_details",
    "Last error details",
    "The full text of the last errors (a hook's output, a rejected push): scroll, page through them, copy",
    priority=True,  # from any pane and from a dialog that showed the error inline
    show=False,  # the footer is full at 80 columns: the notification names the key, the palette lists it
)

DETAILS_KEYS: tuple[Key, ...] = (
    Key("error_details.close", "escape,q", "close", "Close", "Back to where you were"),
    Key("error_details.older", "p", "older", "Older", "The error before this one"),
    Key("error_details.newer", "n", "newer", "Newer", "The error after this one"),
    Key("error_details.copy", "c", "copy", "Copy", "Copy this error's full text, as shown, to the clipboard (OSC 52)"),
)


@dataclass(frozen=True)
class ShownError:
    """One error as the route showed it: `line` is the notification's text, `text` the full one."""

    title: str
    line: str
    text: str
    context: str
    when: datetime


class ErrorHistory:
    """The last `KEEP` errors the route showed, oldest first."""

    def __init__(self, keep: int = KEEP) -> None:
        self._items: deque[ShownError] = deque(maxlen=keep)

    def add(self, item: ShownError) -> None:
        self._items.append(item)

    @property
    def items(self) -> list[ShownError]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


def shown_lines(text: str) -> list[str]:
    """`text` as the view shows it: each line made safe (`content`), trailing blanks dropped."""
    return [content(ln.rstrip(), tabs=4) for ln in text.splitlines()]


def now() -> datetime:
    return datetime.now(UTC)


class ErrorDetailsScreen(OwnFooter, ModalScreen[None]):
    """The full text of the remembered errors, one at a time (newest first), scrollable and copyable."""

    DEFAULT_CSS = """
    ErrorDetailsScreen { background: $background 70%; }
    ErrorDetailsScreen > Vertical { border: round $error; background: $surface; }
    ErrorDetailsScreen #details-title { height: auto; padding: 0 1; text-style: bold; }
    ErrorDetailsScreen #details-line { height: auto; padding: 0 1 1 1; color: $text-muted; }
    ErrorDetailsScreen Log { height: 1fr; background: $surface; }
    """
    BINDINGS = bindings(DETAILS_KEYS)

    def __init__(self, errors: Sequence[ShownError]) -> None:
        super().__init__()
        self.errors = list(errors)
        self.index = len(self.errors) - 1  # the newest

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="details-title")
            yield Static(id="details-line")
            yield Log(id="details-text", highlight=False, auto_scroll=False)

    def on_mount(self) -> None:
        self.show()
        self.query_one(Log).focus()

    @property
    def current(self) -> ShownError | None:
        return self.errors[self.index] if self.errors else None

    def show(self) -> None:
        title = self.query_one("#details-title", Static)
        line = self.query_one("#details-line", Static)
        log = self.query_one(Log)
        log.clear()
        error = self.current
        if error is None:
            title.update(Text("No errors"))
            line.update(Text("Nothing has gone wrong since sandbench started."))
            return
        place = f"{self.index + 1} of {len(self.errors)}"
        head = Text(safe_text(error.title), style="bold")
        head.append(f"  {error.when:%H:%M:%S}  {place}", style="dim")
        title.update(head)
        line.update(Text(error.line))
        # literal text: content() escapes controls, and Log never parses markup; trailing blanks (git pads its
        # "remote:" lines to wipe progress) are dropped so a line ends where its words do
        log.write_lines(shown_lines(error.text))
        log.scroll_home(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_older(self) -> None:
        if self.index > 0:
            self.index -= 1
            self.show()

    def action_newer(self) -> None:
        if self.index < len(self.errors) - 1:
            self.index += 1
            self.show()

    def action_copy(self) -> None:
        error = self.current
        if error is not None:
            # what the view shows, not the raw bytes: a hook's ESC sequences must not ride the clipboard into a
            # terminal the text is pasted in
            self.app.copy_to_clipboard("\n".join(shown_lines(error.text)))
            self.query_one("#details-line", Static).update(Text(f"{error.line}  (copied)"))

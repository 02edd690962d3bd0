"""The doctor's findings in the app: a scrollable modal of plain text (never markup), the same lines as
`sandbench doctor` prints. Opened from the sandbox list (`D`, or "Doctor" in the command palette)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from services.doctor import fit
from services.text import safe_text
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings


class DoctorText(Static):
    """The findings, wrapped at the width they get between words and after a path's `/` (`services.doctor.fit`):
    Rich would fold a long data folder path mid-name."""

    def __init__(self, lines: list[str], *, id: str | None = None) -> None:
        super().__init__(Text("\n".join(lines)), id=id)
        self._lines = lines
        self._width = 0

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width
        if width > 0 and width != self._width:
            self._width = width
            self.update(Text("\n".join(fit(self._lines, width)), no_wrap=True, overflow="ellipsis"))


class DoctorScreen(OwnFooter, ModalScreen[None]):
    DEFAULT_CSS = """
    DoctorScreen { align: center middle; background: $background 60%; }
    DoctorScreen > VerticalScroll {
        width: 110; max-width: 96%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    DoctorScreen .doctor-title { text-style: bold; color: $accent; padding-bottom: 1; }
    """
    BINDINGS = bindings((Key("doctor.close", "escape,q,D", "close", "Close", "Close the doctor's findings"),))

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__(id="doctor")
        self.lines = list(lines)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="doctor-scroll"):
            yield Static(Text("sandbench doctor — this machine, for new local sandboxes"), classes="doctor-title")
            # paths and program output may hold anything: shown as text, escapes made visible
            yield DoctorText([safe_text(line) for line in self.lines], id="doctor-text")

    def on_mount(self) -> None:
        self.query_one("#doctor-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

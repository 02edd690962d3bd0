"""The help screen: every key, written for people (issue 11 §4), read from the one registry of actions.

Grouped by the names people know (Explorer, Editor, Terminal, Terminal tabs, Git, Workspace, App, and the git
dialogs, the fuzzy finder and dialogs after them), the focused pane's group first. Keys are the effective ones,
after the config's `[keymap]`, written as people write them (`ctrl+PgUp`, `shift+F6`, `Esc`). Only our own
actions are listed: Textual's internal bindings have no id and never show. No key appears twice in one group,
and no two actions that can both be reached from one place share a key (tests/tui/test_key_clashes.py).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from services.text import safe_text
from tui.registry import Entry, help_groups, pane_of
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings

collect_groups = help_groups  # the app's name for it

INTRO = "Keys of the focused pane first. Any key can be changed in the config file's [keymap] by its id."


class HelpScreen(OwnFooter, ModalScreen[None]):
    HOLDS_TOASTS = True  # no toast over the help while it is open (widgets/toast_hold.py)
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > VerticalScroll {
        width: 110; max-width: 96%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen .help-intro { color: $text-muted; }
    HelpScreen .help-title { text-style: bold; color: $accent; padding-top: 1; }
    """
    BINDINGS = bindings(
        (
            Key(
                "help.close",
                "escape,question_mark,q",
                "close",
                "Close",
                "Close the help (f1 too: the app's help key toggles it)",
            ),
        )
    )

    def __init__(self, groups: list[tuple[str, list[Entry]]]) -> None:
        super().__init__(id="help")
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(INTRO), classes="help-intro")
            below = self.app.screen_stack[-2].focused if len(self.app.screen_stack) > 1 else None
            focused = pane_of(below) if below is not None else None
            for index, (title, entries) in enumerate(self.groups):
                here = index == 0 and focused is not None and title.lower() == focused
                yield Static(Text(title + (" (focused)" if here else "")), classes="help-title")
                table = Table.grid(padding=(0, 2))
                table.add_column(min_width=16, style="bold")
                table.add_column(min_width=20)
                table.add_column(style="dim")
                for entry in entries:
                    table.add_row(
                        Text(entry.keys_label),
                        Text(safe_text(entry.key.description)),
                        Text(safe_text(entry.key.tooltip)),
                    )
                yield Static(table, classes="help-group")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

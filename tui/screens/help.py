"""The help screen: every key, generated from the live bindings (so it cannot drift from them), grouped by pane.

The focused pane's group comes first. Keys shown are the effective ones, after the config's `[keymap]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from widgets.sandbox_table import safe_text


def node_bindings(node: DOMNode, keymap: dict[str, str]) -> list[Binding]:
    """The bindings a node defines itself, with the key map applied."""
    bindings_map = node._bindings.copy()
    if keymap:
        bindings_map.apply_keymap(keymap)
    seen: set[tuple[str, str]] = set()
    out = []
    for key, binding in bindings_map:
        if (key, binding.action) in seen:
            continue
        seen.add((key, binding.action))
        out.append(binding)
    return out


def group_bindings(nodes: Iterable[DOMNode], keymap: dict[str, str]) -> list[tuple[str, Binding]]:
    """Bindings of several nodes (a pane and its descendants), one row per action with all of its keys."""
    rows: dict[tuple[str, str], list[str]] = {}
    first: dict[tuple[str, str], Binding] = {}
    for node in nodes:
        for binding in node_bindings(node, keymap):
            if not binding.description and not binding.tooltip:
                continue
            ident = (binding.action, binding.description)
            rows.setdefault(ident, [])
            if binding.key not in rows[ident]:
                rows[ident].append(binding.key)
            first.setdefault(ident, binding)
    return [(",".join(keys), first[ident]) for ident, keys in rows.items()]


def collect_groups(screen: Screen[Any]) -> list[tuple[str, list[tuple[str, Binding]]]]:
    """(title, [(keys, binding)]) per group: the focused pane first, then the other panes, the screen, the app."""
    app = screen.app
    keymap = dict(app._keymap)
    groups: list[tuple[str, list[tuple[str, Binding]]]] = []
    panes: Sequence[tuple[str, DOMNode]] = []
    pane_of = getattr(screen, "focused_pane", None)
    if hasattr(screen, "frame"):
        from tui.screens.workspace import PANES, TITLES

        ordered = list(PANES)
        if pane_of in ordered:
            ordered.remove(pane_of)
            ordered.insert(0, pane_of)
        panes = [(TITLES[p] + (" (focused)" if p == pane_of else ""), screen.frame(p)) for p in ordered]
    elif screen.focused is not None:
        panes = [(type(screen.focused).__name__ + " (focused)", screen.focused)]
    for title, frame in panes:
        nodes = [frame, *frame.query("*")]
        rows = group_bindings(nodes, keymap)
        if rows:
            groups.append((title, rows))
    screen_title = getattr(screen, "HELP_TITLE", None) or type(screen).__name__.removesuffix("Screen")
    groups.append((screen_title, group_bindings([screen], keymap)))
    groups.append(("App", group_bindings([app], keymap)))
    return [(t, r) for t, r in groups if r]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 96%; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen .help-title { text-style: bold; color: $accent; padding-top: 1; }
    """
    BINDINGS = [
        Binding("escape,f1,question_mark,q", "close", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, groups: list[tuple[str, list[tuple[str, Binding]]]]) -> None:
        super().__init__(id="help")
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            for title, rows in self.groups:
                yield Static(Text(title), classes="help-title")
                table = Table.grid(padding=(0, 2))
                table.add_column(min_width=14, style="bold")
                table.add_column(min_width=18)
                table.add_column(style="dim")
                for keys, binding in rows:
                    shown = ", ".join(self.app.get_key_display(Binding(k, "")) for k in keys.split(","))
                    table.add_row(Text(shown), Text(safe_text(binding.description)), Text(safe_text(binding.tooltip)))
                yield Static(table, classes="help-group")

    def action_close(self) -> None:
        self.dismiss(None)

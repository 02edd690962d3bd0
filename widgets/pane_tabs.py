"""`PaneTabs`: one row naming the workspace's panes as tabs, with the key that shows each (the tabbed layout).

In the tabbed layout (small windows, or chosen with the layout key) each pane takes the whole body and this row
says which one is shown and how to reach the others. It is a view: the screen sets `active` and the labels, and a
click posts `Selected(pane)`; it never takes focus, so it never holds a key.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget


class PaneTabs(Widget, can_focus=False):
    DEFAULT_CSS = """
    PaneTabs { height: 1; width: 1fr; background: $panel; color: $text-muted; }
    """

    active: reactive[str] = reactive("")
    hint: reactive[str] = reactive("")  # right-aligned: the keys that move between tabs and change the layout

    class Selected(Message):
        def __init__(self, pane: str) -> None:
            super().__init__()
            self.pane = pane

    def __init__(self, tabs: list[tuple[str, str, str]], *, id: str | None = None) -> None:
        """`tabs`: (pane, title, key) per tab, in order; the key is shown before the title (`alt+1 Explorer`)."""
        super().__init__(id=id)
        self._tabs = tabs
        self._spans: list[tuple[int, int, str]] = []

    def set_tabs(self, tabs: list[tuple[str, str, str]]) -> None:
        self._tabs = tabs
        self.refresh()

    def _labels(self, width: int) -> list[tuple[str, str]]:
        """(pane, label) per tab; the keys are left out when they would not all fit."""
        full = [(pane, f" {key} {title} " if key else f" {title} ") for pane, title, key in self._tabs]
        if sum(len(label) + 1 for _, label in full) + len(self.hint) <= width:
            return full
        return [(pane, f" {title} ") for pane, title, _ in self._tabs]

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.size.width
        accent = RichStyle(bold=True, reverse=True)
        segs: list[Segment] = []
        self._spans = []
        x = 0
        for pane, label in self._labels(width):
            style = base + accent if pane == self.active else base
            segs.append(Segment(label, style))
            self._spans.append((x, x + len(label), pane))
            x += len(label)
            segs.append(Segment(" ", base))
            x += 1
        hint = self.hint
        if hint and x + len(hint) <= width:
            segs.append(Segment(" " * (width - x - len(hint)), base))
            segs.append(Segment(hint, base + RichStyle(dim=True)))
        return Strip(segs).adjust_cell_length(width, base)

    def on_click(self, event: events.Click) -> None:
        for start, end, pane in self._spans:
            if start <= event.x < end:
                self.post_message(self.Selected(pane))
                return

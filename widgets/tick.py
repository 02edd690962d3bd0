"""`Tick`: a checkbox that reads as what it is, `[x]` checked and `[ ]` unchecked (issue 11 §6).

Textual's `Checkbox` draws `▐X▌` in both states and tells them apart by colour only, so an unchecked box reads
as checked in a monochrome terminal, a screenshot or a screen reader's text. The mark is the state here; the
colour (success when on) only repeats it.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class Tick(Checkbox):
    DEFAULT_CSS = """
    Tick > .toggle--button { color: $text-muted; background: transparent; }
    Tick.-on > .toggle--button { color: $text-success; background: transparent; text-style: bold; }
    """

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble(("[", style), ("x" if self.value else " ", style), ("]", style))

"""Keeping a cursor row on screen in a hand-drawn list (`ScrollView` with one line per row): the one rule the
explorer and the search results share, so both scroll the same way."""

from __future__ import annotations

from textual.scroll_view import ScrollView


def scroll_row_into_view(view: ScrollView, row: int) -> None:
    """Scroll the least that puts `row` on screen: up to make it the top line, down to make it the bottom one."""
    height = view.scrollable_content_region.height or view.size.height
    top = int(view.scroll_y)
    if row < top:
        view.scroll_to(y=row, animate=False, immediate=True)
    elif height and row >= top + height:
        view.scroll_to(y=row - height + 1, animate=False, immediate=True)

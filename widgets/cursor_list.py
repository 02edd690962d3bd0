"""`CursorList`: the one base of the hand-drawn lists with a row cursor (the explorer, the git status list, the
search results): a `ScrollView` drawn one line per row through the line API, so 10,000 rows cost what a screenful
costs, with one cursor that moves, clamps and scrolls the same way in each.

A subclass says how many rows there are (`row_count`) and which can hold the cursor (`selectable`: the git list's
section headers cannot), draws its rows (`render_line`), and hears each move (`cursor_moved`). The base gives the
moves — `move_cursor(index)`, `move_cursor_by(delta)` over the selectable rows — and the six actions the lists'
key tables name: `cursor_up`, `cursor_down`, `page_up`, `page_down`, `first`, `last`.

Why not `OptionList`: it builds a renderable per option and measures each; the explorer opens a 10,000-entry folder
in one `list_dir` and one pass (bench/explorer.py), which a per-option widget cannot.
"""

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


class CursorList(ScrollView):
    """A line-API list with a row cursor. `cursor` is a row index (-1 in a list with rows but none selectable)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.cursor = 0

    # -- what a subclass says -------------------------------------------------------------------------------------
    def row_count(self) -> int:
        raise NotImplementedError

    def selectable(self, index: int) -> bool:
        """Whether row `index` can hold the cursor (every row, unless a subclass says otherwise)."""
        return True

    def cursor_moved(self, old: int, new: int) -> None:
        """The cursor went from row `old` to row `new` (called on every move, even onto the same row)."""
        self.refresh()

    @property
    def page_rows(self) -> int:
        """How far page up/down move: a screenful less one row, so one row stays in view."""
        return max(1, (self.scrollable_content_region.height or self.size.height) - 1)

    # -- moves ----------------------------------------------------------------------------------------------------
    def _all_selectable(self) -> bool:
        return type(self).selectable is CursorList.selectable

    def nearest_selectable(self, index: int) -> int:
        """The selectable row at `index` (clamped into the list), else the next one down, else the next one up;
        0 in an empty list, -1 when no row is selectable."""
        n = self.row_count()
        if n == 0:
            return 0
        index = max(0, min(index, n - 1))
        if self._all_selectable() or self.selectable(index):
            return index
        for i in range(index + 1, n):
            if self.selectable(i):
                return i
        for i in range(index - 1, -1, -1):
            if self.selectable(i):
                return i
        return -1

    def move_cursor(self, index: int) -> None:
        """Put the cursor on row `index` (clamped; onto the nearest selectable row) and scroll it into view."""
        old = self.cursor
        self.cursor = self.nearest_selectable(index)
        if self.cursor >= 0:
            scroll_row_into_view(self, self.cursor)
        self.cursor_moved(old, self.cursor)

    def move_cursor_by(self, delta: int) -> None:
        """Move `delta` selectable rows down (up when negative), stopping at either end."""
        if self._all_selectable():
            self.move_cursor(self.cursor + delta)
            return
        rows = [i for i in range(self.row_count()) if self.selectable(i)]
        if not rows:
            return
        pos = rows.index(self.cursor) if self.cursor in rows else 0
        self.move_cursor(rows[max(0, min(len(rows) - 1, pos + delta))])

    # -- the actions the key tables name --------------------------------------------------------------------------
    def action_cursor_up(self) -> None:
        self.move_cursor_by(-1)

    def action_cursor_down(self) -> None:
        self.move_cursor_by(1)

    def action_page_up(self) -> None:
        self.move_cursor_by(-self.page_rows)

    def action_page_down(self) -> None:
        self.move_cursor_by(self.page_rows)

    def action_first(self) -> None:
        self.move_cursor_by(-self.row_count())

    def action_last(self) -> None:
        self.move_cursor_by(self.row_count())

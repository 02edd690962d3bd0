"""A hand-drawn list of rows with a cursor, on Textual's line API (`ScrollView.render_line`): the base of the
Changes view's file tree and the checkpoint tree. Only visible rows are rendered, each once (cached), so a tree of
thousands of changed files costs nothing until seen.

A subclass gives each row its text (`row_text`, a `rich.text.Text` built from plain strings: sandbox text is never
markup) and a key that survives a refresh (`row_key`), so replacing the rows keeps the cursor on the same thing.
The cursor and its moves are `CursorList`'s (widgets/cursor_list.py), driven by the six actions the subclass's key
table names; `Highlighted` says where it rests. The drawing itself (cached rows, the cursor's style, redrawing the
cursor's row on focus and blur) is `CachedRowList`, which the git status list builds on too.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from widgets.cursor_list import CursorList

R = TypeVar("R")

CURSOR_BLUR = Style(bgcolor="grey23")


class CachedRowList(CursorList):
    """A `CursorList` whose rows are rendered once each (cached by index) and drawn with the cursor's style on top:
    reversed while the list has the focus, grey without it. The base of `RowTree` and of the git status list
    (widgets/git/status_list.py). A subclass says how many rows (`row_count`) and each one's text (`text_at`), and
    clears `_cache` when the rows change."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._cache: dict[int, Strip] = {}

    def text_at(self, index: int) -> Text:
        raise NotImplementedError

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= self.row_count():
            return Strip.blank(width, self.rich_style)
        strip = self._cache.get(index)
        if strip is None:
            strip = Strip(list(self.text_at(index).render(self.app.console)))
            self._cache[index] = strip
        style = self.rich_style
        if index == self.cursor:
            cursor = Style(reverse=True) if self.has_focus else CURSOR_BLUR
            strip = strip.apply_style(cursor)
            style = style + cursor
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def on_focus(self) -> None:
        self._cache.pop(self.cursor, None)
        self.refresh()

    def on_blur(self) -> None:
        self._cache.pop(self.cursor, None)
        self.refresh()


class RowTree(CachedRowList, Generic[R], can_focus=True):
    DEFAULT_CSS = """
    RowTree { height: 1fr; background: $surface; }
    RowTree:focus { background-tint: $foreground 3%; }
    """

    class Highlighted(Message):
        """The cursor rests on `row` (None: the list is empty) — after a move, or after the rows were replaced."""

        def __init__(self, tree: RowTree[object], row: object | None) -> None:
            super().__init__()
            self.tree = tree
            self.row = row

        @property
        def control(self) -> RowTree[object]:
            return self.tree

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[R] = []

    # -- what a subclass says ----------------------------------------------------------------------------------
    def row_text(self, row: R) -> Text:
        raise NotImplementedError

    def row_key(self, row: R) -> Hashable:
        raise NotImplementedError

    def row_width(self, row: R) -> int:
        """Cells the row takes (for the horizontal scroll); a subclass may say it without building the text."""
        return self.row_text(row).cell_len

    def row_count(self) -> int:
        return len(self.rows)

    def cursor_moved(self, old: int, new: int) -> None:
        for i in (old, new):
            self._cache.pop(i, None)  # the cached strips carry no cursor style, but a subclass's text may
        self.refresh()
        self.post_message(self.Highlighted(self, self.selected))  # type: ignore[arg-type]

    # -- data --------------------------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[R]) -> None:
        """Replace the rows, keeping the cursor on the same row (by `row_key`) or the same place."""
        old = self.selected
        old_key = self.row_key(old) if old is not None else None
        self.rows = list(rows)
        self._cache.clear()
        self.virtual_size = Size(max((self.row_width(r) for r in self.rows), default=0) + 1, len(self.rows))
        index = None
        if old_key is not None:
            index = next((i for i, r in enumerate(self.rows) if self.row_key(r) == old_key), None)
        self.keep_cursor(index)

    def refresh_rows(self) -> None:
        """The rows' text changed (a mark), not the rows."""
        self._cache.clear()
        self.refresh()

    @property
    def selected(self) -> R | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def select_key(self, key: Hashable) -> bool:
        for i, r in enumerate(self.rows):
            if self.row_key(r) == key:
                self.move_cursor(i)
                return True
        return False

    # -- rendering ---------------------------------------------------------------------------------------------
    def text_at(self, index: int) -> Text:
        return self.row_text(self.rows[index])

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if isinstance(y, int) and 0 <= self.scroll_offset.y + y < len(self.rows):
            self.move_cursor(self.scroll_offset.y + y)

"""widgets/cursor_list.py: the one cursor-list base — keys move the cursor the same way in every list, skip rows
that cannot hold it, stop at the ends, and keep the cursor on screen. Driven through a real app with Pilot."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Size
from textual.strip import Strip

from widgets.cursor_list import CursorList
from widgets.explorer import Explorer
from widgets.git.status_list import StatusList
from widgets.keys import Key, bindings
from widgets.search_results import SearchResults


class Numbers(CursorList, can_focus=True):
    """1,000 rows; every tenth a title that cannot hold the cursor."""

    BINDINGS = bindings(
        (
            Key("t.down", "down", "cursor_down", "Down", show=False),
            Key("t.up", "up", "cursor_up", "Up", show=False),
            Key("t.page_down", "pagedown", "page_down", "Page down", show=False),
            Key("t.page_up", "pageup", "page_up", "Page up", show=False),
            Key("t.first", "home", "first", "First", show=False),
            Key("t.last", "end", "last", "Last", show=False),
        )
    )

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[int, int]] = []

    def on_mount(self) -> None:
        self.virtual_size = Size(10, 1000)
        self.move_cursor(0)

    def row_count(self) -> int:
        return 1000

    def selectable(self, index: int) -> bool:
        return index % 10 != 0

    def cursor_moved(self, old: int, new: int) -> None:
        self.moves.append((old, new))
        super().cursor_moved(old, new)

    def render_line(self, y: int) -> Strip:
        return Strip.blank(self.size.width)


class NumbersApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Numbers()


async def test_keys_move_over_selectable_rows_and_keep_the_cursor_on_screen() -> None:
    app = NumbersApp()
    async with app.run_test(size=(40, 12)) as pilot:
        lst = app.query_one(Numbers)
        lst.focus()
        await pilot.pause()
        assert lst.cursor == 1  # row 0 is a title: the nearest row below takes the cursor
        await pilot.press("up")
        assert lst.cursor == 1  # stops at the top
        await pilot.press(*["down"] * 9)
        assert lst.cursor == 11  # row 10 skipped
        await pilot.press("end")
        assert lst.cursor == 999
        assert lst.scroll_y <= 999 < lst.scroll_y + lst.scrollable_content_region.height
        await pilot.press("pageup")
        # a page is a screenful less one row, counted in selectable rows
        steps = lst.page_rows
        assert lst.cursor == [i for i in range(1000) if i % 10][-1 - steps]
        assert lst.scroll_y <= lst.cursor < lst.scroll_y + lst.scrollable_content_region.height
        await pilot.press("home")
        assert lst.cursor == 1 and lst.scroll_y <= 1  # the least scroll that shows row 1
        assert lst.moves[-1] == (lst.moves[-2][1], 1)


def test_the_lists_share_the_base() -> None:
    for cls in (Explorer, StatusList, SearchResults):
        assert issubclass(cls, CursorList), cls
        # the moves are the base's, not hand-built again
        for name in ("move_cursor", "move_cursor_by", "action_cursor_down", "action_page_down", "action_last"):
            assert getattr(cls, name) is getattr(CursorList, name), (cls, name)

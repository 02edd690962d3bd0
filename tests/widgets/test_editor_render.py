"""CodeEditor's row cache and targeted repaints: rows look exactly as TextArea's own renderer draws them, an edit
or a cursor move repaints only the rows it touches, an unchanged row is reused, a theme change invalidates."""

from __future__ import annotations

from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from widgets.editor import CodeEditor
from widgets.editor.highlight import lexer_by_name

SOURCE = (
    "def f(x):\n"
    "    return (x + 1)  # one\n"
    "\n"
    "\tif x:  # a tab\n"
    "s = 'héllo wörld ✓'\n"
    "class C:\n"
    "    pass\n"
    "y = [1, 2, 3]\n" + "".join(f"line_{i} = {i}\n" for i in range(30))
)
SIZE = (60, 12)


class RenderApp(App[None]):
    def __init__(self, text: str = SOURCE) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield CodeEditor(self.text, lexer=lexer_by_name("python"))


def cells(strip: Strip) -> list[tuple[str, Style | None]]:
    """A strip cell by cell (segment boundaries are not part of what is shown)."""
    return [(char, seg.style) for seg in strip for char in seg.text]


def assert_rows_match_textarea(editor: CodeEditor) -> None:
    """Every row on screen equals what TextArea._render_line (Textual's renderer, uncached) draws."""
    for y in range(editor.size.height):
        assert cells(editor.render_line(y)) == cells(TextArea._render_line(editor, y)), f"row {y}"


def repainted_rows(editor: CodeEditor) -> set[int] | None:
    """Widget rows waiting to be repainted (None: the whole widget)."""
    regions = editor._repaint_regions
    if any(r == Region(0, 0, *editor.outer_size) for r in regions):
        return None
    return {y for r in regions for y in range(r.y, r.y + r.height)}


async def start(pilot, editor: CodeEditor) -> None:  # type: ignore[no-untyped-def]
    editor.focus()
    await pilot.pause()
    while editor.highlighter.pending:
        await pilot.pause(0.01)
    await pilot.pause()


async def test_rows_match_textarea_rendering_in_every_state() -> None:
    app = RenderApp()
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(CodeEditor)
        await start(pilot, editor)
        assert_rows_match_textarea(editor)
        # cursor on a bracket: the partner is highlighted on its row too
        editor.selection = Selection.cursor((1, 11))
        await pilot.pause()
        assert editor.matching_bracket_location == (1, 17)
        assert_rows_match_textarea(editor)
        # a selection over several lines, including an empty one, and one within a line
        editor.selection = Selection((1, 6), (4, 3))
        await pilot.pause()
        assert_rows_match_textarea(editor)
        editor.selection = Selection((4, 6), (4, 2))
        await pilot.pause()
        assert_rows_match_textarea(editor)
        # scrolled sideways and down
        editor.selection = Selection.cursor((4, 0))
        editor.scroll_to(3, 2, animate=False)
        await pilot.pause()
        assert_rows_match_textarea(editor)
        # soft wrap, with a line longer than the screen
        editor.scroll_to(0, 0, animate=False)
        editor.insert("z" * 80, (6, 8))
        editor.soft_wrap = True
        await pilot.pause()
        assert editor.wrapped_document.height > editor.document.line_count
        assert_rows_match_textarea(editor)
        # read-only, unfocused
        editor.read_only = True
        editor.blur()
        await pilot.pause()
        assert_rows_match_textarea(editor)


async def test_edit_rerenders_only_the_edited_row() -> None:
    app = RenderApp()
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(CodeEditor)
        await start(pilot, editor)
        editor.selection = Selection.cursor((0, 0))
        await pilot.pause()
        before = [editor.render_line(y) for y in range(editor.size.height)]
        rendered = editor.rows_rendered
        editor.insert("zz", (5, 0))  # same number of lines
        assert repainted_rows(editor) is not None
        assert 5 in repainted_rows(editor)  # type: ignore[operator]
        assert repainted_rows(editor) <= {0, 5}  # type: ignore[operator]  # (and the cursor's row)
        await pilot.pause()
        after = [editor.render_line(y) for y in range(editor.size.height)]
        assert editor.rows_rendered - rendered == 1
        assert after[5] is not before[5] and "zzclass" in after[5].text
        assert all(after[y] is before[y] for y in range(editor.size.height) if y != 5)
        assert_rows_match_textarea(editor)


async def test_inserting_a_line_repaints_the_rows_below() -> None:
    app = RenderApp()
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(CodeEditor)
        await start(pilot, editor)
        editor.selection = Selection.cursor((0, 0))
        await pilot.pause()
        editor.insert("new = 1\n", (5, 0))
        assert repainted_rows(editor) is not None
        assert set(range(5, editor.size.height)) <= repainted_rows(editor)  # type: ignore[operator]
        assert not {1, 2, 3, 4} & repainted_rows(editor)  # type: ignore[operator]
        await pilot.pause()
        assert "new = 1" in editor.render_line(5).text and "class C" in editor.render_line(6).text
        assert_rows_match_textarea(editor)


async def test_cursor_move_repaints_old_and_new_rows() -> None:
    app = RenderApp()
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(CodeEditor)
        await start(pilot, editor)
        editor.selection = Selection.cursor((2, 0))
        await pilot.pause()
        untouched = editor.render_line(7)
        editor.selection = Selection.cursor((6, 2))
        assert repainted_rows(editor) == {2, 6}
        await pilot.pause()
        assert editor.render_line(7) is untouched
        assert_rows_match_textarea(editor)  # the cursor (and the cursor line) left row 2 and is on row 6
        # a selection shrinking back to a cursor repaints every row it covered
        editor.selection = Selection((1, 0), (4, 1))
        await pilot.pause()
        editor.selection = Selection.cursor((4, 1))
        assert {1, 2, 3, 4} <= repainted_rows(editor)  # type: ignore[operator]
        await pilot.pause()
        assert_rows_match_textarea(editor)


async def test_typing_a_key_does_not_repaint_the_whole_editor() -> None:
    app = RenderApp()
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(CodeEditor)
        await start(pilot, editor)
        editor.selection = Selection.cursor((5, 0))
        await pilot.pause()
        rendered = editor.rows_rendered
        await pilot.press("x")
        assert editor.document[5] == "xclass C:"
        assert editor.rows_rendered - rendered == 1
        assert_rows_match_textarea(editor)


async def test_theme_change_invalidates_cached_rows() -> None:
    app = RenderApp()
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(CodeEditor)
        await start(pilot, editor)
        before = editor.render_line(0)
        editor.set_theme("monokai")
        await pilot.pause()
        after = editor.render_line(0)
        assert after is not before and cells(after) != cells(before)
        assert_rows_match_textarea(editor)
        # and the app's theme (CSS) changing too
        app.theme = "textual-light"
        await pilot.pause()
        assert_rows_match_textarea(editor)


async def test_widening_the_widest_line_updates_scrollbars_without_a_layout() -> None:
    app = RenderApp("a" * 200 + "\nb\n")
    async with app.run_test(size=SIZE) as pilot:
        editor = app.query_one(CodeEditor)
        await start(pilot, editor)
        assert editor.show_horizontal_scrollbar
        width = editor.virtual_size.width
        editor.insert("a", (0, 200))
        assert editor.virtual_size.width == width + 1
        assert editor.horizontal_scrollbar.window_virtual_size == width + 1
        assert not editor._layout_required
        await pilot.pause()
        # a change that shows a scrollbar still goes through a layout
        app2_editor = editor
        app2_editor.load_text("short\n")
        await pilot.pause()
        assert not app2_editor.show_horizontal_scrollbar
        app2_editor.insert("w" * 100, (0, 0))
        await pilot.pause()
        assert app2_editor.show_horizontal_scrollbar
        assert_rows_match_textarea(app2_editor)

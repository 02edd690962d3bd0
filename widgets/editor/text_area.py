"""`CodeEditor`: Textual's `TextArea` with Pygments highlighting and without its document-sized per-edit costs.

What it changes, and why (shared/performance.md, "Editor", Textual 8.2.8):
1. `WrappedDocument.height` summed over all lines per painted row → `FastWrappedDocument.height` is O(1).
2. `render_line` joined the whole document (`self.text`) per painted row for the placeholder check → it asks
   the document whether it is empty instead (the rest of `render_line` is Textual's, unchanged).
3. `_refresh_size` measured every line after each edit → `FastDocument.get_size` keeps widths per line and the
   maximum, updated per edit.
4. `_build_highlight_map` rebuilt the highlight map over the whole document after each edit → the map is a view
   onto `Highlighter.spans`, re-lexed from the edited line until the lexer state converges; the visible window
   synchronously (bounded), the rest in slices on a background worker.
Also bounded: the matching-bracket search (stock scans to the end of the document when a bracket has no match).

Highlighting uses TextArea's own mechanism: `_highlights[line]` holds `(start_byte, end_byte, name)` tuples whose
names ("keyword", "string", ...) are looked up in the TextArea theme, so Textual's TextArea themes colour it.

The per-row render cache (what `render_line` paints, and how little it re-renders) is `CachedRows`
(widgets/editor/rendering.py); this module keeps the document, highlighting, typing and repaint invalidation.

Sandbox text is shown as plain text: `get_line` builds a `rich.text.Text` (never markup) and replaces control
characters with visible symbols, so nothing in a file can reach the terminal as an escape sequence.
"""

from __future__ import annotations

import asyncio
import time

from pygments.lexer import Lexer
from textual import events
from textual.geometry import Size
from textual.reactive import Reactive, reactive
from textual.widget import Widget
from textual.widgets import TextArea
from textual.widgets.text_area import DocumentNavigator, Location, Selection

from widgets.editor.document import FastDocument, FastWrappedDocument
from widgets.editor.highlight import Highlight, Highlighter
from widgets.editor.indent import CLOSE_TO_OPEN, newline, opener_indent, openers_for
from widgets.editor.keys import EDITOR_KEYS
from widgets.editor.rendering import CachedRow, CachedRows, Frame
from widgets.keys import bindings
from widgets.messages import ReportWorkerErrors, tell

SYNC_BUDGET = 0.004  # seconds of re-lexing allowed inside a keystroke, beyond the visible window
SYNC_LIMIT = 0.012  # seconds of re-lexing a keystroke may ever wait for
SLICE = 0.004  # seconds per background lexing slice between frames
FIRST_SCREEN_LINES = 120  # lines lexed synchronously on load before the widget knows its height
MAX_BRACKET_SCAN = 100_000  # characters searched for a matching bracket


_OPENING = {"{": "}", "[": "]", "(": ")"}
_CLOSING = {v: k for k, v in _OPENING.items()}


class LineHighlights(dict[int, list[Highlight]]):
    """TextArea's highlight map (`_highlights`), as a view onto the highlighter's per-line spans: O(1) per line,
    nothing to rebuild after an edit."""

    def __init__(self, highlighter: Highlighter) -> None:
        super().__init__()
        self._hl = highlighter

    def __bool__(self) -> bool:
        return self._hl.active

    def __getitem__(self, line_index: int) -> list[Highlight]:
        spans = self._hl.spans
        if 0 <= line_index < len(spans):
            # a tuple (only ever iterated by TextArea): no copy per painted row
            return spans[line_index] or ()  # type: ignore[return-value]
        return []

    def __contains__(self, line_index: object) -> bool:
        return isinstance(line_index, int) and 0 <= line_index < len(self._hl.spans)


class CodeEditor(ReportWorkerErrors, CachedRows, TextArea, inherit_bindings=False):
    """A code editor: Pygments highlighting (`lexer`), line numbers, per-file indentation, fast edits."""

    # every key of TextArea's, with ids, and select line on ctrl+l instead of f6 (widgets/editor/keys.py)
    BINDINGS = bindings(EDITOR_KEYS)

    DEFAULT_CSS = """
    CodeEditor { border: none; padding: 0; }
    CodeEditor:focus { border: none; }
    """

    # TextArea's, without `repaint`: a cursor move repainted every row; `_watch_selection` repaints the rows
    # that change instead.
    selection: Reactive[Selection] = reactive(Selection(), init=False, always_update=True, repaint=False)

    def __init__(
        self,
        text: str = "",
        *,
        lexer: Lexer | None = None,
        read_only: bool = False,
        soft_wrap: bool = False,
        indent_type: str = "spaces",
        indent_width: int = 4,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        # _set_document (called by TextArea.__init__) needs these
        self._lexer = lexer
        self._openers = openers_for(lexer)
        self._lex_running = False
        self.highlighter = Highlighter([""], None)
        self._auto_theme = True
        self._rows: dict[int, CachedRow] = {}  # absolute wrapped row → its cached rendering (rendering.py)
        self._frame: Frame | None = None
        self._dirty_lines: list[tuple[int, int | None]] = []  # edited line ranges not repainted yet
        self._known_gutter = -1
        self._known_height = -1
        self.rows_rendered = 0  # rows styled from scratch (statistics, for tests)
        # TextArea.__init__ builds a stock document and wraps it, and its `language` watcher rebuilds it: give it
        # an empty text and load ours once, below.
        super().__init__(
            "",
            language=None,
            soft_wrap=soft_wrap,
            read_only=read_only,
            show_line_numbers=True,
            tab_behavior="indent",
            id=id,
            classes=classes,
        )
        self.indent_type = "tabs" if indent_type == "tabs" else "spaces"
        self.set_reactive(TextArea.indent_width, max(1, indent_width))
        if text:
            self._set_document(text, None)

    # -- read-only views: undo and redo are not offered, and the keys say why nothing happened -------------------
    shown_name = "this view"  # what the editor names itself in a message (the file's path, set by its tab)

    def hides_in_footer(self, action: str) -> bool:
        """Undo and Redo are not offered on a read-only view (binary, too large, undecodable, a diff), yet the keys
        there still say why nothing happened (widgets/footer.py asks this)."""
        return action in ("undo", "redo") and self.read_only

    def action_undo(self) -> None:
        if self.read_only:
            tell(self, f"{self.shown_name} is open read-only: nothing to undo", severity="warning")
            return
        super().action_undo()

    def action_redo(self) -> None:
        if self.read_only:
            tell(self, f"{self.shown_name} is open read-only: nothing to redo", severity="warning")
            return
        super().action_redo()

    def _watch_language(self, language: str | None) -> None:
        # tree-sitter languages are not used: highlighting comes from `lexer`
        pass

    # -- documents and highlighting -----------------------------------------------------------------------
    @property
    def lexer(self) -> Lexer | None:
        return self._lexer

    def set_lexer(self, lexer: Lexer | None) -> None:
        """Change the language (re-highlights the whole document in the background)."""
        self._lexer = lexer
        self._openers = openers_for(lexer)
        self._attach_highlighter()

    @property
    def fast_document(self) -> FastDocument:
        assert isinstance(self.document, FastDocument)
        return self.document

    def _set_document(self, text: str, language: str | None) -> None:
        # Replaces TextArea._set_document: no tree-sitter, our document classes, Pygments highlighting.
        self._highlight_query = None
        document = FastDocument(text)
        self.document = document
        # wrapped once, at the width in force (stock wraps at 0, then again)
        self.wrapped_document = FastWrappedDocument(document, self.wrap_width, tab_width=self.indent_width)
        self.navigator = DocumentNavigator(self.wrapped_document)
        self._attach_highlighter()
        self.move_cursor((0, 0))
        self._line_cache.clear()
        self._rows.clear()
        self._dirty_lines.clear()
        self._note_layout()
        self._refresh_size()

    def _attach_highlighter(self) -> None:
        document = self.document
        assert isinstance(document, FastDocument)
        hl = Highlighter(document.lines, self._lexer)
        hl.on_lines_changed = self._lines_relexed
        document.listener = self._document_spliced
        self.highlighter = hl
        self._highlights = LineHighlights(hl)
        # the first screen now, so it is never painted plain; the rest in the background
        _, bottom = self._visible_lines()
        hl.run(until_line=bottom, max_lines=0)
        self._schedule_lexing()
        self.refresh()

    def _visible_lines(self) -> tuple[int, int]:
        """Document line indices of the first and last rows on screen (a first screen before layout)."""
        height = self.size.height or FIRST_SCREEN_LINES
        info = self.wrapped_document._offset_to_line_info
        if not info:
            return 0, 0
        scroll_y = int(self.scroll_offset.y)
        top = info[min(scroll_y, len(info) - 1)][0]
        bottom = info[min(scroll_y + height, len(info) - 1)][0]
        return top, bottom

    def _rewrap_and_refresh_virtual_size(self) -> None:
        # TextArea re-wraps the whole document on every resize and on several watchers. The wrapped document is
        # kept in step with edits by TextArea itself, so wrapping again at the same width and tab width gives
        # the same tables: skip it (it is O(document) per resize).
        wrapped = self.wrapped_document
        if wrapped._width != self.wrap_width or wrapped._tab_width != self.indent_width:
            wrapped.wrap(self.wrap_width, tab_width=self.indent_width)
        self._line_cache.clear()
        self._rows.clear()
        self._note_layout()
        self._refresh_size()

    def _build_highlight_map(self) -> None:
        # Called by TextArea after every edit, undo and redo. The document already told the highlighter which
        # lines changed; re-lex the visible part now (bounded), leave the rest to the background worker.
        # The edited rows are repainted, and the re-lexed ones (`_lines_relexed`): not the whole editor.
        if self.placeholder:
            self._line_cache.clear()  # TextArea's cache, used for the placeholder only
        self._flush_dirty_lines()
        hl = self.highlighter
        if hl.pending:
            _, bottom = self._visible_lines()
            now = time.perf_counter()
            # When the background pass has not reached the visible lines yet, do not catch up inside a keystroke:
            # `hard_deadline` bounds the work whatever is on screen.
            hl.run(until_line=bottom, deadline=now + SYNC_BUDGET, hard_deadline=now + SYNC_LIMIT)
            self._schedule_lexing()

    def _lines_relexed(self, first: int, last: int) -> None:
        # the highlighter committed new spans for these lines: repaint those on screen
        top, bottom = self._visible_lines()
        if first <= bottom and last >= top:
            self._refresh_document_lines(max(first, top), min(last, bottom))

    def _schedule_lexing(self) -> None:
        if self.highlighter.pending and not self._lex_running and self.is_mounted:
            self._lex_running = True
            self.run_worker(self._lex_in_background(), group="lex", exclusive=True, exit_on_error=False)

    async def _lex_in_background(self) -> None:
        """Lex the rest of the document in slices of a few milliseconds, yielding to the event loop between
        slices. On the loop rather than in a thread: a thread would hold the GIL against the UI anyway, and
        slices keep a keystroke's wait under one slice with no races on the live document."""
        try:
            while self.highlighter.pending:
                await asyncio.sleep(0)
                self.highlighter.run(deadline=time.perf_counter() + SLICE)
        finally:
            self._lex_running = False

    def on_mount(self) -> None:
        # (TextArea's own _on_mount runs too: Textual dispatches a handler per class)
        self._app_theme_changed()
        self.call_later(self._schedule_lexing)

    def _app_theme_changed(self) -> None:
        # Follow the app's light/dark theme with a TextArea theme of matching contrast, unless the app set one.
        if self._auto_theme:
            wanted = "css" if self.app.current_theme.dark else "github_light"
            if self.theme != wanted:
                self.theme = wanted
                return
        super()._app_theme_changed()

    def set_theme(self, theme: str) -> None:
        """Use this TextArea theme from now on (stops following the app's light/dark theme)."""
        self._auto_theme = False
        self.theme = theme

    # -- typing: auto-indent, and alt keys that never type ----------------------------------------------------
    @property
    def indent_unit(self) -> str:
        """What one indent level is in this file (Tab and auto-indent insert it)."""
        return "\t" if self.indent_type == "tabs" else " " * self.indent_width

    async def _on_key(self, event: events.Key) -> None:
        # Runs before TextArea._on_key (Textual dispatches per class, subclass first); prevent_default stops
        # TextArea's handler from inserting, without stopping the key from bubbling to the bindings.
        if _has_alt(event.key):
            # ESC-prefixed meta (tmux, and terminals without the kitty protocol) arrives as key "alt+z" *with*
            # character "z", which TextArea would type into the file instead of letting the alt+z binding run.
            event.prevent_default()
            return
        if self.read_only:
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self._restart_blink()
            self._auto_newline()
        elif event.character in CLOSE_TO_OPEN and self._dedent_closer(event.character):
            event.stop()
            event.prevent_default()
            self._restart_blink()

    def _auto_newline(self) -> None:
        """Enter: a new line with the current indent, one level more after an opener (see `indent.newline`)."""
        start, end = sorted(self.selection)
        if start[0] != end[0]:
            self._replace_via_keyboard("", start, end)
            start = end = self.selection.end
        row = start[0]
        edit = newline(self.document[row], start[1], end[1], unit=self.indent_unit, openers=self._openers)
        if self._replace_via_keyboard(edit.text, (row, edit.start), (row, edit.end)) is not None:
            self.move_cursor((row + edit.cursor_row_offset, edit.cursor_column))

    def _dedent_closer(self, closer: str) -> bool:
        """A closing bracket typed as the first non-blank of its line goes to its opener's indent. False when
        it is typed as is."""
        start, end = self.selection
        if start != end or CLOSE_TO_OPEN[closer] not in self._openers:
            return False
        row, column = end
        before = self.document[row][:column]
        if before.strip(" \t"):
            return False
        indent = opener_indent(self.document.lines, row, column, closer)
        if indent is None or indent == before:
            return False
        return self._replace_via_keyboard(indent + closer, (row, 0), (row, column)) is not None

    # -- repainting only what changed -----------------------------------------------------------------------
    def _document_spliced(self, top: int, old_bottom: int, new_bottom: int) -> None:
        """FastDocument's listener: lines top..old_bottom became top..new_bottom."""
        self.highlighter.splice(top, old_bottom, new_bottom)
        # the same number of lines: only those rows; otherwise every row below moved too
        self._dirty_lines.append((top, new_bottom if old_bottom == new_bottom else None))

    def _note_layout(self) -> None:
        """Remember the gutter width and row count the whole editor was last repainted for."""
        self._known_gutter = self.gutter_width
        self._known_height = self.wrapped_document.height

    def _flush_dirty_lines(self) -> None:
        """Repaint the rows of the lines edited since the last call (after the wrapped document caught up)."""
        dirty, self._dirty_lines = self._dirty_lines, []
        height = self.wrapped_document.height
        gutter = self.gutter_width
        if gutter != self._known_gutter or self.placeholder:
            # every row's gutter changed width (or the placeholder may come or go)
            self._known_gutter = gutter
            self._known_height = height
            self.refresh()
            return
        shifted = height != self._known_height  # a soft-wrapped line gained or lost a row: rows below moved
        self._known_height = height
        for first, last in dirty:
            self._refresh_document_lines(first, None if shifted else last)

    def _refresh_document_lines(self, first: int, last: int | None) -> None:
        """Repaint the on-screen rows showing document lines first..last (None: down to the bottom of the screen)."""
        height = self.size.height
        if not height:
            return
        offsets = self.wrapped_document._line_index_to_offsets
        rows = self.wrapped_document.height
        scroll_y = int(self.scroll_offset.y)
        y0 = offsets[first][0] if 0 <= first < len(offsets) else rows
        if last is None:
            y1 = scroll_y + height - 1
        else:
            y1 = offsets[min(last, len(offsets) - 1)][-1] if offsets else 0
        y0 = max(y0, scroll_y)
        y1 = min(y1, scroll_y + height - 1)
        if y1 >= y0:
            self.refresh_lines(y0, y1 - y0 + 1)

    def _refresh_selection(self, selection: Selection, bracket: Location | None) -> None:
        start_row, end_row = selection.start[0], selection.end[0]
        self._refresh_document_lines(min(start_row, end_row), max(start_row, end_row))
        if bracket is not None:
            self._refresh_document_lines(bracket[0], bracket[0])

    def _watch_selection(self, previous_selection: Selection, selection: Selection) -> None:
        # `selection` does not repaint the whole editor here (see its reactive): the rows of the old and the new
        # selection (with the cursor) and of the old and new matching brackets are repainted.
        old_bracket = self._matching_bracket_location
        super()._watch_selection(previous_selection, selection)
        if self.is_mounted:
            self._refresh_selection(previous_selection, old_bracket)
            self._refresh_selection(selection, self._matching_bracket_location)

    def _refresh_size(self) -> None:
        # TextArea sets `virtual_size` after every edit; it is a layout reactive, so each key that makes the
        # widest line wider (or longer documents) re-lays out and repaints the whole screen. The virtual size only
        # matters to the scrollbars here: when they stay as they are, update them without a layout.
        if self.soft_wrap:
            new = Size(0, self.wrapped_document.height)
        else:
            width, height = self.document.get_size(self.indent_width)
            new = Size(width + self.gutter_width + 1, height)
        old = self.virtual_size
        if new != old and self.is_mounted and self._same_scrollbars(old, new):
            self.set_reactive(Widget.virtual_size, new)
            self._scroll_update(new)
            return
        self.virtual_size = new
        self._refresh_scrollbars()

    def _same_scrollbars(self, old: Size, new: Size) -> bool:
        """Would the scrollbars shown stay the same with `new` as the virtual size? (Conservatively: both sizes
        are on the same side of every threshold `Widget._refresh_scrollbars` compares them with.)"""
        styles = self.styles
        if styles.overflow_x != "auto" or styles.overflow_y != "auto":
            return False
        width, height = self.container_size
        if not width or not height:
            return False
        for limit in (width, width - styles.scrollbar_size_vertical):
            if (old.width > limit) != (new.width > limit):
                return False
        for limit in (height, height - styles.scrollbar_size_horizontal):
            if (old.height > limit) != (new.height > limit):
                return False
        return True

    # -- bounded bracket matching -------------------------------------------------------------------------
    def find_matching_bracket(self, bracket: str, search_from: Location) -> Location | None:
        # Same result as TextArea's for any bracket whose partner is within MAX_BRACKET_SCAN characters; the
        # stock search walks to the end of the document, one character at a time, when there is none.
        if bracket not in _OPENING and bracket not in _CLOSING:
            return None
        forward = bracket in _OPENING
        locations = (
            self._yield_character_locations(search_from)
            if forward
            else self._yield_character_locations_reverse(search_from)
        )
        # walking away from the bracket, its own kind nests and the other kind closes (each its partner's)
        nests, closes = (_OPENING, _CLOSING) if forward else (_CLOSING, _OPENING)
        stack: list[str] = []
        for budget, (candidate, location) in enumerate(locations):
            if budget > MAX_BRACKET_SCAN:
                return None
            if candidate in nests:
                stack.append(candidate)
            elif candidate in closes and stack and stack[-1] == closes[candidate]:
                stack.pop()
                if not stack:
                    return location
        return None

    # -- helpers for the tabs -----------------------------------------------------------------------------
    def go_to_line(self, line: int, column: int = 1) -> None:
        """Move the cursor to a 1-based line (and column), centred on screen."""
        row = max(0, min(line - 1, self.document.line_count - 1))
        col = max(0, min(column - 1, len(self.document[row])))
        self.selection = Selection.cursor((row, col))
        self.scroll_cursor_visible(center=True)


def _has_alt(key: str) -> bool:
    """True for "alt+x", "ctrl+alt+x", "alt+shift+x", ... (Textual puts modifiers before the key name)."""
    return "alt" in key.split("+")[:-1]

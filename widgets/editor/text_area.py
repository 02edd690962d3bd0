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

Sandbox text is shown as plain text: `get_line` builds a `rich.text.Text` (never markup) and replaces control
characters with visible symbols, so nothing in a file can reach the terminal as an escape sequence.
"""

from __future__ import annotations

import asyncio
import time

from pygments.lexer import Lexer
from rich.text import Text
from textual.binding import Binding
from textual.document._document import Location
from textual.document._document_navigator import DocumentNavigator
from textual.strip import Strip
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from widgets.editor.document import FastDocument, FastWrappedDocument
from widgets.editor.highlight import Highlight, Highlighter, display_text

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


class CodeEditor(TextArea):
    """A code editor: Pygments highlighting (`lexer`), line numbers, per-file indentation, fast edits."""

    BINDINGS = [
        Binding("ctrl+z,super+z", "undo", "Undo", id="editor.undo", tooltip="Undo the last batch of edits"),
        Binding("ctrl+y,super+y", "redo", "Redo", id="editor.redo", tooltip="Redo what was undone"),
    ]

    DEFAULT_CSS = """
    CodeEditor { border: none; padding: 0; }
    CodeEditor:focus { border: none; }
    """

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
        self._lex_running = False
        self._repaint_after_lex = False
        self.highlighter = Highlighter([""], None)
        self._auto_theme = True
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
        self._refresh_size()

    def _attach_highlighter(self) -> None:
        document = self.document
        assert isinstance(document, FastDocument)
        hl = Highlighter(document.lines, self._lexer)
        hl.on_lines_changed = self._lines_relexed
        document.listener = hl.splice
        self.highlighter = hl
        self._highlights = LineHighlights(hl)
        # the first screen now, so it is never painted plain; the rest in the background
        _, bottom = self._visible_lines()
        hl.run(until_line=bottom, max_lines=0)
        self._line_cache.clear()
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
        self._refresh_size()

    def _build_highlight_map(self) -> None:
        # Called by TextArea after every edit, undo and redo. The document already told the highlighter which
        # lines changed; re-lex the visible part now (bounded), leave the rest to the background worker.
        self._line_cache.clear()
        hl = self.highlighter
        if hl.pending:
            _, bottom = self._visible_lines()
            now = time.perf_counter()
            # When the background pass has not reached the visible lines yet, do not catch up inside a keystroke:
            # `hard_deadline` bounds the work whatever is on screen.
            hl.run(until_line=bottom, deadline=now + SYNC_BUDGET, hard_deadline=now + SYNC_LIMIT)
            self._schedule_lexing()

    def _lines_relexed(self, first: int, last: int) -> None:
        top, bottom = self._visible_lines()
        if first <= bottom and last >= top:
            self._repaint_after_lex = True

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
                if self._repaint_after_lex:
                    self._repaint_after_lex = False
                    self._line_cache.clear()
                    self.refresh()
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

    # -- rendering ----------------------------------------------------------------------------------------
    def get_line(self, line_index: int) -> Text:
        return Text(display_text(self.document.get_line(line_index)), end="", no_wrap=True)

    def render_line(self, y: int) -> Strip:
        # TextArea.render_line without `not self.text` (a join of the whole document) per row.
        if self.placeholder and self.fast_document.is_empty:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        absolute_y = scroll_y + y
        selection = self.selection
        _, cursor_y = self._cursor_offset
        cache_key = (
            self.size,
            scroll_x,
            absolute_y,
            (selection if selection.contains_line(absolute_y) or self.soft_wrap else selection.end[0] == absolute_y),
            (selection.end if (self._cursor_visible and self.cursor_blink and absolute_y == cursor_y) else None),
            self.theme,
            self._matching_bracket_location,
            self.match_cursor_bracket,
            self.soft_wrap,
            self.show_line_numbers,
            self.read_only,
            self.show_cursor,
            self.suggestion,
        )
        if (cached_line := self._line_cache.get(cache_key)) is not None:
            return cached_line
        line = self._render_line(y)
        self._line_cache[cache_key] = line
        return line

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
        stack: list[str] = []
        for budget, (candidate, location) in enumerate(locations):
            if budget > MAX_BRACKET_SCAN:
                return None
            if forward:
                if candidate in _OPENING:
                    stack.append(candidate)
                elif candidate in _CLOSING and stack and stack[-1] == _CLOSING[candidate]:
                    stack.pop()
                    if not stack:
                        return location
            else:
                if candidate in _CLOSING:
                    stack.append(candidate)
                elif candidate in _OPENING and stack and stack[-1] == _OPENING[candidate]:
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

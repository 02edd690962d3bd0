"""Selecting and copying terminal text: `TerminalSelection`, the base of `TerminalView`.

What it owns: the selection (by mouse drag, double-click for a word — a path or URL whole — and triple-click for
the line), copy mode (the keyboard: arrows/hjkl/PgUp/PgDn move, v or space starts a selection, y or enter copies,
escape or q leaves) and searching the scrollback from copy mode (/ older, ? newer, n and N again; smart case,
wrapping round). Rows are addressed absolutely: 0 is the oldest scrollback line, `len(history)` the screen's top.
Copies go through `App.copy_to_clipboard` (OSC 52), so they work over SSH.
"""

from __future__ import annotations

from textual import events
from textual.widget import Widget

from widgets.messages import tell
from widgets.terminal.emulator import Emulator
from widgets.terminal.rows import segments_to_line
from widgets.terminal.scrollback import entry_segments

_WORD_PUNCT = frozenset("-_./~:@%+=#?&,")  # kept inside a double-clicked word: paths, URLs, user@host, key=value


def _is_word(cell: str) -> bool:
    return bool(cell) and (cell.isalnum() or cell in _WORD_PUNCT)


def _text_index(cells: list[str], col: int) -> int:
    """The index in a row's text of the character at cell `col` (wide characters take two cells)."""
    return sum(len(c) for c in cells[:col])


def _cell_index(cells: list[str], index: int) -> int:
    """The cell where character `index` of a row's text is."""
    n = 0
    for col, c in enumerate(cells):
        if c:
            if n + len(c) > index:
                return col
            n += len(c)
    return max(0, len(cells) - 1)


class TerminalSelection(Widget):
    """Selection, copy mode and search over a terminal's scrollback and screen (`screen_model`, `back_rows`)."""

    screen_model: Emulator
    back_rows: int  # rows scrolled back into the history; 0 = the live screen

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.copy_mode = False
        self._copy_cursor = (0, 0)  # (absolute row, column) in copy mode
        self._sel_anchor: tuple[int, int] | None = None
        self._sel_end: tuple[int, int] | None = None
        self._query: str | None = None  # the search being typed in copy mode
        self._last_query = ""
        self._search_up = True
        self._match: tuple[int, int, int] | None = None  # (absolute row, first cell, last cell) of the found text

    def _wants_mouse(self, event: events.MouseEvent) -> bool:
        """Whether the program in the terminal takes this mouse event (then it is not a selection)."""
        return False

    # -- selection ----------------------------------------------------------------------------------------------
    @property
    def marker_rows(self) -> int:
        """Rows at the top taken by a marker: 1 while scrolled back (`↑ scrolled back N lines`) or in copy mode
        (its keys, where it is, and the search prompt as it is typed: tmux's status line), else 0. The marker has
        its row to itself, so it hides none of the output."""
        return 1 if self.back_rows or self.copy_mode else 0

    @property
    def top_row(self) -> int:
        """The absolute row shown on the first row of text (below the marker). Scrolled back, the rows from
        `back_rows` above the screen's top; in copy mode the view is anchored at the bottom, so with nothing
        scrolled back the screen's last row (the prompt, the cursor) is in sight under the marker's row."""
        screen = self.screen_model
        hist = len(screen.history)
        if not self.copy_mode:
            return hist - min(self.back_rows, hist)
        return max(0, hist + screen.rows - self._text_rows() - self.back_rows)

    @property
    def max_back_rows(self) -> int:
        """How far back the view goes: to the oldest scrollback row at the top of the rows of text."""
        screen = self.screen_model
        if not self.copy_mode:
            return len(screen.history)
        return max(0, len(screen.history) + screen.rows - self._text_rows())

    def _text_rows(self) -> int:
        """Rows of text in sight: the pane's height less the marker's row."""
        return max(1, self.size.height - self.marker_rows)

    def marker_text(self, width: int) -> str:
        """What the marker's row says: while a search is typed, the prompt (`/older` or `?newer`) across the row;
        else copy mode's keys and how far back it is, or how far back the view is scrolled (drawn at the right)."""
        if self.copy_mode and self._query is not None:
            prompt = f"{'/' if self._search_up else '?'}{self._query}"
            hint = "  enter find  esc cancel "
            if len(prompt) + len(hint) <= width:
                return prompt + hint.rjust(width - len(prompt))
            return prompt[-width:].ljust(width)
        if self.copy_mode:
            back = f"↑{self.back_rows}  " if self.back_rows else ""
            return f" COPY {back}v select  y copy  / ? search  n N again  q quit "
        return f" ↑ scrolled back {min(self.back_rows, len(self.screen_model.history))} lines "

    def _abs_row(self, y: int) -> int:
        reserved = self.marker_rows
        # the marker's row holds no text: a click there takes the first row of text below it
        return self.top_row + max(y, reserved) - reserved

    def _row_cells(self, abs_row: int) -> list[str]:
        screen = self.screen_model
        hist = len(screen.history)
        if abs_row < hist:
            return segments_to_line(entry_segments(screen.history[abs_row], screen.cols), screen.cols).chars
        line = screen.lines[min(abs_row - hist, screen.rows - 1)]
        return line.chars

    def selected_text(self) -> str:
        if self._sel_anchor is None or self._sel_end is None:
            return ""
        (r0, c0), (r1, c1) = sorted((self._sel_anchor, self._sel_end))
        out = []
        for r in range(r0, r1 + 1):
            cells = self._row_cells(r)
            a = c0 if r == r0 else 0
            b = c1 + 1 if r == r1 else len(cells)
            out.append("".join(cells[a:b]).rstrip(" "))
        return "\n".join(out)

    def _copy_selection(self) -> None:
        text = self.selected_text()
        if text:
            self.app.copy_to_clipboard(text)
            tell(self, f"Copied {len(text)} characters", title="Terminal", timeout=2)

    def _in_selection(self, abs_row: int) -> tuple[int, int] | None:
        if self._sel_anchor is None or self._sel_end is None:
            return None
        (r0, c0), (r1, c1) = sorted((self._sel_anchor, self._sel_end))
        if not r0 <= abs_row <= r1:
            return None
        return (c0 if abs_row == r0 else 0, c1 if abs_row == r1 else self.screen_model.cols - 1)

    def on_click(self, event: events.Click) -> None:
        """Double-click selects a word (a path or URL counts as one, as in xterm's default `charClass`), triple-click
        the line; either is copied at once."""
        if event.button != 1 or event.chain < 2 or self._wants_mouse(event) or self.copy_mode:
            return
        event.stop()
        row = self._abs_row(max(0, min(event.y, self.size.height - 1)))
        cells = self._row_cells(row)
        if not cells:
            return
        x = max(0, min(event.x, len(cells) - 1))
        if event.chain >= 3:
            text = "".join(cells).rstrip(" ")
            start, end = 0, max(0, len(text) - 1)
        else:
            if not cells[x] and x > 0:
                x -= 1  # the right half of a wide character belongs to the character on its left
            if not _is_word(cells[x]):
                return
            start = end = x
            while start > 0 and (_is_word(cells[start - 1]) or not cells[start - 1]):
                start -= 1
            while end + 1 < len(cells) and (_is_word(cells[end + 1]) or not cells[end + 1]):
                end += 1
        self._sel_anchor, self._sel_end = (row, start), (row, end)
        self._copy_selection()
        self.refresh()

    def enter_copy_mode(self) -> None:
        screen = self.screen_model
        self.copy_mode = True
        self._query = None
        self._match = None
        self._copy_cursor = (len(screen.history) + screen.y, screen.x)
        self._sel_anchor = self._sel_end = None
        self._reveal_row(self._copy_cursor[0])  # the marker's row may have taken the cursor's
        self.focus()
        self.refresh()
        self.refresh_bindings()

    def _copy_key(self, key: str, character: str | None = None) -> None:
        if self._query is not None:
            self._query_key(key, character)
            self.refresh()
            return
        if key in ("slash", "question_mark"):
            self._query = ""  # "/" searches older output (up), "?" newer (down); n repeats, N reverses
            self._search_up = key == "slash"
            self.refresh()
            return
        if key in ("n", "N") and self._last_query:
            self._search(self._last_query, up=self._search_up == (key == "n"))
            self.refresh()
            return
        screen = self.screen_model
        row, col = self._copy_cursor
        last_row = len(screen.history) + screen.rows - 1
        page = max(1, self._text_rows() - 1)  # a page of the rows in sight, one kept for context
        moves = {
            "up": (-1, 0),
            "k": (-1, 0),
            "down": (1, 0),
            "j": (1, 0),
            "left": (0, -1),
            "h": (0, -1),
            "right": (0, 1),
            "l": (0, 1),
            "pageup": (-page, 0),
            "pagedown": (page, 0),
        }
        if key in moves:
            dr, dc = moves[key]
            row = max(0, min(last_row, row + dr))
            col = max(0, min(screen.cols - 1, col + dc))
            self._copy_cursor = (row, col)
            if self._sel_anchor is not None:
                self._sel_end = (row, col)
            self._reveal_row(row)
        elif key in ("v", "space"):
            self._sel_anchor = self._sel_end = (row, col)
        elif key in ("y", "enter"):
            self._copy_selection()
            self._leave_copy_mode()
        elif key in ("escape", "q"):
            self._leave_copy_mode()
        self.refresh()

    def _leave_copy_mode(self) -> None:
        self.copy_mode = False
        self._sel_anchor = self._sel_end = None
        self._query = None
        self._match = None
        self.back_rows = 0
        self.refresh_bindings()

    # -- search in copy mode ------------------------------------------------------------------------------------
    def _query_key(self, key: str, character: str | None) -> None:
        query = self._query or ""
        if key == "escape":
            self._query = None
        elif key == "enter":
            self._query = None
            if query:
                self._last_query = query
                self._search(query, up=self._search_up)
        elif key == "backspace":
            self._query = query[:-1]
        elif character and character.isprintable():
            self._query = query + character

    def _row_text(self, abs_row: int) -> str:
        screen = self.screen_model
        hist = len(screen.history)
        if abs_row < hist:
            return "".join(t for t, _ in entry_segments(screen.history[abs_row], screen.cols))
        return screen.lines[abs_row - hist].text()

    def _search(self, query: str, *, up: bool) -> None:
        """Find `query` from the copy cursor, older (up) or newer, wrapping round; smart case (case-insensitive
        unless the query has a capital). The match is shown, the cursor put on it, and it is scrolled into view."""
        screen = self.screen_model
        total = len(screen.history) + screen.rows
        fold = query.islower()
        needle = query.lower() if fold else query
        row, col = self._copy_cursor
        for step in range(total + 1):
            r = (row - step if up else row + step) % total
            text = self._row_text(r)
            hay = text.lower() if fold else text
            # on the cursor's own row, only matches before (up) or after (down) the cursor count, until the search
            # has wrapped round to it again
            if step == 0:
                here = _text_index(self._row_cells(r), col)
                start = hay.rfind(needle, 0, here) if up else hay.find(needle, here + 1)
            else:
                start = hay.rfind(needle) if up else hay.find(needle)
            if start >= 0:
                cells = self._row_cells(r)
                c0 = _cell_index(cells, start)
                c1 = _cell_index(cells, start + len(needle) - 1)
                self._match = (r, c0, c1)
                self._copy_cursor = (r, c0)
                self._sel_anchor = self._sel_end = None
                self._reveal_row(r)
                return
        self._match = None
        tell(self, f"Not found: {query}", title="Terminal", timeout=3)

    def _reveal_row(self, abs_row: int) -> None:
        """Scroll so `abs_row` is among the rows of text in sight (below the marker's row)."""
        top = self.top_row
        height = self._text_rows()
        if abs_row < top:
            self.back_rows = min(self.max_back_rows, self.back_rows + top - abs_row)
        elif abs_row >= top + height:
            self.back_rows = max(0, self.back_rows - (abs_row - (top + height - 1)))

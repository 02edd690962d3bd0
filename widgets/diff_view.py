"""A read-only, highlighted view of a parsed diff with hunk navigation (the git panel's diff pane).

Built on Textual's line API (`ScrollView.render_line`): only visible lines are rendered, each once (cached), so a
5,000-line change paints as fast as a 50-line one. Lines are highlighted by kind (file header, hunk header, added,
removed, context) and, where Pygments knows the file's language, by token — line by line, lazily, because lexing
a whole large file before the first paint would cost more than the frame budget (the price: a string spanning
lines is coloured per line).

Everything shown comes from a sandbox, so it is made plain first (`visible`): no markup, no escape sequences.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax, SyntaxTheme
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from services.git_parse import DiffFile, Hunk
from services.text import content, safe_text, wrap
from widgets.keys import Key, bindings

RowKind = Literal["file", "meta", "hunk", "add", "del", "ctx", "note", "empty"]

STYLES: dict[str, Style] = {
    "file": Style(bold=True, color="bright_white", bgcolor="#303846"),
    "meta": Style(color="grey62"),
    "hunk": Style(color="cyan"),
    "hunk-current": Style(color="black", bgcolor="cyan", bold=True),
    "add": Style(bgcolor="#16361c"),
    "del": Style(bgcolor="#3d1a1d"),
    "ctx": Style(),
    "note": Style(color="grey50", italic=True),
    "empty": Style(color="grey50", italic=True),
    "add-sign": Style(color="green", bold=True, bgcolor="#16361c"),
    "del-sign": Style(color="red", bold=True, bgcolor="#3d1a1d"),
}
# The selected hunk's rows: the same kinds on brighter backgrounds, so the hunk that space/d act on stands out
# as a block (with the gutter marker), not only by its header line.
SELECTED: dict[str, Style] = {
    **STYLES,
    "add": Style(bgcolor="#1f5a2b"),
    "del": Style(bgcolor="#64252a"),
    "ctx": Style(bgcolor="#262f3d"),
    "note": Style(color="grey70", italic=True, bgcolor="#262f3d"),
    "add-sign": Style(color="bright_green", bold=True, bgcolor="#1f5a2b"),
    "del-sign": Style(color="bright_red", bold=True, bgcolor="#64252a"),
}
GUTTER = "▌"  # marks every row of the selected hunk, in a column that does not scroll sideways
GUTTER_STYLE = Style(color="bright_cyan", bold=True)
THEME = "monokai"


@dataclass(frozen=True)
class DiffRow:
    kind: RowKind
    text: str  # already made visible
    file: int = -1  # index into the view's files
    hunk: int = -1  # index into that file's hunks


@lru_cache(maxsize=256)
def lexer_for(path: str) -> Lexer | None:
    """Pygments' lexer for a file name, or None when it knows none (then lines are coloured by kind only)."""
    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except (ClassNotFound, ValueError):
        return None


@lru_cache(maxsize=1)
def _theme() -> SyntaxTheme:
    return Syntax.get_theme(THEME)


def _note_rows(text: str, fi: int, width: int) -> list[DiffRow]:
    """A note as rows, broken at word boundaries to `width` columns (0: one row, however long)."""
    lines = wrap(text, width - 2, hang=0) if width > 2 else [text]
    return [DiffRow("note", f"  {line}", fi) for line in lines]


def build_rows(files: Sequence[DiffFile], note_width: int = 0) -> list[DiffRow]:
    """The rows of `files`; notes (a folder's summary, "12 more files not shown") wrapped to `note_width`."""
    rows: list[DiffRow] = []
    for fi, f in enumerate(files):
        name = safe_text(f.path)
        if f.status == "R" and f.old_path:
            name = f"{safe_text(f.old_path)} → {name}"
        label = {"A": "new file", "D": "deleted", "R": "renamed", "C": "copied"}.get(f.status, "modified")
        if not f.path:  # not a file: a note about the list itself ("12 more files not shown")
            rows.extend(_note_rows(safe_text(f.note or ""), fi, note_width))
            continue
        rows.append(DiffRow("file", f" {name}  ({label}, +{f.added} -{f.removed})", fi))
        if f.note:
            rows.extend(_note_rows(safe_text(f.note), fi, note_width))
        if f.binary:
            rows.append(DiffRow("note", "  binary file: not shown", fi))
        elif not f.hunks:
            empty = f.status == "A" and not f.note
            rows.append(DiffRow("note", "  empty file" if empty else "  no content change (mode or name only)", fi))
        for hi, h in enumerate(f.hunks):
            rows.append(DiffRow("hunk", safe_text(h.header), fi, hi))
            for ln in h.lines:
                tag = ln[:1]
                kind: RowKind = "add" if tag == "+" else "del" if tag == "-" else "note" if tag == "\\" else "ctx"
                rows.append(DiffRow(kind, content(ln, tabs=4), fi, hi))
    if not rows:
        rows.append(DiffRow("empty", " no changes"))
    return rows


class DiffView(ScrollView, can_focus=True):
    """Shows a list of `DiffFile`s; `n`/`N` (or a click) select a hunk; `current` is the selected (file, hunk).

    The selected hunk is marked on every one of its rows: a `▌` in a gutter column that never scrolls sideways,
    and brighter backgrounds; scrolling it out of view selects the first hunk in view instead."""

    DEFAULT_CSS = """
    DiffView { background: $surface; }
    DiffView:focus { background-tint: $foreground 3%; }
    """

    BINDINGS = bindings(
        (
            Key("diff.next_hunk", "n,]", "next_hunk", "Next hunk", "Select the next hunk"),
            Key("diff.prev_hunk", "N,[", "prev_hunk", "Prev hunk", "Select the previous hunk"),
            Key(
                "diff.down",
                "j,down",
                "scroll_down",
                "Down",
                "Scroll down a line",
                show=False,
                palette=False,
                help=False,
            ),
            Key("diff.up", "k,up", "scroll_up", "Up", "Scroll up a line", show=False, palette=False, help=False),
            Key(
                "diff.page_down",
                "pagedown",
                "page_down",
                "Page down",
                "Page down",
                show=False,
                palette=False,
                help=False,
            ),
            Key("diff.page_up", "pageup", "page_up", "Page up", "Page up", show=False, palette=False, help=False),
            Key("diff.top", "home,g", "scroll_home", "Top", "Go to the top", show=False, palette=False, help=False),
            Key(
                "diff.bottom",
                "end,G",
                "scroll_end",
                "Bottom",
                "Go to the bottom",
                show=False,
                palette=False,
                help=False,
            ),
        )
    )

    class HunkSelected(Message):
        def __init__(self, view: DiffView, file: DiffFile | None, hunk: Hunk | None) -> None:
            super().__init__()
            self.view = view
            self.file = file
            self.hunk = hunk

    def __init__(
        self,
        files: Sequence[DiffFile] = (),
        *,
        highlight: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.highlight = highlight
        self.files: list[DiffFile] = []
        self.rows: list[DiffRow] = []
        self._hunk_rows: list[int] = []  # the row of each hunk's header
        self._hunk_ends: list[int] = []  # the row after each hunk's last line
        self._current = -1  # index into _hunk_rows
        self._cache: dict[tuple[int, bool], Strip] = {}  # (row, in the selected hunk) -> strip
        self._width = 0
        self._note_width = 0  # the width notes were wrapped to
        self.loaded_at: float | None = None
        self.painted_at: float | None = None  # first render_line after the last set_diff: for the benchmark
        self.set_diff(files)

    # -- data --------------------------------------------------------------------------------------------------
    def set_diff(self, files: Sequence[DiffFile], *, keep_position: bool = False) -> None:
        old_hunk = self._current
        self.files = list(files)
        self._build()
        self._current = -1
        if self._hunk_rows:
            self._current = min(max(old_hunk, 0), len(self._hunk_rows) - 1) if keep_position else 0
        self.loaded_at = time.perf_counter()
        self.painted_at = None
        if self.is_mounted:
            if keep_position and self._current >= 0:
                self._scroll_to_current(animate=False)
            elif not keep_position:
                self.scroll_to(0, 0, animate=False)
            self.refresh()
        self.post_message(self.HunkSelected(self, *self.current))

    def _build(self) -> None:
        self._note_width = self.size.width - 1  # the gutter
        self.rows = build_rows(self.files, note_width=self._note_width)
        self._hunk_rows = [i for i, r in enumerate(self.rows) if r.kind == "hunk"]
        self._hunk_ends = []
        for start in self._hunk_rows:
            end = start + 1
            head = self.rows[start]
            while end < len(self.rows) and self.rows[end].kind != "hunk" and self.rows[end].hunk == head.hunk:
                end += 1
            self._hunk_ends.append(end)
        self._cache.clear()
        self._width = max((len(r.text) for r in self.rows), default=0) + 2
        self.virtual_size = Size(self._width + 1, len(self.rows))  # +1: the gutter

    def on_resize(self, event: events.Resize) -> None:
        # notes are wrapped to the width: a new width wraps them again (hunk rows keep their indexes: notes come
        # before a file's hunks, and the selected hunk is found again by number)
        if event.size.width - 1 != self._note_width and any(r.kind == "note" for r in self.rows):
            self._build()
            if self._current >= 0:
                self._scroll_to_current(animate=False)
            self.refresh()

    @property
    def current(self) -> tuple[DiffFile | None, Hunk | None]:
        if self._current < 0:
            return None, None
        row = self.rows[self._hunk_rows[self._current]]
        f = self.files[row.file]
        return f, f.hunks[row.hunk]

    @property
    def hunk_count(self) -> int:
        return len(self._hunk_rows)

    @property
    def current_index(self) -> int:
        return self._current

    def in_current_hunk(self, index: int) -> bool:
        """Whether row `index` belongs to the selected hunk (its header, its lines)."""
        if self._current < 0:
            return False
        return self._hunk_rows[self._current] <= index < self._hunk_ends[self._current]

    def _hunk_at(self, index: int) -> int:
        """The hunk whose rows hold row `index`, or -1."""
        for i, (start, end) in enumerate(zip(self._hunk_rows, self._hunk_ends, strict=True)):
            if start <= index < end:
                return i
        return -1

    # -- actions -----------------------------------------------------------------------------------------------
    def _select(self, index: int, *, scroll: bool = True) -> None:
        if not self._hunk_rows:
            return
        index = max(0, min(index, len(self._hunk_rows) - 1))
        if index == self._current:
            return
        self._current = index
        if scroll:
            self._scroll_to_current()
        self.refresh()
        self.post_message(self.HunkSelected(self, *self.current))

    def _scroll_to_current(self, *, animate: bool = False) -> None:
        y = self._hunk_rows[self._current]
        self.scroll_to(y=max(0, y - 1), animate=animate)

    def action_next_hunk(self) -> None:
        self._select(self._current + 1)

    def action_prev_hunk(self) -> None:
        self._select(self._current - 1)

    def on_click(self, event: events.Click) -> None:
        """A click selects the hunk under the pointer (the one space/d will then act on)."""
        hunk = self._hunk_at(self.scroll_offset.y + event.y)
        if hunk >= 0:
            self._select(hunk, scroll=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Scrolled (j/k, page keys, wheel) until the selected hunk is off screen: select the first hunk in view,
        # so the hunk a key acts on is always one the user can see.
        if self._current < 0 or not self.is_mounted:
            return
        top = round(new_value)
        bottom = top + max(1, self.scrollable_content_region.height)
        if self._hunk_rows[self._current] < bottom and self._hunk_ends[self._current] > top:
            return
        for i, (start, end) in enumerate(zip(self._hunk_rows, self._hunk_ends, strict=True)):
            if start < bottom and end > top:
                self._select(i, scroll=False)
                return

    # -- rendering ---------------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        if self.painted_at is None:
            self.painted_at = time.perf_counter()
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        selected = self.in_current_hunk(index)
        strip = self._cache.get((index, selected))
        if strip is None:
            strip = self._render_row(index, selected)
            self._cache[(index, selected)] = strip
        row = self.rows[index]
        table = SELECTED if selected else STYLES
        fill = STYLES["hunk-current"] if selected and row.kind == "hunk" else table.get(row.kind, Style())
        body = strip.crop_extend(scroll_x, scroll_x + max(0, width - 1), self.rich_style + fill)
        gutter = Segment(GUTTER, self.rich_style + GUTTER_STYLE) if selected else Segment(" ", self.rich_style)
        return Strip([gutter, *body], width)

    def _render_row(self, index: int, selected: bool = False) -> Strip:
        row = self.rows[index]
        kind = row.kind
        table = SELECTED if selected else STYLES
        if kind == "hunk" and selected:
            text = Text(row.text, style=STYLES["hunk-current"])
        elif kind in ("add", "del", "ctx"):
            text = self._code_line(row, table)
        else:
            text = Text(row.text, style=table.get(kind, Style()))
        segments = list(text.render(self.app.console))
        return Strip(segments, text.cell_len).apply_style(self.rich_style)

    def _code_line(self, row: DiffRow, table: dict[str, Style] = STYLES) -> Text:
        base = table[row.kind]
        sign, code = row.text[:1], row.text[1:]
        text = Text(sign, style=table.get(f"{row.kind}-sign", base))
        lexer = lexer_for(self.files[row.file].path) if self.highlight and row.file >= 0 else None
        if lexer is None or not code:
            text.append(code, style=base)
            return text
        theme = _theme()
        for ttype, value in lexer.get_tokens(code):
            if not value:
                continue
            tok = theme.get_style_for_token(ttype)
            # the token's colour on the line's own background (added/removed/context)
            text.append(value.rstrip("\n"), style=base + Style(color=tok.color, bold=tok.bold, italic=tok.italic))
        return text

    def segments_for_test(self, index: int) -> list[Segment]:
        """The segments of row `index` (tests check colours without rendering a screen)."""
        return list(self._render_row(index, self.in_current_hunk(index)))

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
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from services.git_parse import DiffFile, Hunk, visible
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


def build_rows(files: Sequence[DiffFile]) -> list[DiffRow]:
    rows: list[DiffRow] = []
    for fi, f in enumerate(files):
        name = visible(f.path)
        if f.status == "R" and f.old_path:
            name = f"{visible(f.old_path)} → {name}"
        label = {"A": "new file", "D": "deleted", "R": "renamed", "C": "copied"}.get(f.status, "modified")
        rows.append(DiffRow("file", f" {name}  ({label}, +{f.added} -{f.removed})", fi))
        if f.binary:
            rows.append(DiffRow("note", "  binary file: not shown", fi))
        elif not f.hunks:
            rows.append(DiffRow("note", "  no content change (mode or name only)", fi))
        for hi, h in enumerate(f.hunks):
            rows.append(DiffRow("hunk", visible(h.header), fi, hi))
            for ln in h.lines:
                tag = ln[:1]
                kind: RowKind = "add" if tag == "+" else "del" if tag == "-" else "note" if tag == "\\" else "ctx"
                rows.append(DiffRow(kind, visible(ln, tabs=4), fi, hi))
    if not rows:
        rows.append(DiffRow("empty", " no changes"))
    return rows


class DiffView(ScrollView, can_focus=True):
    """Shows a list of `DiffFile`s; `n`/`N` move between hunks; `current` is the selected (file, hunk)."""

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
        self._hunk_rows: list[int] = []
        self._current = -1  # index into _hunk_rows
        self._cache: dict[int, Strip] = {}
        self._width = 0
        self.loaded_at: float | None = None
        self.painted_at: float | None = None  # first render_line after the last set_diff: for the benchmark
        self.set_diff(files)

    # -- data --------------------------------------------------------------------------------------------------
    def set_diff(self, files: Sequence[DiffFile], *, keep_position: bool = False) -> None:
        old_hunk = self._current
        self.files = list(files)
        self.rows = build_rows(self.files)
        self._hunk_rows = [i for i, r in enumerate(self.rows) if r.kind == "hunk"]
        self._cache.clear()
        self._width = max((len(r.text) for r in self.rows), default=0) + 2
        self.virtual_size = Size(self._width, len(self.rows))
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

    # -- actions -----------------------------------------------------------------------------------------------
    def _select(self, index: int) -> None:
        if not self._hunk_rows:
            return
        index = max(0, min(index, len(self._hunk_rows) - 1))
        if index == self._current:
            return
        for old in (self._current, index):
            if old >= 0:
                self._cache.pop(self._hunk_rows[old], None)
        self._current = index
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

    # -- rendering ---------------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        if self.painted_at is None:
            self.painted_at = time.perf_counter()
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._render_row(index)
            self._cache[index] = strip
        row = self.rows[index]
        fill = STYLES.get(row.kind, Style())
        if row.kind == "hunk" and self._hunk_rows and self._hunk_rows[self._current] == index:
            fill = STYLES["hunk-current"]
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style + fill)

    def _render_row(self, index: int) -> Strip:
        row = self.rows[index]
        kind = row.kind
        if kind == "hunk" and self._hunk_rows and self._hunk_rows[self._current] == index:
            text = Text(row.text, style=STYLES["hunk-current"])
        elif kind in ("add", "del", "ctx"):
            text = self._code_line(row)
        else:
            text = Text(row.text, style=STYLES.get(kind, Style()))
        segments = list(text.render(self.app.console))
        return Strip(segments, text.cell_len).apply_style(self.rich_style)

    def _code_line(self, row: DiffRow) -> Text:
        base = STYLES[row.kind]
        sign, code = row.text[:1], row.text[1:]
        text = Text(sign, style=STYLES.get(f"{row.kind}-sign", base))
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
        return list(self._render_row(index))

"""How a terminal is drawn: `TerminalRender`, the base `TerminalView` draws through (Textual's line API).

Each screen `Line` caches its `Strip` (`Line.cache`); the emulator clears it when the line changes, so a repaint
only rebuilds changed lines, and scrollback rows keep theirs in `_hist_cache`. The cursor row, selected rows and a
search match are composed from cells on top (`_overlay`), only for those few rows. The scrolled-back marker, and
copy mode's marker and search prompt, have the top row to themselves (`selection.py` says which rows of text are
in sight below it, none hidden). Cell text goes through `fit.py`, so Rich
measures every row as exactly the cells the emulator laid out; it is sandbox text, handed to Rich as `Segment`s,
never parsed as markup.
"""

from __future__ import annotations

from rich.color import Color
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.strip import Strip

from widgets.terminal import styles as st
from widgets.terminal.fit import fit_cell, fit_runs
from widgets.terminal.rows import Line, segments_to_line
from widgets.terminal.scrollback import entry_segments
from widgets.terminal.selection import TerminalSelection

_RICH: dict[int, RichStyle] = {}


def _colour(c: int) -> Color | None:
    if c == st.DEFAULT:
        return None
    if c & st.RGB:
        return Color.from_rgb((c >> 16) & 255, (c >> 8) & 255, c & 255)
    return Color.from_ansi(c)


def rich_style(sid: int) -> RichStyle:
    """The Rich style for an interned terminal style (memoised: a handful of styles cover a screen)."""
    rs = _RICH.get(sid)
    if rs is None:
        fg, bg, flags = st.STYLES[sid]
        rs = RichStyle(
            color=_colour(fg),
            bgcolor=_colour(bg),
            bold=bool(flags & st.BOLD) or None,
            dim=bool(flags & st.DIM) or None,
            italic=bool(flags & st.ITALIC) or None,
            underline=bool(flags & st.UNDERLINE) or None,
            blink=bool(flags & st.BLINK) or None,
            reverse=bool(flags & st.REVERSE) or None,
            conceal=bool(flags & st.HIDDEN) or None,
            strike=bool(flags & st.STRIKE) or None,
            overline=bool(flags & st.OVERLINE) or None,
        )
        _RICH[sid] = rs
    return rs


_CURSOR_STYLE = RichStyle(reverse=True)
_CURSOR_LINE_STYLE = RichStyle(underline=True, bold=True)
_SELECT_STYLE = RichStyle(reverse=True)
_MATCH_STYLE = RichStyle(reverse=True, underline=True)
_MARKER_STYLE = RichStyle(reverse=True, bold=True)


class TerminalRender(TerminalSelection):
    """Rows of the screen or the scrollback as strips: `render_line` and the caches behind it."""

    exited: bool  # (the view's) the shell has exited: no cursor is drawn
    _hist_cache: dict[int, Strip]  # scrollback row -> its strip at the current width
    _base: RichStyle | None  # the widget's own style, looked up once (Textual computes it per call)

    @property
    def base_style(self) -> RichStyle:
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        for line in self.screen_model.lines:
            line.cache = None
        self._hist_cache.clear()

    def _line_strip(self, line: Line, width: int) -> Strip:
        strip = line.cache
        if isinstance(strip, Strip) and strip.cell_length == width:
            return strip
        base = self.base_style
        segs = [Segment(text, base + rich_style(sid)) for text, sid in fit_runs(line.segments())]
        strip = Strip(segs).adjust_cell_length(width, base)
        line.cache = strip
        return strip

    def _history_strip(self, index: int, width: int) -> Strip:
        strip = self._hist_cache.get(index)
        if strip is None or strip.cell_length != width:
            base = self.base_style
            screen = self.screen_model
            runs = fit_runs(entry_segments(screen.history[index], screen.cols))
            segs = [Segment(t, base + rich_style(s)) for t, s in runs]
            strip = Strip(segs).adjust_cell_length(width, base)
            if len(self._hist_cache) > 512:
                self._hist_cache.clear()
            self._hist_cache[index] = strip
        return strip

    def _overlay(self, cells: Line, width: int, marks: dict[int, RichStyle]) -> Strip:
        """A row with some cells restyled (cursor, selection), built from its cells, only for those few rows.

        Neighbouring ASCII cells of one style go out as one segment: Textual writes every segment with its own
        SGR and reset, so a cursor row built cell by cell was ~2 KB to the outer terminal for one echoed key (25
        bytes a cell), parsed there before the echo shows. Other cells stay one segment each, as `fit_runs` hands
        them, so Rich measures each alone."""
        base = self.base_style
        segs: list[Segment] = []
        chars, styles = cells.chars, cells.styles
        run: list[str] = []
        run_key: tuple[int, RichStyle | None] | None = None

        def flush() -> None:
            if run and run_key is not None:
                sid, extra = run_key
                style = base + rich_style(sid)
                segs.append(Segment("".join(run), style if extra is None else style + extra))
            run.clear()

        for x in range(min(len(chars), width)):
            c = chars[x]
            if c == "":
                continue
            key = (styles[x], marks.get(x))
            if c.isascii():
                if key != run_key:
                    flush()
                    run_key = key
                run.append(c)
                continue
            flush()
            run_key = None
            sid, extra = key
            style = base + rich_style(sid)
            text = fit_cell(c, 2 if x + 1 < len(chars) and chars[x + 1] == "" else 1)
            segs.append(Segment(text, style if extra is None else style + extra))
        flush()
        return Strip(segs).adjust_cell_length(width, base)

    def render_line(self, y: int) -> Strip:
        screen = self.screen_model
        width = self.size.width
        hist = len(screen.history)
        offset = min(self.back_rows, hist)
        reserved = self.marker_rows
        if reserved and y < reserved:
            # scrolled back or in copy mode: the marker (and copy mode's search prompt) gets its own top row, so
            # the rows of text below it are shown whole
            return self._with_marker(Strip.blank(width, self.base_style), self.marker_text(width), width)
        abs_row = self.top_row + y - reserved
        marks: dict[int, RichStyle] = {}
        sel = self._in_selection(abs_row)
        if sel is not None:
            for x in range(sel[0], sel[1] + 1):
                marks[x] = _SELECT_STYLE
        if self.copy_mode and self._match is not None and self._match[0] == abs_row:
            for x in range(self._match[1], self._match[2] + 1):
                marks[x] = _MATCH_STYLE
        if self.copy_mode and self._copy_cursor[0] == abs_row:
            marks[self._copy_cursor[1]] = _CURSOR_STYLE
        if abs_row < hist:
            if marks:
                line = segments_to_line(entry_segments(screen.history[abs_row], screen.cols), screen.cols)
                strip = self._overlay(line, width, marks)
            else:
                strip = self._history_strip(abs_row, width)
        elif abs_row - hist < screen.rows:
            line = screen.lines[abs_row - hist]
            if (
                not offset
                and not self.copy_mode
                and y == screen.y
                and screen.cursor_visible
                and self.has_focus
                and not self.exited
            ):
                # DECSCUSR: a block for 0-2; underline and bar (3-6, vim's insert mode) as an underline, since a
                # cell cannot show a bar — what matters is that the two modes look different
                marks[screen.x] = _CURSOR_STYLE if screen.cursor_shape <= 2 else _CURSOR_LINE_STYLE
            strip = self._overlay(line, width, marks) if marks else self._line_strip(line, width)
        else:
            strip = Strip.blank(width, self.base_style)
        return strip

    def _with_marker(self, strip: Strip, text: str, width: int) -> Strip:
        text = text[: max(0, width)]
        keep = max(0, width - len(text))
        return Strip.join([strip.crop(0, keep), Strip([Segment(text, self.base_style + _MARKER_STYLE)])])

"""The code editor's per-row render cache: `CachedRows`, the `render_line` of `CodeEditor` (text_area.py).

TextArea paints through `render_line`, row by row, and invalidates the whole widget on every edit and cursor move.
Here each row's strip is cached under a key made of everything that decides how it looks; the expensive part
(styling the line: `_render_row`, TextArea's `_render_line` up to the horizontal crop, the same steps in the same
order) is kept apart from the cheap part that depends on the horizontal scroll (`_finish_row`). Which rows to
repaint after an edit is text_area.py's (`_refresh_document_lines`).

Sandbox text is shown as plain text: rows are built from `get_line`'s `rich.text.Text` (never markup), with control
characters replaced by visible symbols (`services.text.same_columns`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.expand_tabs import expand_text_tabs_from_widths
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets._text_area import build_byte_to_codepoint_dict

from services.text import same_columns
from widgets.editor.document import FastDocument
from widgets.editor.highlight import Highlighter

ROW_CACHE_LIMIT = 512  # cached rows kept before those off screen are dropped

if TYPE_CHECKING:
    from textual.widgets import TextArea

    _Base = TextArea
else:
    # a plain mixin at run time: Textual inherits default CSS along the first DOMNode base only
    _Base = object


class Frame(NamedTuple):
    """What every row of one paint shares: part of each row's cache key, and how rows are finished."""

    key: tuple[object, ...]
    finish: tuple[int, int, bool, Style]  # virtual width, text width, soft wrap, base style


class CachedRow:
    """One painted row: its styled line (before the horizontal crop) and the finished strip."""

    __slots__ = ("finish", "gutter", "key", "line_style", "strip", "text")

    def __init__(self, key: tuple[object, ...], gutter: Strip | None, text: Strip, line_style: Style | None) -> None:
        self.key = key
        self.gutter = gutter
        self.text = text
        self.line_style = line_style
        self.finish: tuple[object, ...] | None = None
        self.strip: Strip | None = None


class CachedRows(_Base):
    """`render_lines`/`render_line` of `CodeEditor` with a per-row cache (a mixin: the editor owns the state)."""

    _rows: dict[int, CachedRow]
    _frame: Frame | None
    rows_rendered: int
    highlighter: Highlighter

    @property
    def fast_document(self) -> FastDocument:
        raise NotImplementedError

    # -- rendering ----------------------------------------------------------------------------------------
    # TextArea paints through `render_line`, row by row, and invalidates the whole widget on every edit and
    # cursor move (its `selection` reactive repaints everything, its line cache is cleared after each edit and
    # keyed on the horizontal scroll). Here:
    # - each row's strip is cached under a key made of everything that decides how it looks (the line's text,
    #   its highlight spans, the selection if the row is inside it, the cursor if it is on the row, the matching
    #   bracket, the theme's styles, the gutter, ...), so a row whose look did not change is never re-rendered;
    # - the expensive part (styling the line) is kept apart from the cheap part that depends on the horizontal
    #   scroll (crop, pad, gutter), so scrolling sideways — every key when typing past the right edge — only
    #   re-crops;
    # - edits, cursor moves and re-lexing repaint only the rows they touch (`_refresh_document_lines`).
    def get_line(self, line_index: int) -> Text:
        return Text(same_columns(self.document.get_line(line_index)), end="", no_wrap=True)

    def notify_style_update(self) -> None:
        # CSS changed (focus, the app's theme, ...): the theme's CSS fallbacks may give other styles
        self._rows.clear()
        super().notify_style_update()

    def _set_theme(self, theme: str) -> None:
        super()._set_theme(theme)
        self._rows.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        # TextArea.render_lines applies the theme's CSS fallbacks and calls render_line per row; the state that is
        # the same for every row is worked out once, on the first row.
        self._frame = None
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None
            if len(self._rows) > ROW_CACHE_LIMIT:
                self._trim_rows()

    def _trim_rows(self) -> None:
        """Forget cached rows outside the screen (a long scroll leaves one entry per row passed)."""
        top = int(self.scroll_offset.y)
        bottom = top + self.size.height
        self._rows = {y: row for y, row in self._rows.items() if top <= y < bottom}

    def _frame_state(self) -> Frame:
        theme = self._theme
        styles = (
            (
                id(theme),
                theme.base_style,
                theme.gutter_style,
                theme.cursor_style,
                theme.cursor_line_style,
                theme.cursor_line_gutter_style,
                theme.selection_style,
                theme.bracket_matching_style,
            )
            if theme
            else None
        )
        key = (
            styles,
            self.indent_width,
            self.gutter_width,
            self.show_line_numbers,
            self.line_number_start,
            self.highlight_cursor_line,
            self._has_cursor,
            self.match_cursor_bracket,
            self.soft_wrap,
            self.has_focus or not self.hide_suggestion_on_blur,
            bool(self._highlights),
        )
        base_style = theme.base_style if theme and theme.base_style is not None else self.rich_style
        virtual_width = self.virtual_size.width
        soft_wrap = self.soft_wrap
        base_width = self.scrollable_content_region.size.width if soft_wrap else max(virtual_width, self.region.width)
        finish = (virtual_width, base_width - self.gutter_width, soft_wrap, base_style)
        return Frame(key, finish)

    def render_line(self, y: int) -> Strip:
        # TextArea.render_line without `not self.text` (a join of the whole document) per row, and with the
        # per-row cache described above.
        if self.placeholder and self.fast_document.is_empty:
            return super().render_line(y)
        frame = self._frame
        if frame is None:
            frame = self._frame = self._frame_state()
        scroll_x, scroll_y = self.scroll_offset
        absolute_y = scroll_y + y
        wrapped = self.wrapped_document
        info = wrapped._offset_to_line_info
        if not 0 <= absolute_y < len(info):
            return Strip.blank(self.size.width, frame.finish[3])
        line_index, section = info[absolute_y]
        selection = self.selection
        start_row = selection.start[0]
        cursor_row = selection.end[0]
        on_cursor = line_index == cursor_row
        in_selection = start_row <= line_index <= cursor_row or cursor_row <= line_index <= start_row
        bracket = self._matching_bracket_location
        if bracket is not None and not on_cursor and bracket[0] != line_index:
            bracket = None
        spans = self.highlighter.spans
        key = (
            frame.key,
            line_index,
            self.document[line_index],
            spans[line_index] if line_index < len(spans) else None,
            selection if in_selection else None,
            (self._draw_cursor, self.suggestion) if on_cursor else None,
            bracket,
            (
                (section, tuple(wrapped.get_offsets(line_index)), tuple(wrapped.get_tab_widths(line_index)))
                if self.soft_wrap
                else None
            ),
        )
        row = self._rows.get(absolute_y)
        if row is None or row.key != key:
            self.rows_rendered += 1
            row = self._render_row(key, line_index, section)
            self._rows[absolute_y] = row
        finish = (scroll_x, frame.finish)
        if row.finish != finish:
            row.finish = finish
            row.strip = self._finish_row(row, scroll_x, frame.finish)
        assert row.strip is not None
        return row.strip

    def _render_row(self, key: tuple[object, ...], line_index: int, section_offset: int) -> CachedRow:
        """TextArea._render_line up to the horizontal crop (the same steps, in the same order)."""
        theme = self._theme
        wrapped_document = self.wrapped_document
        line = self.get_line(line_index)
        line_character_count = len(line)
        line.tab_size = self.indent_width
        line.set_length(line_character_count + 1)  # space at end for cursor

        selection = self.selection
        start, end = selection
        cursor_row, cursor_column = end
        selection_top, selection_bottom = sorted(selection)
        selection_top_row, selection_top_column = selection_top
        selection_bottom_row, selection_bottom_column = selection_bottom

        highlight_cursor_line = self.highlight_cursor_line and self._has_cursor
        cursor_line_style = theme.cursor_line_style if (theme and highlight_cursor_line) else None
        has_cursor = self._has_cursor
        if has_cursor and cursor_line_style and cursor_row == line_index:
            line.stylize(cursor_line_style)

        if start != end and selection_top_row <= line_index <= selection_bottom_row:
            selection_style = theme.selection_style if theme else None
            if selection_style:
                if line_character_count == 0 and line_index != cursor_row:
                    # a simple highlight to show empty lines are included in the selection
                    line.plain = "▌"
                    line.stylize(Style(color=selection_style.bgcolor))
                elif line_index == selection_top_row == selection_bottom_row:
                    line.stylize(selection_style, start=selection_top_column, end=selection_bottom_column)
                elif line_index == selection_top_row:
                    line.stylize(selection_style, start=selection_top_column, end=line_character_count)
                elif line_index == selection_bottom_row:
                    line.stylize(selection_style, end=selection_bottom_column)
                else:
                    line.stylize(selection_style, end=line_character_count)

        spans = key[3]
        if spans and theme and self._highlights:
            get_style = theme.syntax_styles.get
            plain = line.plain
            if plain.isascii():
                # byte offsets are character offsets: no byte → code point table (a Python loop per byte)
                for highlight_start, highlight_end, highlight_name in spans:  # type: ignore[attr-defined]
                    node_style = get_style(highlight_name)
                    if node_style is not None:
                        line.stylize(node_style, highlight_start, highlight_end or None)
            else:
                byte_to_codepoint = build_byte_to_codepoint_dict(plain.encode("utf-8"))
                for highlight_start, highlight_end, highlight_name in spans:  # type: ignore[attr-defined]
                    node_style = get_style(highlight_name)
                    if node_style is not None:
                        line.stylize(
                            node_style,
                            byte_to_codepoint.get(highlight_start, 0),
                            byte_to_codepoint.get(highlight_end) if highlight_end else None,
                        )

        matching_bracket = self._matching_bracket_location
        draw_matched_brackets = (
            has_cursor and self.match_cursor_bracket and matching_bracket is not None and start == end
        )
        if cursor_row == line_index:
            if draw_matched_brackets:
                matching_bracket_style = theme.bracket_matching_style if theme else None
                if matching_bracket_style:
                    line.stylize(matching_bracket_style, cursor_column, cursor_column + 1)
            if self.suggestion and (self.has_focus or not self.hide_suggestion_on_blur):
                suggestion_style = self.get_component_rich_style("text-area--suggestion")
                line = Text.assemble(
                    line[:cursor_column],
                    (self.suggestion, suggestion_style),
                    line[cursor_column:],
                )
            if self._draw_cursor:
                cursor_style = theme.cursor_style if theme else None
                if cursor_style:
                    line.stylize(cursor_style, cursor_column, cursor_column + 1)

        if draw_matched_brackets:
            assert matching_bracket is not None
            bracket_match_row, bracket_match_column = matching_bracket
            if theme and bracket_match_row == line_index:
                matching_bracket_style = theme.bracket_matching_style
                if matching_bracket_style:
                    line.stylize(matching_bracket_style, bracket_match_column, bracket_match_column + 1)

        gutter: Strip | None = None
        gutter_width = self.gutter_width
        if self.show_line_numbers and theme:
            if cursor_row == line_index and highlight_cursor_line:
                gutter_style = theme.cursor_line_gutter_style
            else:
                gutter_style = theme.gutter_style
            gutter_content = str(line_index + self.line_number_start) if section_offset == 0 else ""
            gutter = Strip([Segment(f"{gutter_content:>{gutter_width - 2}}  ", gutter_style)], cell_length=gutter_width)

        wrap_offsets = wrapped_document.get_offsets(line_index)
        if wrap_offsets:
            sections = line.divide(wrap_offsets)
            line = sections[section_offset]
            line_tab_widths = wrapped_document.get_tab_widths(line_index)
            line.end = ""
            # the widths of the tabs in this section only
            tabs_before = sum(sections[index].plain.count("\t") for index in range(section_offset))
            tabs_within = line.plain.count("\t")
            line = expand_text_tabs_from_widths(line, line_tab_widths[tabs_before : tabs_before + tabs_within])
        else:
            line.expand_tabs(self.indent_width)

        text = Strip(line.render(self.app.console), cell_length=line.cell_len)
        if cursor_row == line_index and self.highlight_cursor_line:
            line_style = cursor_line_style
        else:
            line_style = theme.base_style if theme else None
        return CachedRow(key, gutter, text, line_style)

    def _finish_row(self, row: CachedRow, scroll_x: int, finish: tuple[int, int, bool, Style]) -> Strip:
        """The rest of TextArea._render_line: crop to the horizontal scroll, pad, add the gutter, base style."""
        virtual_width, target_width, soft_wrap, base_style = finish
        text_strip = row.text
        if not soft_wrap:
            text_strip = text_strip.crop(scroll_x, scroll_x + virtual_width)
        text_strip = text_strip.extend_cell_length(target_width, row.line_style)
        strip = Strip.join([row.gutter, text_strip]) if row.gutter is not None else text_strip
        return strip.apply_style(base_style)

"""Textual document classes without the per-edit, document-sized costs of Textual 8.2.8.

`FastDocument` is a `textual.document.Document` that
- keeps every line's cell width and the maximum, updated per edit (stock `get_size` measures every line after
  every edit: cost 3 in shared/performance.md);
- tells a listener (the highlighter) exactly which lines each replacement touched, so highlighting is redone from
  the edited line on instead of over the whole document (cost 4).

`FastWrappedDocument` answers `height` from the length of its offset table instead of summing over all lines;
TextArea asks for it once per painted row (cost 1). The offset table has one entry per wrapped row, which is
exactly what the stock sum counts, so the answer is the same.
"""

from __future__ import annotations

from collections.abc import Callable

from textual._cells import cell_len
from textual._wrap import compute_wrap_offsets
from textual.expand_tabs import get_tab_widths
from textual.geometry import Size
from textual.widgets.text_area import Document, EditResult, Location, WrappedDocument

SpliceListener = Callable[[int, int, int], None]
"""Called after a replacement with (top row, old bottom row, new bottom row), all inclusive."""


def _width(line: str, tab_width: int) -> int:
    # the same measure as Document.get_size, line by line
    return cell_len(line.expandtabs(tab_width)) if "\t" in line else cell_len(line)


class FastDocument(Document):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.listener: SpliceListener | None = None
        self.version = 0  # bumped on every replacement: cheap "did anything change" checks
        self._tab_width = -1  # widths are measured lazily, for one tab width at a time
        self._widths: list[int] = []
        self._max_width = 0
        self._max_stale = False  # a line of the maximum width went away: recompute on demand

    def _measure_all(self, tab_width: int) -> None:
        self._tab_width = tab_width
        self._widths = [_width(line, tab_width) for line in self._lines]
        self._max_width = max(self._widths, default=0)
        self._max_stale = False

    def get_size(self, tab_width: int) -> Size:
        if tab_width != self._tab_width:
            self._measure_all(tab_width)
        elif self._max_stale:
            # only after deleting the widest line; max() over a list of ints runs at C speed
            self._max_width = max(self._widths, default=0)
            self._max_stale = False
        return Size(self._max_width, len(self._lines))

    def replace_range(self, start: Location, end: Location, text: str) -> EditResult:
        top, bottom = sorted((start, end))
        top_row = top[0]
        old_bottom_row = min(bottom[0], len(self._lines) - 1)
        result = super().replace_range(start, end, text)
        new_bottom_row = result.end_location[0]
        self.version += 1
        if self._tab_width >= 0:
            tab_width = self._tab_width
            new_widths = [_width(line, tab_width) for line in self._lines[top_row : new_bottom_row + 1]]
            removed = self._widths[top_row : old_bottom_row + 1]
            self._widths[top_row : old_bottom_row + 1] = new_widths
            widest_new = max(new_widths, default=0)
            if widest_new >= self._max_width:
                self._max_width = widest_new
            elif self._max_width in removed:
                self._max_stale = True
        if self.listener is not None:
            self.listener(top_row, old_bottom_row, new_bottom_row)
        return result

    @property
    def is_empty(self) -> bool:
        """True for a document with no text, without joining it."""
        return len(self._lines) == 1 and not self._lines[0]


_NO_OFFSETS: list[int] = []  # shared: see FastWrappedDocument.wrap
_NO_TABS: list[int] = [0]  # what get_tab_widths gives a non-empty line without tabs


class FastWrappedDocument(WrappedDocument):
    def wrap(self, width: int, tab_width: int | None = None) -> None:
        """WrappedDocument.wrap with the common cases short-cut: a line without tabs that fits needs no tab
        measurement and no wrap offsets (stock runs a regex and the wrap algorithm on every line: ~110 ms for
        20,000 lines, and TextArea re-wraps on every resize). Produces exactly the stock tables."""
        self._width = width
        if tab_width:
            self._tab_width = tab_width
        tab_width = self._tab_width
        lines = self.document.lines
        if not width and not any("\t" in line for line in lines):
            # No soft wrap and no tabs (the common case): every line is one row. Built with comprehensions.
            # The per-line offset and tab lists are only ever replaced, never mutated in place (wrap_range
            # assigns slices of the outer lists), so lines share two constant lists: fewer objects to allocate
            # and for the garbage collector to walk.
            n = len(lines)
            self._wrap_offsets = [_NO_OFFSETS] * n
            self._offset_to_line_info = [(i, 0) for i in range(n)]
            # tuples, not lists: read-only here too, and the garbage collector stops tracking them
            self._line_index_to_offsets = [(i,) for i in range(n)]  # type: ignore[misc]
            self._tab_width_cache = [_NO_TABS if line else _NO_OFFSETS for line in lines]
            return
        wrap_offsets: list[list[int]] = []
        offset_to_line_info: list[tuple[int, int]] = []
        line_index_to_offsets: list[list[int]] = []
        tab_widths: list[list[int]] = []
        y = 0
        for line_index, line in enumerate(lines):
            if "\t" not in line and (not width or (len(line) <= width and cell_len(line) <= width)):
                wrap_offsets.append([])
                tab_widths.append([0] if line else [])
                offset_to_line_info.append((line_index, 0))
                line_index_to_offsets.append([y])
                y += 1
                continue
            sections = get_tab_widths(line, tab_width)
            offsets = (
                compute_wrap_offsets(line, width, tab_size=tab_width, precomputed_tab_sections=sections)
                if width
                else []
            )
            wrap_offsets.append(offsets)
            tab_widths.append([w for _, w in sections])
            ys = []
            for section in range(len(offsets) + 1):
                offset_to_line_info.append((line_index, section))
                ys.append(y)
                y += 1
            line_index_to_offsets.append(ys)
        self._wrap_offsets = wrap_offsets
        self._offset_to_line_info = offset_to_line_info
        self._line_index_to_offsets = line_index_to_offsets
        self._tab_width_cache = tab_widths

    @property
    def height(self) -> int:
        """The height of the wrapped document: one offset-table entry per wrapped row."""
        return len(self._offset_to_line_info)

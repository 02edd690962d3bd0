"""Reading scrollback entries back, whatever form they took (`rows.Entry`): their runs of (text, style), whether
they wrap into the next row, the columns they take, and a `Line` rebuilt from one.

This is the lazy half of the flood path: a line it sent to the scrollback as raw text with SGR (`(pen, raw)`) or as
one row of such a line (`RawRow`) is parsed here only when someone looks at it (scrolls back, selects, reflows).
"""

from __future__ import annotations

from typing import cast

from widgets.terminal.rows import PAD_MARK, WRAP_MARK, Entry, Line, RawRow, clusters, segments_to_line
from widgets.terminal.styles import SGR_RE, apply_sgr, erase_style


def entry_segments(entry: Entry, cols: int) -> list[tuple[str, int]]:
    """Runs of (text, style) for a scrollback entry, parsing a raw one now (the lazy half of the flood path)."""
    if isinstance(entry, str):
        return [(entry, 0)] if entry else []
    if isinstance(entry, Line):
        return entry.segments()
    if type(entry[0]) is str:  # packed runs (a raw entry starts with its pen, an int)
        if len(entry) % 2:
            entry = entry[:-1]  # the wrap mark
        return list(zip(entry[::2], entry[1::2], strict=True))  # type: ignore[arg-type]
    if len(entry) == 5:
        return _raw_row_segments(cast(RawRow, entry))
    pen, raw = cast("tuple[int, str]", entry)
    fill = erase_style(pen)
    out: list[tuple[str, int]] = []
    parts = SGR_RE.split(raw)
    width = 0
    for i, part in enumerate(parts):
        if i & 1:
            pen = apply_sgr(pen, part)
        elif part:
            out.append((part, pen))
            width += len(part) if part.isascii() else _text_width(part)  # (the flood path keeps CJK lines raw)
    if fill and width < cols:
        out.append((" " * (cols - width), fill))  # the line scrolled in under a coloured background (BCE)
    return out


_last_parse: list[object] = [None, -1, []]  # (raw, pen, runs) of the last raw line parsed for its rows


def _parse_raw(pen: int, raw: str) -> list[tuple[str, int]]:
    """Runs of a raw line (text with SGR) from `pen`; the last one is kept, as a line's rows are viewed together."""
    cache = _last_parse
    if cache[0] is raw and cache[1] == pen:
        return cast("list[tuple[str, int]]", cache[2])
    out: list[tuple[str, int]] = []
    p = pen
    for i, part in enumerate(SGR_RE.split(raw)):
        if i & 1:
            p = apply_sgr(p, part)
        elif part:
            out.append((part, p))
    cache[0], cache[1], cache[2] = raw, pen, out
    return out


def _raw_row_segments(entry: RawRow) -> list[tuple[str, int]]:
    """The runs of columns [start, stop) of a raw line (its text is ASCII: one column a character). A row scrolled
    in by autowrap is blank in the default style, so there is no background fill; spaces written at the end of the
    last row are text and stay (as `Line.segments` keeps the cells a program wrote)."""
    pen, raw, start, stop, _mark = entry
    out: list[tuple[str, int]] = []
    x = 0
    for text, style in _parse_raw(pen, raw):
        end = x + len(text)
        if end > start:
            out.append((text[max(0, start - x) : stop - x], style))
        x = end
        if x >= stop:
            break
    return out


def entry_wrapped(entry: Entry) -> bool:
    """Whether the row goes on in the next one (it was cut by autowrap, not ended by a newline)."""
    if isinstance(entry, Line):
        return entry.wrapped
    if type(entry) is not tuple or not entry:
        return False
    if type(entry[0]) is str:
        return len(entry) % 2 == 1
    return len(entry) == 5 and entry[4] == WRAP_MARK


def entry_padded(entry: Entry) -> bool:
    if isinstance(entry, Line):
        return entry.padded
    return entry_wrapped(entry) and entry[-1] == PAD_MARK


def _text_width(text: str) -> int:
    return len(text) if text.isascii() else sum(w for _, w in clusters(text))


def entry_width(entry: Entry) -> int:
    """Columns the row's text takes (trailing default blanks not counted)."""
    if isinstance(entry, str):
        return _text_width(entry)
    if isinstance(entry, Line):
        return sum(_text_width(t) for t, _ in entry.segments())
    if type(entry[0]) is str:
        return sum(_text_width(cast(str, t)) for t in entry[0 : len(entry) - len(entry) % 2 : 2])
    if len(entry) == 5:
        return sum(len(t) for t, _ in _raw_row_segments(cast(RawRow, entry)))
    return _text_width(SGR_RE.sub("", cast("tuple[int, str]", entry)[1]))


def entry_to_line(entry: Entry, cols: int) -> Line:
    """A scrollback entry as a screen row of `cols` cells (brought back to the screen by a resize or a reflow)."""
    line = segments_to_line(entry_segments(entry, cols), cols)
    line.wrapped, line.padded = entry_wrapped(entry), entry_padded(entry)
    return line

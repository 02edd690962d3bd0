"""Reflow on a width change, as tmux does it: rows cut by autowrap join up into their logical lines again and are
cut anew at the new width, the cursor keeping its place in the text.

Most of a long scrollback is short lines, which stay as they are (nothing parsed); an ASCII logical line is re-cut
by slicing its runs (`_split_runs`, no per-cell work); only lines with wide characters or clusters, and the one
holding the cursor, are laid out cell by cell (`_rewrap`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from widgets.terminal.rows import WRAP_MARK, Entry, Line, Runs, char_width, clusters, pack_runs
from widgets.terminal.scrollback import entry_padded, entry_segments, entry_to_line, entry_width, entry_wrapped
from widgets.terminal.styles import FILL_IDS


def _cells(segs: Iterable[tuple[str, int]]) -> list[list[str | int]]:
    """[character, style] per cell; a combining mark stays with the character before it."""
    out: list[list[str | int]] = []
    for text, style in segs:
        out.extend([c, style] for c in text) if text.isascii() else out.extend([c, style] for c, _ in clusters(text))
    return out


def _rewrap(cells: list[list[str | int]], cols: int, mark: int, written: int) -> tuple[list[Line], tuple[int, int]]:
    """Lay cells out in rows of `cols`, every row but the last marked wrapped. Returns the rows and the (row,
    column) where cell `mark` landed. A wide character that does not fit at the end of a row starts the next.
    Cells from index `written` on only pad the row out to the cursor: they are not text (`Line.used`)."""
    line = Line(cols)
    rows = [line]
    x = 0
    where = (0, 0)
    for i, (c, style) in enumerate(cells):
        ch = cast(str, c)
        w = char_width(ch[0])
        if x + w > cols:
            line.wrapped = True
            line.padded = x < cols
            line = Line(cols)
            rows.append(line)
            x = 0
            if w > cols:
                continue  # a wide character in a one-column terminal cannot be shown
        if i == mark:
            where = (len(rows) - 1, x)
        line.chars[x] = ch
        line.styles[x] = cast(int, style)
        if w == 2:
            line.chars[x + 1] = ""
            line.styles[x + 1] = cast(int, style)
        x += w
        if i < written:
            line.used = x
    return rows, where


def _split_runs(runs: list[tuple[str, int]], cols: int) -> list[str | Runs]:
    """An ASCII logical line cut into scrollback entries of `cols` by slicing its runs: the fast way to reflow
    the scrollback (no per-cell work). Every entry but the last is marked wrapped."""
    rows: list[list[tuple[str, int]]] = []
    cur: list[tuple[str, int]] = []
    x = 0
    for text, style in runs:
        while text:
            if x == cols:
                rows.append(cur)
                cur, x = [], 0
            part = text[: cols - x]
            cur.append((part, style))
            x += len(part)
            text = text[len(part) :]
    rows.append(cur)
    last = len(rows) - 1
    return [pack_runs(row, WRAP_MARK if i < last else None) for i, row in enumerate(rows)]


def reflow(
    history: Iterable[Entry], lines: list[Line], x: int, y: int, old_cols: int, cols: int, rows: int
) -> tuple[list[Entry], list[Line], int, int]:
    """The scrollback and the screen (`lines`, `rows` of them, cursor at `x`, `y`, `old_cols` wide) rewrapped to
    `cols`. Returns the new scrollback entries (packed), the new screen's lines and the cursor's new column and
    row."""
    last = len(lines) - 1
    while last > y and lines[last].is_blank():
        last -= 1  # blank rows below the cursor are not content
    rows_in: list[Entry] = [*history]
    cursor_at = len(rows_in) + y
    rows_in.extend(lines[: last + 1])
    out: list[Entry] = []
    cursor = (0, 0)
    i, n = 0, len(rows_in)
    while i < n:
        j = i
        while j < n - 1 and entry_wrapped(rows_in[j]):
            j += 1
        first = rows_in[i]
        if j == i and i != cursor_at and not isinstance(first, Line) and entry_width(first) <= cols:
            out.append(first)  # a short line stays as it is: most of the scrollback, and nothing to parse
            i += 1
            continue
        if cursor_at > j or cursor_at < i:
            runs: list[tuple[str, int]] = []
            for k in range(i, j + 1):
                row = rows_in[k]
                if isinstance(row, Line):
                    runs.extend(row.segments(full=entry_wrapped(row)))
                else:
                    runs.extend(entry_segments(row, old_cols))
            while runs and runs[-1][1] in FILL_IDS:
                runs.pop()  # an erase's background after the text is not text (tmux does not rewrap it)
            if all(t.isascii() for t, _ in runs) and not any(entry_padded(rows_in[k]) for k in range(i, j)):
                out.extend(_split_runs(runs, cols))
                i = j + 1
                continue
        cells: list[list[str | int]] = []
        mark = -1
        written = -1  # where the cells padding the cursor's row out to the cursor start
        for k in range(i, j + 1):
            row = rows_in[k]
            wrapped = entry_wrapped(row)
            segs = row.segments(full=wrapped) if isinstance(row, Line) else entry_segments(row, old_cols)
            row_cells = _cells(segs)
            if k == cursor_at:
                # the cursor's cell: count columns up to it; past the text (after a prompt's space), pad
                col = idx = 0
                while idx < len(row_cells) and col < x:
                    col += char_width(cast(str, row_cells[idx][0])[0])
                    idx += 1
                if idx == len(row_cells):
                    written = len(cells) + idx
                if col < x:
                    row_cells.extend([" ", 0] for _ in range(x - col))
                    idx = len(row_cells)
                if idx == len(row_cells):
                    row_cells.append([" ", 0])
                mark = len(cells) + idx
            if wrapped and entry_padded(row) and row_cells and mark < len(cells) + len(row_cells) - 1:
                row_cells.pop()  # the blank a wide character left at the edge when it went on to the next row
            cells.extend(row_cells)
        while len(cells) - 1 > mark and cells[-1][1] in FILL_IDS:
            cells.pop()  # (as above; the cursor's cell stays)
        rewrapped, where = _rewrap(cells, cols, mark, written if written >= 0 else len(cells))
        if mark >= 0:
            cursor = (len(out) + where[0], where[1])
        out.extend(rewrapped)
        i = j + 1
    start = max(0, len(out) - rows)
    kept: list[Entry] = [e.packed() if isinstance(e, Line) else e for e in out[:start]]
    screen = [e if isinstance(e, Line) else entry_to_line(e, cols) for e in out[start:]]
    screen.extend(Line(cols) for _ in range(rows - len(screen)))
    return kept, screen, min(cursor[1], cols - 1), max(0, cursor[0] - start)

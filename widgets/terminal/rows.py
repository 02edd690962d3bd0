"""A terminal row and what it is made of: cell widths and clusters, the `Line` on screen, and the compact forms a
row takes in the scrollback (`Entry`).

Cells follow tmux 3.3: a character takes `char_width` cells (wcwidth's tables, a regional indicator one); combining
marks and VS16 join the cell before them and a zero-width joiner joins the next non-ASCII character into it
(`clusters` re-splits stored text the same way); a cell holds at most `CELL_BYTES` of UTF-8, as in tmux.

A `Line` is two parallel lists, characters and interned style ids (`styles.py`). When it scrolls off it is packed
(`pack_runs`) into a plain `str` or a flat tuple of runs; the flood path adds two lazily parsed forms (see `Entry`
and `scrollback.py`, which reads every form back).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import chain, compress, islice
from operator import ne
from typing import cast

from wcwidth import wcwidth

from widgets.terminal.styles import FILL_IDS

ZWJ = "\u200d"


@lru_cache(maxsize=4096)
def char_width(c: str) -> int:
    """Cells taken by one code point: 0 (combining / format), 1 or 2 — wcwidth's tables, like tmux's wcwidth.

    One exception: a regional indicator (half a flag) takes one cell, as in tmux (glibc's width) and in Rich, which
    measures what the pane draws — wcwidth 0.9 says two. A flag is then two cells, as tmux shows it."""
    if "\U0001f1e6" <= c <= "\U0001f1ff":
        return 1
    w = wcwidth(c)
    return 1 if w < 0 else w


CELL_BYTES = 21  # what one cell holds, in UTF-8 (tmux's UTF8_SIZE): marks past it are dropped, as tmux drops them


def combine(cell: str, add: str) -> str:
    """`add` (zero-width characters) joined onto a cell, one code point at a time while the cell stays within
    CELL_BYTES: a four-person ZWJ family keeps three people, as in tmux, and a flood of combining marks cannot grow
    one cell without bound."""
    size = len(cell.encode())
    for ch in add:
        size += len(ch.encode())
        if size > CELL_BYTES:
            break
        cell += ch
    return cell


def clusters(text: str) -> list[tuple[str, int]]:
    """Stored text (cells' characters joined) as the cells it takes: (cluster, width) for each, the way the emulator
    lays text out: a zero-width character joins the cluster before it, and so does the character after a
    zero-width joiner — so a ZWJ emoji sequence is one 2-cell cluster, as in tmux 3.3."""
    if text.isascii():
        return [(c, 1) for c in text]
    out: list[tuple[str, int]] = []
    zwj = False
    for c in text:
        w = char_width(c)
        if zwj:
            zwj = False
            # (what `_print_wide` joined: non-ASCII, within the cell's bytes; a joiner left last in a full cell
            # joins nothing)
            if c > "\x7f" and out and len(out[-1][0].encode()) + len(c.encode()) <= CELL_BYTES:
                out[-1] = (out[-1][0] + c, out[-1][1])
                continue
        if c == ZWJ:
            zwj = True
        if w == 0:
            if out:
                out[-1] = (out[-1][0] + c, out[-1][1])
            continue
        out.append((c, w))
    return out


def _trim(text: str, end: int, used: int) -> str:
    """`text`, a row's cells up to column `end`, without its trailing blanks past column `used`."""
    stripped = text.rstrip(" ")
    blanks = len(text) - len(stripped)  # one cell each
    if end - blanks >= used:
        return stripped
    return text[: len(text) - (end - used)]


class Line:
    """One screen row: parallel lists of characters ("" marks the right half of a wide character) and style ids.

    `used` is how many cells from the left have been written (tmux's `cellused`): text, spaces included, up to
    there; blanks past it are not. Printing and shifting cells (ICH, DCH) raise it, clearing the whole row resets
    it; reflow and the scrollback keep a row's cells up to it, so spaces a program wrote stay, as in tmux.
    `cache` is the widget's rendered strip; every mutation sets it to None, so only changed lines are rebuilt.
    """

    __slots__ = ("cache", "chars", "padded", "phantom", "styles", "used", "wrapped")

    def __init__(self, cols: int, fill: int = 0, phantom: bool = False) -> None:
        self.chars = [" "] * cols
        self.styles = [fill] * cols
        self.used = 0
        self.wrapped = False
        self.padded = False  # wrapped because a wide character did not fit: the last cell is only padding
        # a stand-in left on screen by the flood path for a row that already went to the scrollback: it is
        # scrolled off again before anyone sees it, and must not be recorded twice
        self.phantom = phantom
        self.cache: object | None = None

    def packed(self) -> str | Runs:
        """The line as a scrollback entry (see `pack_runs`)."""
        if self.wrapped:
            return pack_runs(self.segments(full=True), PAD_MARK if self.padded else WRAP_MARK)
        return pack_runs(self.segments())

    def text(self) -> str:
        return "".join(self.chars)

    def is_blank(self) -> bool:
        """Nothing written (tmux's `cellused` is 0), whatever colour an erase left: spaces a program wrote are
        text, a row cleared in a background colour is not."""
        return self.used == 0 and not "".join(self.chars).strip(" ")

    def resize(self, cols: int) -> None:
        n = len(self.chars)
        if cols < n:
            del self.chars[cols:]
            del self.styles[cols:]
            self.used = min(self.used, cols)
            if cols and self.chars[cols - 1] and char_width(self.chars[cols - 1][0]) == 2:
                self.chars[cols - 1] = " "  # half a wide character cannot be shown
        elif cols > n:
            self.chars.extend([" "] * (cols - n))
            self.styles.extend([0] * (cols - n))
        self.cache = None

    def segments(self, full: bool = False) -> list[tuple[str, int]]:
        """Runs of (text, style); trailing default blanks past the written cells (`used`) dropped unless `full` (a
        wrapped line's blanks are part of the text that goes on in the next row). Wide characters' "" halves vanish
        in the join."""
        styles = self.styles
        chars = self.chars
        n = len(styles)
        if n == 0:
            return []
        s0 = styles[0]
        if styles.count(s0) == n:
            text = "".join(chars)
            return [(_trim(text, n, self.used) if not full else text, 0)] if s0 == 0 else [(text, s0)]
        # run boundaries found by C-level map/compress rather than a Python loop over every cell
        cuts = [0, *compress(range(1, n), map(ne, styles, islice(styles, 1, None))), n]
        out: list[tuple[str, int]] = []
        for a, b in zip(cuts, islice(cuts, 1, None)):  # noqa: B905 - cuts[1:] is one shorter by design
            out.append(("".join(chars[a:b]), styles[a]))
        text, style = out[-1]
        if style == 0 and not full:
            text = _trim(text, n, self.used)
            if text:
                out[-1] = (text, 0)
            else:
                out.pop()
        return out


# A scrollback entry: plain text (default style), (pen, raw text with SGR) parsed when viewed, a packed line's runs
# flattened (text, style, text, style, ...) and then WRAP_MARK if the line wrapped into the next, a Line not
# packed yet, or one row of a long raw line the flood path cut by autowrap: (pen, raw, start, stop, mark) — the
# columns [start, stop) of the whole logical line `raw` (ASCII text with SGR, parsed from `pen` when viewed), with
# mark WRAP_MARK when the row goes on in the next, else 0. Its rows share the one `raw` string.
Runs = tuple[str | int, ...]
WRAP_MARK = -1
PAD_MARK = -2  # wrapped, and the last cell is the blank a wide character left when it went on to the next row
RawRow = tuple[int, str, int, int, int]
Entry = str | tuple[int, str] | Runs | Line | RawRow


def pack_runs(runs: list[tuple[str, int]], mark: int | None = None) -> str | Runs:
    """A row as a scrollback entry: its text when it is all default style, else its runs flattened into one tuple
    (text, style, text, style, ...), with `mark` (WRAP_MARK / PAD_MARK) last when the row goes on in the next. A
    few hundred bytes instead of ~3 KB at 200 columns, and one object of atomic parts, which the garbage collector
    soon stops tracking."""
    flat = cast("Iterable[str | int]", chain.from_iterable(runs))
    if mark is not None:
        return (*flat, mark)
    if not runs:
        return ""
    if len(runs) == 1 and runs[0][1] == 0:
        return runs[0][0]
    return tuple(flat)


def segments_to_line(segs: Iterable[tuple[str, int]], cols: int) -> Line:
    """A row of `cols` cells holding `segs` (runs of text, style); what does not fit is cut off. Its text counts
    as written (`Line.used`); an erase's background after it does not."""
    line = Line(cols)
    x = 0
    for text, style in segs:
        for c, w in clusters(text):
            if x + w > cols:
                return line
            line.chars[x] = c
            line.styles[x] = style
            if w == 2:
                line.chars[x + 1] = ""
                line.styles[x + 1] = style
            x += w
        if style not in FILL_IDS:
            line.used = x
    return line

"""Differential tests of the flood path on non-ASCII text: floods of short lines of accented Latin, CJK and emoji,
fed in one read as a flood arrives, against tmux (`test_terminal_diff.TmuxRef`), cell by cell on every row of the
scrollback and the screen, and after a reflow.

The flood path keeps a line with non-ASCII text raw in the scrollback when each of its characters takes a cell or
two of its own and it fits the screen (`Emulator._bulk_stop`); lines with combining marks or variation selectors, and
lines whose wide characters wrap, stop a block and are laid out by the exact path. Streams mix both, so a test
fails if the flood path keeps a line it should not, or if the lines around an odd one lose their place.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.conftest import require
from tests.widgets.test_terminal_diff import (
    FAMILY,
    Cell,
    TmuxRef,
    parse_tmux_capture,
    strip_trailing,
    tmux_all_rows,
    trim,
)
from widgets.terminal.emulator import Emulator
from widgets.terminal.scrollback import entry_to_line
from widgets.terminal.styles import STYLES

FITS = ["café", "naïve", "Ærøskøbing", "漢字テキスト", "中文", "한국어", "😀", "🚀", "straße", "—", "…", "Ωμέγα"]
ODD = ["e\u0301", "\u2764\ufe0f", "a\u0308\u0301"]  # combining marks, a variation selector: the exact path's
COLOURS = ["", "\x1b[31m", "\x1b[1;32m", "\x1b[38;5;123m", "\x1b[44m", "\x1b[48;2;10;20;30m", "\x1b[4m"]


@pytest.fixture
def ref() -> Iterator[TmuxRef]:
    require("tmux")
    r = TmuxRef()
    yield r
    r.close()


def non_ascii_flood(seed: int, cols: int, lines: int, odd: float = 0.02) -> bytes:
    """Short lines of non-ASCII words, some coloured (a background too: the row's erase fill), a few with a
    cluster (`odd` of them) and a few wider than the screen (wide characters meeting the right edge)."""
    rnd = random.Random(seed)
    out = []
    for i in range(lines):
        n = rnd.randrange(1, 5) if rnd.random() > odd else cols // 2  # (cols // 2 words: it wraps)
        words = [rnd.choice(ODD if rnd.random() < odd else FITS) for _ in range(n)]
        colour = rnd.choice(COLOURS)
        reset = rnd.choice(["\x1b[0m", "", "\x1b[m"])
        out.append(f"{i} {colour}{' '.join(words)}{reset}\r\n")
    return "".join(out).encode()


def tmux_all_cells(ref: TmuxRef, name: str) -> list[list[Cell]]:
    """Every row of the scrollback and the screen, with styles."""
    return parse_tmux_capture(ref.tmux("capture-pane", "-p", "-e", "-S", "-", "-E", "-", "-t", name))


def our_all_cells(screen: Emulator) -> list[list[Cell]]:
    lines = [entry_to_line(entry, screen.cols) for entry in screen.history] + screen.lines
    return [strip_trailing([(c, STYLES[s]) for c, s in zip(ln.chars, ln.styles, strict=True)]) for ln in lines]


def raw_non_ascii(screen: Emulator) -> int:
    """Scrollback entries the flood path kept raw with their SGR, `(pen, raw)`, holding non-ASCII text (the exact
    path packs a line into runs instead)."""
    return sum(1 for e in screen.history if type(e) is tuple and len(e) == 2 and not str(e[1]).isascii())


def trim_cells(rows: list[list[Cell]]) -> list[list[Cell]]:
    while rows and not rows[-1]:
        rows = rows[:-1]
    return rows


def first_difference(ours: list[list[Cell]], theirs: list[list[Cell]]) -> str:
    for y, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a != b:
            return f"row {y}:\n ours: {''.join(c for c, _ in a)!r}\n tmux: {''.join(c for c, _ in b)!r}\n {a}\n {b}"
    return f"{len(ours)} rows against tmux's {len(theirs)}"


def test_non_ascii_flood_matches_tmux_on_every_row(ref: TmuxRef) -> None:
    """Accented, CJK and emoji short lines in one read (a flood): every row of the scrollback and the screen as
    tmux has them, cell by cell with colours, and most of the lines kept raw by the flood path (before, every
    line with a non-ASCII character took the exact path)."""
    cols, rows = 40, 10
    for seed in (1, 2):
        data = non_ascii_flood(seed, cols, 1500) + "tail 漢字 \x1b[33mprompt$ ".encode()
        name = ref.start(data, cols, rows)
        ref.tmux("wait-for", name)
        ours = Emulator(cols, rows, scrollback=2000)  # tmux's history-limit is 2000: the same rows are kept
        ours.feed(data)
        assert raw_non_ascii(ours) > 700, f"seed {seed}: the flood path did not take the non-ASCII lines"
        mine, theirs = trim_cells(our_all_cells(ours)), trim_cells(tmux_all_cells(ref, name))
        assert mine == theirs, f"seed {seed}: " + first_difference(mine, theirs)
        cur = ref.tmux("display-message", "-p", "-t", name, "#{cursor_x},#{cursor_y}").strip()
        assert f"{ours.x},{ours.y}" == cur
        ref.tmux("kill-session", "-t", name)


def test_non_ascii_flood_in_pieces_matches_tmux(ref: TmuxRef) -> None:
    """The same in pieces of a burst, as the pane feeds a flood (`more=True` but for the last), with more odd
    lines: the lines the flood path carries from one piece to the next keep their place."""
    cols, rows = 30, 8
    data = non_ascii_flood(3, cols, 3000, odd=0.2) + b"$ "
    name = ref.start(data, cols, rows)
    ref.tmux("wait-for", name)
    ours = Emulator(cols, rows, scrollback=2000)
    piece = 4096
    for i in range(0, len(data), piece):
        ours.feed(data[i : i + piece], more=i + piece < len(data))
    # (the last 1500 rows: when the scrollback is full, tmux drops its oldest rows a tenth at a time)
    mine, theirs = trim_cells(our_all_cells(ours))[-1500:], trim_cells(tmux_all_cells(ref, name))[-1500:]
    assert mine == theirs, first_difference(mine, theirs)
    ref.tmux("kill-session", "-t", name)


def test_non_ascii_flood_reflows_like_tmux(ref: TmuxRef) -> None:
    """Raw non-ASCII lines rewrap as tmux rewraps them: narrower (the CJK lines now wrap, a wide character that
    meets the edge goes on in the next row) and wider again."""
    cols, rows = 40, 10
    data = non_ascii_flood(4, cols, 400) + b"$ "
    name = ref.start(data, cols, rows)
    ref.tmux("wait-for", name)
    ours = Emulator(cols, rows, scrollback=2000)
    ours.feed(data)
    assert raw_non_ascii(ours) > 150
    for width in (17, 61, 9, 40):
        ref.tmux("resize-window", "-t", name, "-x", str(width), "-y", str(rows))
        ours.resize(width, rows)
        theirs, cursor = tmux_all_rows(ref, name)
        mine = [r.rstrip() for r in ("".join(t for t, _ in ours.history_segments(i)) for i in range(len(ours.history)))]
        assert trim([*mine, *(r.rstrip() for r in ours.display())]) == trim(theirs), f"at {width} columns"
        assert (ours.x, ours.y) == cursor, f"cursor at {width} columns"
    ref.tmux("kill-session", "-t", name)


def test_non_ascii_flood_does_not_depend_on_reads() -> None:
    """A flood with joiners too (a family emoji; a joiner at a line's end joins the next line's first non-ASCII
    character, as tmux 3.3 does), fed in one read and in small ones (the exact path): the same rows, so the flood
    path kept no line whose layout depends on what came before it."""
    cols, rows = 40, 10
    text = non_ascii_flood(5, cols, 800).decode()
    lines = text.split("\r\n")
    for k in range(0, len(lines) - 1, 37):
        lines[k] += FAMILY if k % 2 else "\u200d"  # (a joiner left waiting at the end of the line)
    data = "\r\n".join(lines).encode()
    whole = Emulator(cols, rows, scrollback=5000)
    whole.feed(data)
    assert raw_non_ascii(whole) > 150
    pieces = Emulator(cols, rows, scrollback=5000)
    for i in range(0, len(data), 97):
        pieces.feed(data[i : i + 97])
    assert our_all_cells(whole) == our_all_cells(pieces)

"""Differential tests of what a row counts as written (tmux's `cellused`, our `Line.used`) against tmux
(`test_terminal_diff.TmuxRef`): every row of the scrollback and the screen, and the cursor.

* Clearing the screen (ED 2) moves the rows down to the last written one into the scrollback: a row of spaces a
  program wrote counts, a row an erase painted in a background colour does not (before, the emulator looked at
  the cells: it dropped the first and kept the second).
* Cells erased in a background colour within what was written stay written: a reflow keeps them (before, an EL or
  ECH at the end of a row's text lost them, so the rows after it sat higher than in tmux).
* A lower screen drops the rows below the cursor whatever they hold, as tmux does, before rows above go to the
  scrollback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import require
from tests.widgets.test_terminal_diff import TmuxRef, our_all_rows, tmux_all_rows, trim
from widgets.terminal.emulator import Emulator


@pytest.fixture
def ref() -> Iterator[TmuxRef]:
    require("tmux")
    r = TmuxRef()
    yield r
    r.close()


# (stream, columns, rows, the sizes it is resized to after: none for the clears)
CASES = {
    "clear-keeps-a-row-of-written-spaces": ("a\r\nb\r\n   \x1b[H\x1b[2J$ ", 20, 5, []),
    "clear-keeps-written-spaces-between": ("a\r\n   \r\nb\r\n\x1b[3A\x1b[2J$ ", 20, 5, []),
    "clear-drops-a-row-erased-in-colour": ("a\r\nb\r\n\x1b[44m\x1b[2K\x1b[0m\x1b[H\x1b[2J$ ", 20, 5, []),
    "clear-drops-a-row-ech-in-colour": ("a\r\nb\r\n\x1b[44m\x1b[5X\x1b[0m\x1b[H\x1b[2J$ ", 20, 5, []),
    "el-in-colour-within-the-text": (
        "pre\r\nabcdefghij\r\x1b[3C\x1b[44m\x1b[K\x1b[0m\r\nnext\r\n$ ",
        30,
        6,
        [(5, 6), (30, 6), (7, 6)],
    ),
    "ech-in-colour-past-the-text": (
        "pre\r\nabcdefghij\r\x1b[6C\x1b[44m\x1b[10X\x1b[0m\r\nnext\r\n$ ",
        30,
        6,
        [(4, 6), (30, 6), (9, 6)],
    ),
    "el1-in-colour": ("pre\r\nabcdefghij\x1b[4D\x1b[44m\x1b[1K\x1b[0m\r\nnext\r\n$ ", 30, 6, [(4, 6), (30, 6)]),
    "lower-drops-text-below-the-cursor": ("a\r\nb\x1b[4;1Hxyz\x1b[2;2H", 20, 5, [(20, 3)]),
    "lower-drops-colour-below-the-cursor": ("a\r\nb\x1b[5;1H\x1b[44m\x1b[3X\x1b[0m\x1b[2;2H", 20, 5, [(20, 4)]),
    "lower-drops-spaces-below-the-cursor": ("a\r\nb\x1b[5;1H   \x1b[2;2H", 20, 5, [(20, 4)]),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_written_cells_like_tmux(case: str, chunk: int, ref: TmuxRef) -> None:
    text, cols, rows, sizes = CASES[case]
    data = text.encode()
    name = ref.start(data, cols, rows)
    ref.tmux("wait-for", name)
    ours = Emulator(cols, rows, scrollback=100)
    for i in range(0, len(data), chunk):
        ours.feed(data[i : i + chunk])
    for width, height in [(cols, rows), *sizes]:
        if (width, height) != (cols, rows):
            ref.tmux("resize-window", "-t", name, "-x", str(width), "-y", str(height))
            ours.resize(width, height)
        theirs, cursor = tmux_all_rows(ref, name)
        assert trim(our_all_rows(ours)) == trim(theirs), f"{case} at {width}x{height}"
        assert (ours.x, ours.y) == cursor, f"{case}: cursor at {width}x{height}"
    ref.tmux("kill-session", "-t", name)

"""The flood path on output that wraps: lines wider than the screen, and one long run of text (a minified JSON).

`Emulator` takes whole blocks of such output without laying out the rows that scroll by unseen (`Emulator._bulk`,
`Emulator._bulk_run`). Each stream here goes through it (fed in one read, or in reads of 64 KiB) and through the
exact path (the same bytes in reads of 61 bytes, which never hold enough lines for the flood path), and the two
must leave the same screen, cursor, pen and scrollback, cell by cell — character and style — with the same rows
marked as wrapped (what a later resize reflows by). The same streams also go to tmux, a reference nobody here
wrote: its screen and whole scrollback (`capture-pane -e -S -`), cell by cell, and its logical lines (`-J`, which
joins the rows it marked as wrapped) must equal ours.

Streams are generated from seeds: colourful lines of random widths (empty, exactly the width, several rows), SGR
changes anywhere (right at the margin, at a line's end, a background carried over the line feed), and now and
then what the flood path leaves to the exact path — a wide CJK character or an emoji at the margin, a combining
mark, tabs, a bare CR (progress bars), a bare LF.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.conftest import require
from tests.widgets.test_terminal_diff import TmuxRef, parse_tmux_capture, strip_trailing
from widgets.terminal.emulator import Emulator
from widgets.terminal.rows import Entry, segments_to_line
from widgets.terminal.scrollback import entry_padded, entry_segments, entry_wrapped
from widgets.terminal.styles import STYLES, Style

Row = tuple[list[tuple[str, Style]], bool, bool]  # cells, wrapped, padded

WORDS = ["alpha", "beta", "request", "=", "{", '"key":', "0123456789", "--flag", "/usr/lib/x86_64", "ok"]
SPICE = ["漢字", "😀", "e\u0301", "\t", "ｱ"]


def sgr(rnd: random.Random) -> str:
    return rnd.choice(
        [
            "\x1b[0m",
            "\x1b[m",
            "\x1b[1m",
            "\x1b[4;34m",
            "\x1b[22;24m",
            f"\x1b[{rnd.randrange(30, 38)}m",
            f"\x1b[{rnd.randrange(40, 48)}m",
            f"\x1b[38;5;{rnd.randrange(256)}m",
            f"\x1b[48;5;{rnd.randrange(256)}m",
            f"\x1b[38;2;{rnd.randrange(256)};{rnd.randrange(256)};{rnd.randrange(256)}m",
            "\x1b[39;49m",
        ]
    )


def wrapping_stream(seed: int, cols: int, lines: int = 900, spice: float = 0.006, bce: bool = True) -> bytes:
    """Output that wraps, ending at a prompt (see the module docstring). `bce=False`: every line ends in a reset,
    so no row is scrolled in under a background colour."""
    rnd = random.Random(seed)
    out: list[str] = []
    for i in range(lines):
        kind = rnd.random()
        width = rnd.choice([0, 1, cols - 1, cols, cols + 1, 2 * cols, 3 * cols - 1, rnd.randrange(4 * cols)])
        text: list[str] = [f"{i}:"]
        x = len(text[0])
        while x < width:
            if rnd.random() < 0.35:
                text.append(sgr(rnd))
            word = rnd.choice(WORDS)
            if rnd.random() < 0.2:
                # a colour change right at the margin: it applies to the first character of the next row
                word = " " * max(0, cols - x % cols)
                text.append(word)
                text.append(sgr(rnd))
                x += len(word)
                continue
            text.append(word + " ")
            x += len(word) + 1
        if kind < spice:
            # what the exact path keeps for itself; a wide character is put right at the margin
            extra = rnd.choice(SPICE)
            pad = (cols - 1) - x % cols
            text.append("-" * pad + extra + "tail")
        elif kind < spice * 1.2:
            text.append("\r" + rnd.choice(WORDS))  # a progress bar overwriting its own row
        elif kind < spice * 1.4:
            # a bare line feed: the column stays. (Not with a wrap pending: the row below is then marked wrapped
            # though nothing was written in it, which tmux's -J tells from a row of blanks and we do not.)
            text.append(("." if x % cols == 0 else "") + "\n" + rnd.choice(WORDS))
        # a line does not end in blanks: tmux keeps written blanks for reflow, the exact path drops them (and
        # which one is right is not this test's question)
        text.append("|")
        if rnd.random() < 0.3:
            text.append(sgr(rnd))  # the line ends on a colour change
        if not bce:
            text.append("\x1b[0m")
        out.append("".join(text))
        if rnd.random() < 0.01:
            # one long run of text, many rows of it (a minified JSON), under a colour
            out.append(sgr(rnd) + "".join(rnd.choice(WORDS) for _ in range(rnd.randrange(50, 400))))
    return ("\r\n".join(out) + "\r\n\x1b[0m$ ").encode()


class ExactScreen(Emulator):
    """The reference: the flood path switched off, so every character is laid out."""

    def _bulk(self, text: str, pos: int) -> int:
        return pos

    def _can_bulk(self) -> bool:
        return False


class FloodScreen(Emulator):
    """The production screen, counting the rows the flood path sent to the scrollback without laying them out."""

    bulk_rows = 0

    def _bulk_wrapped(self, raw_lines: list[str], widths: list[int], pen: int) -> int:
        before = self._pushed
        pen = super()._bulk_wrapped(raw_lines, widths, pen)
        self.bulk_rows += self._pushed - before
        return pen

    def _bulk_run(self, s: str, pos: int) -> int:
        new = super()._bulk_run(s, pos)
        self.bulk_rows += (new - pos) // self.cols
        return new


def run(data: bytes, cols: int, rows: int, chunk: int, scrollback: int = 100_000, exact: bool = False) -> Emulator:
    screen = (ExactScreen if exact else FloodScreen)(cols, rows, scrollback=scrollback)
    for i in range(0, len(data), chunk):
        screen.feed(data[i : i + chunk])
    return screen


def bulk_rows(screen: Emulator) -> int:
    return screen.bulk_rows if isinstance(screen, FloodScreen) else 0


def cells(entry: Entry, cols: int) -> list[tuple[str, Style]]:
    line = segments_to_line(entry_segments(entry, cols), cols)
    return strip_trailing([(c, STYLES[s]) for c, s in zip(line.chars, line.styles, strict=True)])


def all_rows(screen: Emulator) -> list[Row]:
    """Every scrollback row and every screen row: cells, and whether it is marked as wrapped (and padded)."""
    out: list[Row] = [(cells(e, screen.cols), entry_wrapped(e), entry_padded(e)) for e in screen.history]
    for line in screen.lines:
        row = strip_trailing([(c, STYLES[s]) for c, s in zip(line.chars, line.styles, strict=True)])
        out.append((row, line.wrapped, line.padded))
    return out


def first_difference(a: list[Row], b: list[Row]) -> str:
    for i, (ra, rb) in enumerate(zip(a, b, strict=False)):
        if ra != rb:
            text = "".join(c for c, _ in ra[0]), "".join(c for c, _ in rb[0])
            return f"row {i} of {len(a)}: {text[0]!r} {ra[1:]} vs {text[1]!r} {rb[1:]}"
    return f"{len(a)} rows vs {len(b)}"


SIZES = [(80, 24), (37, 11), (200, 50), (23, 3)]


@pytest.mark.parametrize("seed", range(8))
def test_wrapping_flood_equals_the_exact_path_cell_by_cell(seed: int) -> None:
    cols, rows = SIZES[seed % len(SIZES)]
    data = wrapping_stream(seed, cols)
    small = run(data, cols, rows, chunk=61)  # small reads: the production screen lays everything out
    assert bulk_rows(small) == 0
    for chunk in (len(data), 65536):
        exact = run(data, cols, rows, chunk=chunk, exact=True)
        fast = run(data, cols, rows, chunk=chunk)
        assert bulk_rows(fast) > 100, "the flood path did not take the wrapping lines"
        got, want = all_rows(fast), all_rows(exact)
        assert got == want, f"chunk {chunk}: {first_difference(got, want)}"
        assert got == all_rows(small), f"chunk {chunk} vs 61: {first_difference(got, all_rows(small))}"
        assert (fast.x, fast.y, fast.wrapnext, fast.pen) == (exact.x, exact.y, exact.wrapnext, exact.pen)


@pytest.mark.parametrize(("cols", "rows", "limit"), [(80, 24, 1000), (37, 11, 333)])
def test_wrapping_flood_keeps_the_last_rows_when_the_scrollback_is_full(cols: int, rows: int, limit: int) -> None:
    """Far more rows than the scrollback holds: the same last `limit` rows, the oldest ones cut mid-line."""
    data = wrapping_stream(40 + cols, cols, lines=3000, spice=0)
    exact = run(data, cols, rows, chunk=len(data), scrollback=limit, exact=True)
    fast = run(data, cols, rows, chunk=len(data), scrollback=limit)
    assert bulk_rows(fast) >= limit // 2
    assert len(fast.history) == limit
    assert fast.scrolled_lines == exact.scrolled_lines
    assert all_rows(fast) == all_rows(exact), first_difference(all_rows(fast), all_rows(exact))


def test_a_long_run_of_text_equals_the_exact_path() -> None:
    """A 1 MB minified-JSON-like line under a colour, then more output: the rows that scroll by are sliced."""
    rnd = random.Random(3)
    blob = "".join(rnd.choice(WORDS) for _ in range(120_000))
    data = ("\x1b[48;5;17mhead " + blob + "\x1b[0m end\r\n$ ").encode()
    for cols, rows in ((80, 24), (200, 50), (7, 2)):
        exact = run(data, cols, rows, chunk=65536, scrollback=5000, exact=True)
        fast = run(data, cols, rows, chunk=65536, scrollback=5000)
        assert bulk_rows(fast) > len(blob) // cols // 2
        assert all_rows(fast) == all_rows(exact), first_difference(all_rows(fast), all_rows(exact))
        assert fast.scrolled_lines == exact.scrolled_lines
        assert (fast.x, fast.y, fast.pen) == (exact.x, exact.y, exact.pen)


def test_reflow_after_a_wrapping_flood_equals_the_exact_path() -> None:
    """The rows marked as wrapped join up again on resize: narrower and wider, the same rows as the exact path's.
    (No background carried over a line feed: the exact path reflows a row's background-filled blanks as text,
    where tmux and the flood path do not.)"""
    data = wrapping_stream(11, 80, lines=600, bce=False)
    exact = run(data, 80, 24, chunk=len(data), scrollback=3000, exact=True)
    fast = run(data, 80, 24, chunk=len(data), scrollback=3000)
    assert bulk_rows(fast) > 100
    # taller first: rows come back from the scrollback onto the screen, wrapped marks and all
    for cols, rows in ((80, 40), (57, 40), (131, 24), (33, 30), (80, 24)):
        exact.resize(cols, rows)
        fast.resize(cols, rows)
        got, want = all_rows(fast), all_rows(exact)
        assert got == want, f"at {cols}x{rows}: {first_difference(got, want)}"
        assert (fast.x, fast.y) == (exact.x, exact.y)


# -- against tmux -------------------------------------------------------------------------------------------------
@pytest.fixture
def tmux() -> Iterator[TmuxRef]:
    require("tmux")
    ref = TmuxRef()
    ref.tmux("set", "-g", "history-limit", "100000")  # for the sessions started from now on
    yield ref
    ref.close()


def tmux_rows(ref: TmuxRef, name: str) -> tuple[list[list[tuple[str, Style]]], list[str], tuple[int, int]]:
    ref.tmux("wait-for", name)
    rows = parse_tmux_capture(ref.tmux("capture-pane", "-p", "-e", "-S", "-", "-E", "-", "-t", name))
    joined = ref.tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", name)
    cur = ref.tmux("display-message", "-p", "-t", name, "#{cursor_x},#{cursor_y}").strip().split(",")
    ref.tmux("kill-session", "-t", name)
    return rows, [r.rstrip() for r in joined.split("\n")], (int(cur[0]), int(cur[1]))


def logical_lines(rows: list[Row], cols: int) -> list[str]:
    """Rows joined where they are marked as wrapped (a padded row's last blank is not text), as `-J` joins."""
    out: list[str] = []
    cur = ""
    for cells_, wrapped, padded in rows:
        text = "".join(c for c, _ in cells_)
        if wrapped:
            # a wrapped row is written up to the margin (less a wide character's padding), blanks included
            cur += text.ljust(cols - len([c for c, _ in cells_ if c == ""]) - padded)
            continue
        out.append((cur + text).rstrip())
        cur = ""
    return out


def trim(rows: list[object]) -> list[object]:
    while rows and rows[-1] in ([], ""):
        rows = rows[:-1]
    return rows


@pytest.mark.parametrize("seed", range(4))
def test_wrapping_flood_equals_tmux_screen_and_scrollback(seed: int, tmux: TmuxRef) -> None:
    cols, rows = SIZES[seed % len(SIZES)]
    # odd seeds: wide characters at the margin, tabs, bare CR and LF every ~10 lines
    data = wrapping_stream(100 + seed, cols, lines=700, spice=0.05 if seed % 2 else 0.006)
    name = tmux.start(data, cols, rows)
    ours = run(data, cols, rows, chunk=len(data))
    assert bulk_rows(ours) > 100
    theirs, joined, cursor = tmux_rows(tmux, name)
    mine = all_rows(ours)
    got = trim([r[0] for r in mine])
    want = trim(theirs)
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        assert a == b, f"row {i}: ours {''.join(c for c, _ in a)!r}, tmux {''.join(c for c, _ in b)!r}"
    assert len(got) == len(want)
    assert trim(logical_lines(mine, cols)) == trim(joined)
    assert (ours.x, ours.y) == cursor


@pytest.mark.parametrize("every", [2, 60])
def test_lines_the_flood_path_leaves_end_a_block_and_it_takes_up_again(every: int) -> None:
    """A wide or combining character, a tab or a bare CR every few lines: those lines are laid out exactly, the
    flood path takes the runs between them when they are long enough — the same screen and scrollback."""
    rnd = random.Random(every)
    lines = []
    for i in range(4000):
        text = f"\x1b[3{i % 8}m{i:05d}\x1b[0m " + " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(40)))
        if i % every == 0:
            text += " " + rnd.choice(["漢字", "→", "e\u0301", "\tx", "\rover", "😀"])
        lines.append(text)
    data = ("\r\n".join(lines) + "\r\n$ ").encode()
    exact = run(data, 80, 24, chunk=65536, scrollback=20_000, exact=True)
    fast = run(data, 80, 24, chunk=65536, scrollback=20_000)
    if every > 24:
        assert bulk_rows(fast) > 1000
    got, want = all_rows(fast), all_rows(exact)
    assert got == want, first_difference(got, want)
    assert (fast.x, fast.y, fast.pen) == (exact.x, exact.y, exact.pen)

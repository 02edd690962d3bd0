"""Differential tests: our emulator against tmux, a reference nobody here wrote.

The same bytes go to `Emulator` and to a detached tmux session of the same size (its pane runs `stty raw; cat FILE`, so
the bytes reach tmux's parser unchanged); the final screens are compared cell by cell — character and style (colour,
bold, underline, ...) parsed from `capture-pane -p -e` — and the cursor position. Streams: recordings of real
programs in `tests/data/terminal/*.bin` (see `record.py` there) and seeded random mixes of text, SGR, cursor motion,
erasing, insert/delete, scroll regions, wide characters and the alternate screen.

tmux's capture drops trailing blank cells (even coloured ones), so trailing blanks are not compared.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from widgets.terminal.emulator import Emulator
from widgets.terminal.rows import char_width, clusters
from widgets.terminal.styles import SGR_RE, STYLES, Style, apply_sgr

DATA = Path(__file__).resolve().parents[1] / "data" / "terminal"
RECORDED = sorted(p.stem for p in DATA.glob("*.bin"))

Cell = tuple[str, Style]
_counter = itertools.count()


class TmuxRef:
    """A private tmux server: feed streams to sessions of a given size, read back their screens."""

    def __init__(self) -> None:
        self.sock = f"sbt-{os.getpid()}-{next(_counter)}"
        self.tmp = Path(tempfile.mkdtemp(prefix="sbt-tmux-"))
        self.n = 0
        # sessions are killed once read; the server must not exit in between
        self.tmux("start-server", ";", "set", "-g", "exit-empty", "off")

    def tmux(self, *args: str, timeout: float = 20) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.sock, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            errors="surrogateescape",
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    def start(self, data: bytes, cols: int, rows: int) -> str:
        self.n += 1
        name = f"s{self.n}"
        path = self.tmp / f"{name}.bin"
        path.write_bytes(data)
        cmd = f"stty raw -echo; cat {path}; tmux -L {self.sock} wait-for -S {name}; exec sleep 60"
        self.tmux("new-session", "-d", "-s", name, "-x", str(cols), "-y", str(rows), cmd)
        return name

    def screen(self, name: str, *, wait: bool = True) -> tuple[list[list[Cell]], tuple[int, int]]:
        if wait:
            self.tmux("wait-for", name)
        raw = self.tmux("capture-pane", "-p", "-e", "-t", name)
        cur = self.tmux("display-message", "-p", "-t", name, "#{cursor_x},#{cursor_y}").strip().split(",")
        self.tmux("kill-session", "-t", name)
        return parse_tmux_capture(raw), (int(cur[0]), int(cur[1]))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def parse_tmux_capture(raw: str) -> list[list[Cell]]:
    """capture-pane -e output: SGR state carries over from one line to the next (tmux emits only changes)."""
    rows = []
    pen = 0
    for line in raw.split("\n"):
        cells, pen = parse_tmux_line(line, pen)
        rows.append(cells)
    return rows


def parse_tmux_line(line: str, pen: int) -> tuple[list[Cell], int]:
    cells: list[Cell] = []
    for i, part in enumerate(SGR_RE.split(line)):
        if i & 1:
            pen = apply_sgr(pen, part)
            continue
        # cells as tmux lays them out (`clusters`: combining marks and ZWJ sequences join the cell before them);
        # a zero-width character right after an SGR still belongs to the cell before it
        lead = 0
        while lead < len(part) and char_width(part[lead]) == 0:
            lead += 1
        if lead and cells:
            idx = len(cells) - 1 if cells[-1][0] else len(cells) - 2
            cells[idx] = (cells[idx][0] + part[:lead], cells[idx][1])
        for c, w in clusters(part[lead:]):
            cells.append((c, STYLES[pen]))
            if w == 2:
                cells.append(("", STYLES[pen]))
    return strip_trailing(cells), pen


def strip_trailing(cells: list[Cell]) -> list[Cell]:
    while cells and cells[-1][0] == " ":
        cells.pop()
    return cells


def our_cells(screen: Emulator) -> list[list[Cell]]:
    return [strip_trailing([(c, STYLES[s]) for c, s in zip(ln.chars, ln.styles, strict=True)]) for ln in screen.lines]


def run_ours(data: bytes, cols: int, rows: int, chunk: int = 4096) -> Emulator:
    screen = Emulator(cols, rows)
    for i in range(0, len(data), chunk):
        screen.feed(data[i : i + chunk])
    return screen


def describe(a: list[Cell], b: list[Cell]) -> str:
    for x, (ca, cb) in enumerate(itertools.zip_longest(a, b, fillvalue=("∅", Style()))):
        if ca != cb:
            return f"first difference at column {x}: ours {ca!r}, tmux {cb!r}"
    return "same"


def compare(data: bytes, cols: int, rows: int, ref: TmuxRef, name: str, label: str, *, wait: bool = True) -> Emulator:
    theirs, cursor = ref.screen(name, wait=wait)
    ours = run_ours(data, cols, rows)
    mine = our_cells(ours)
    for y in range(rows):
        t = theirs[y] if y < len(theirs) else []
        assert mine[y] == t, (
            f"{label}: row {y} differs ({describe(mine[y], t)})\n"
            f" ours: {''.join(c for c, _ in mine[y])!r}\n tmux: {''.join(c for c, _ in t)!r}"
        )
    assert (ours.x, ours.y) == cursor or (ours.wrapnext and (ours.x + 1, ours.y) == cursor), (
        f"{label}: cursor ours {(ours.x, ours.y)} tmux {cursor}"
    )
    return ours


ZWJ_RUNS = 5


def compare_zwj(data: bytes, cols: int, rows: int, ref: TmuxRef, label: str, name: str | None = None) -> None:
    """`compare` for a stream with ZWJ sequences, against up to three tmux runs: tmux forgets a pending joiner at
    the end of each read from its pane, so where the pty happens to split the stream inside a ZWJ sequence, its
    screen differs (the emoji after the joiner gets cells of its own). Ours does not depend on reads (the chunking
    test); it must equal tmux's screen as tmux shows it when nothing splits. Five runs: on a loaded machine (CI's
    two workers on two cores) tmux's reads split more often, and three all split a sequence in one full run."""
    for attempt in range(ZWJ_RUNS):
        try:
            compare(data, cols, rows, ref, name or ref.start(data, cols, rows), label)
            return
        except AssertionError:
            if attempt == ZWJ_RUNS - 1:
                raise
            name = None


@pytest.fixture
def ref() -> Iterator[TmuxRef]:
    require("tmux")
    r = TmuxRef()
    yield r
    r.close()


@pytest.mark.parametrize("stream", RECORDED)
def test_recorded_stream_matches_tmux(stream: str, ref: TmuxRef) -> None:
    data = (DATA / f"{stream}.bin").read_bytes()
    name = ref.start(data, 80, 24)
    if "\u200d".encode() in data:
        compare_zwj(data, 80, 24, ref, stream, name)
    else:
        compare(data, 80, 24, ref, name, stream)


@pytest.mark.parametrize("stream", RECORDED)
def test_recorded_stream_is_chunking_independent(stream: str) -> None:
    """Split anywhere (inside UTF-8 sequences and escape sequences): the same screen."""
    data = (DATA / f"{stream}.bin").read_bytes()
    whole = run_ours(data, 80, 24, chunk=len(data) + 1)
    for chunk in (1, 7, 333):
        assert run_ours(data, 80, 24, chunk=chunk).display() == whole.display(), f"chunk {chunk}"


# -- generated streams ------------------------------------------------------------------------------------------
# Wide characters are left out of the generated mixes on purpose: when a cursor move lands on half of one, tmux
# leaves an orphaned padding cell that its own capture-pane cannot show in place (xterm and we blank the other
# half). Wide and combining characters are covered by the recorded streams (cjk, vim_edit) instead.
WORDS = ["hello", "world", "terminal", "x", "lorem ipsum dolor", "e\u0301", "tab\tstop", "naïve café"]


def generate(seed: int, cols: int, rows: int, n: int = 400) -> bytes:
    return "".join(generate_tokens(seed, cols, rows, n)).encode()


def generate_tokens(seed: int, cols: int, rows: int, n: int = 400) -> list[str]:
    rnd = random.Random(seed)
    out: list[str] = []

    def sgr() -> str:
        choice = rnd.randrange(9)
        if choice == 0:
            return "\x1b[0m"
        if choice == 1:
            return f"\x1b[{rnd.choice([1, 2, 3, 4, 7, 9, 22, 23, 24, 27, 29])}m"
        if choice == 2:
            return f"\x1b[{rnd.randrange(30, 38)}m"
        if choice == 3:
            return f"\x1b[{rnd.randrange(40, 48)}m"
        if choice == 4:
            return f"\x1b[38;5;{rnd.randrange(256)}m"
        if choice == 5:
            return f"\x1b[48;5;{rnd.randrange(256)}m"
        if choice == 6:
            return f"\x1b[38;2;{rnd.randrange(256)};{rnd.randrange(256)};{rnd.randrange(256)}m"
        if choice == 7:
            return f"\x1b[{rnd.randrange(90, 98)}m"
        return "\x1b[39;49m"

    for _ in range(n):
        k = rnd.randrange(100)
        if k < 30:
            out.append(" ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(1, 8))))
        elif k < 45:
            out.append(sgr())
        elif k < 55:
            # a backspace never at the left edge: there tmux may reverse-wrap onto the line above, xterm does not
            out.append(rnd.choice(["\r\n", "\n", "\r", "x\b", "\t"]))
        elif k < 65:
            r, c = rnd.randrange(1, rows + 3), rnd.randrange(1, cols + 5)
            out.append(rnd.choice([f"\x1b[{r};{c}H", f"\x1b[{r}d", f"\x1b[{c}G", "\x1b[H"]))
        elif k < 72:
            n_ = rnd.randrange(0, 6)
            out.append(f"\x1b[{n_}{rnd.choice('ABCDEF')}")
        elif k < 80:
            out.append(
                rnd.choice(["\x1b[K", "\x1b[1K", "\x1b[2K", "\x1b[J", "\x1b[1J", f"\x1b[{rnd.randrange(1, 9)}X"])
            )
        elif k < 86:
            # no ICH (@) here: tmux 3.3a mis-inserts into a row whose last write left a pending wrap
            # ("abcdefghij" CUP(1,7) ICH 3 gives "abcdef hig"); test_terminal_screen.py checks ICH against xterm
            out.append(f"\x1b[{rnd.randrange(1, 5)}{rnd.choice('PLM')}")
        elif k < 90:
            top = rnd.randrange(1, rows)
            bottom = rnd.randrange(top + 1, rows + 1)
            out.append(rnd.choice([f"\x1b[{top};{bottom}r", "\x1b[r"]))
        elif k < 93:
            out.append(rnd.choice(["\x1bD", "\x1bM", "\x1bE", "\x1b7", "\x1b8", f"\x1b[{rnd.randrange(1, 4)}S"]))
        elif k < 95:
            out.append("\x1b[?1049h" if rnd.random() < 0.5 else "\x1b[?1049l")
        elif k < 97:
            out.append(f"\x1b[{rnd.randrange(1, 4)}T")
        else:
            out.append("x" * rnd.randrange(cols - 3, cols + 3))
    return out


SEEDS = list(range(60))


def test_generated_streams_match_tmux(ref: TmuxRef) -> None:
    cases = []
    for seed in SEEDS:
        cols, rows = (80, 24) if seed % 2 else (37, 11)
        data = generate(seed, cols, rows)
        cases.append((seed, data, cols, rows, ref.start(data, cols, rows)))
    failures = []
    for seed, data, cols, rows, name in cases:
        try:
            compare(data, cols, rows, ref, name, f"seed {seed} ({cols}x{rows})")
        except AssertionError as err:
            failures.append(str(err).split("\n")[0])
    assert not failures, "\n".join(failures)


def flood(cols: int, lines: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    out = []
    for i in range(lines):
        colour = rnd.choice(["", "\x1b[31m", "\x1b[1;32m", "\x1b[38;5;123m", "\x1b[48;2;10;20;30m", "\x1b[4m"])
        text = f"{i:06d} " + "word " * rnd.randrange(0, cols // 5 + 2)
        reset = rnd.choice(["\x1b[0m", "", "\x1b[m"])
        out.append(f"{colour}{text[: rnd.randrange(1, cols + 1)]}{reset}\r\n")
    return "".join(out).encode()


@pytest.mark.parametrize(("cols", "rows"), [(80, 24), (40, 10)])
def test_flood_path_matches_tmux(cols: int, rows: int, ref: TmuxRef) -> None:
    """Many colourful lines in big reads: the flood path (lines scrolling off unseen) must leave the same screen."""
    data = flood(cols, 3000, cols) + b"tail \x1b[33mprompt$ "
    name = ref.start(data, cols, rows)
    theirs, cursor = ref.screen(name)
    ours = Emulator(cols, rows)
    ours.feed(data)
    assert our_cells(ours) == theirs[:rows]
    assert (ours.x, ours.y) == cursor


def reflow_stream(seed: int, lines: int = 60, ascii_only: bool = False) -> bytes:
    """Lines of every length (empty, short, several rows long), some coloured, some with wide characters, ending
    at a prompt: what a shell's scrollback looks like."""
    rnd = random.Random(seed)
    words = ["alpha", "beta", "gamma", "δέλτα", "漢字テスト", "x", "build/out/main.o", "--flag=1"]
    if ascii_only:
        words = [w for w in words if w.isascii()]
    out: list[str] = []
    for i in range(lines):
        n = rnd.choice([0, 1, 3, 8, 15, 30])
        text = " ".join(rnd.choice(words) for _ in range(n))
        if rnd.random() < 0.3:
            text = f"\x1b[{rnd.choice(['31', '1;32', '38;5;99', '44'])}m{text}\x1b[0m"
        out.append(f"{i}:{text}")
    return ("\r\n".join(out) + "\r\n$ ").encode()


def tmux_all_rows(ref: TmuxRef, name: str) -> tuple[list[str], tuple[int, int]]:
    raw = ref.tmux("capture-pane", "-p", "-S", "-", "-E", "-", "-t", name)  # the scrollback and the screen
    cur = ref.tmux("display-message", "-p", "-t", name, "#{cursor_x},#{cursor_y}").strip().split(",")
    return [r.rstrip() for r in raw.split("\n")], (int(cur[0]), int(cur[1]))


def our_all_rows(screen: Emulator) -> list[str]:
    rows = ["".join(t for t, _ in screen.history_segments(i)) for i in range(len(screen.history))]
    return [r.rstrip() for r in (*rows, *screen.display())]


def trim(rows: list[str]) -> list[str]:
    while rows and not rows[-1]:
        rows = rows[:-1]
    return rows


@pytest.mark.parametrize(
    ("seed", "chunk"),
    [(1, 97), (2, 97), (3, 97), (4, 1 << 20)],
    ids=["wide-1", "wide-2", "wide-3", "flood-path"],
)
def test_resize_reflows_the_scrollback_and_screen_like_tmux(seed: int, chunk: int, ref: TmuxRef) -> None:
    """Narrower and wider again, through odd widths: every row of the scrollback and the screen, and the cursor,
    as tmux has them after the same resizes (tmux reflows; xterm would crop). Fed in small reads (the exact path,
    rows marked as wrapped as they are cut) and, ASCII only, in one read (short lines take the flood path)."""
    rows = 10
    data = reflow_stream(seed, ascii_only=seed == 4)
    # short lines first (as one read: the flood path keeps them raw in the scrollback)
    short = "".join(f"short {i}\x1b[3{i % 8}m!\x1b[0m\r\n" for i in range(400)).encode() if seed == 4 else b""
    name = ref.start(short + data, 40, rows)
    ref.tmux("wait-for", name)
    ours = Emulator(40, rows, scrollback=2000)
    ours.feed(short)
    for i in range(0, len(data), chunk):
        ours.feed(data[i : i + chunk])
    if seed == 4:
        assert any(type(e) is tuple and type(e[0]) is int for e in ours.history)  # raw (pen, text) entries
    for cols in (25, 61, 33, 17, 40):
        ref.tmux("resize-window", "-t", name, "-x", str(cols), "-y", str(rows))
        ours.resize(cols, rows)
        theirs, cursor = tmux_all_rows(ref, name)
        assert trim(our_all_rows(ours)) == trim(theirs), f"at {cols} columns"
        # the cursor stays after the prompt. (tmux 3.3a agrees except once: seed 1, back at 40 columns, it puts
        # its cursor at the end of the row above the prompt.)
        assert (ours.display()[ours.y].rstrip(), ours.x) == ("$", 2), f"cursor at {cols} columns"
        assert (ours.x, ours.y) == cursor or (seed, cols) == (1, 40)
    ref.tmux("kill-session", "-t", name)


# -- clearing the screen keeps the scrollback ---------------------------------------------------------------------
SEQ = "".join(f"{i}\r\n" for i in range(1, 101))
CLEARS = {
    # `clear` with TERM=screen, and ctrl+L in bash/readline (terminfo `clear`): ED 0 from home, ED 2
    "home-ed0": SEQ + "\x1b[H\x1b[J$ ",
    "ctrl-l": SEQ + "$ \x1b[H\x1b[2J$ ",
    # `clear` with TERM=xterm-256color adds E3 (ED 3): tmux then empties its scrollback too
    "clear-e3": SEQ + "\x1b[H\x1b[2J\x1b[3J$ ",
    "e3-then-more": SEQ + "\x1b[H\x1b[2J\x1b[3Jafter\r\n" + SEQ[:200],
    "ed3-with-param": SEQ + "\x1b[3;1J$ ",  # not E3: tmux ignores it
    "cursor-elsewhere": SEQ + "\x1b[5;3H\x1b[2Jx",
    "gaps-and-colour": "a\r\n\x1b[44mb  \x1b[K\x1b[0m\r\n\r\nc\r\n\x1b[10;1H\x1b[2Jx\r\ny",
    "bg-pen": SEQ + "\x1b[41m\x1b[2J\x1b[0mred screen\r\n",
    "twice": SEQ + "\x1b[H\x1b[2Jone\r\ntwo\x1b[H\x1b[2Jthree",
    "wrapped-line": SEQ + "w" * 70 + "\r\n\x1b[2J\x1b[Hnext",
    "scroll-region": SEQ + "\x1b[2;4r\x1b[2J\x1b[rafter",
    "alternate-screen": SEQ + "\x1b[?1049h\x1b[Hfull\x1b[2Jscreen\x1b[?1049l$ ",
    "not-from-home": SEQ + "\x1b[3;1H\x1b[J$ ",
}


@pytest.mark.parametrize("case", list(CLEARS))
def test_clearing_the_screen_keeps_the_scrollback_like_tmux(case: str, ref: TmuxRef) -> None:
    """`seq 1 100` then a clear: scrolling back shows what tmux's history holds (`capture-pane -S -`): ED 2 and
    ED 0 from the top-left corner move the used rows into the scrollback, ED 3 (E3) empties it."""
    data = CLEARS[case].encode()
    cols, rows = 30, 8
    name = ref.start(data, cols, rows)
    ref.tmux("wait-for", name)
    theirs, _ = tmux_all_rows(ref, name)
    size = int(ref.tmux("display-message", "-p", "-t", name, "#{history_size}").strip())
    ours = compare(data, cols, rows, ref, name, case, wait=False)  # the screen, cell by cell
    assert len(ours.history) == size, f"{case}: scrollback of {len(ours.history)} rows, tmux {size}"
    assert trim(our_all_rows(ours)) == trim(theirs), case


# -- grapheme clusters ----------------------------------------------------------------------------------------------
Z = "\u200d"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
FLAG = "\U0001f1eb\U0001f1f7"
CLUSTERS = {
    # ZWJ sequences: one cluster in the first character's cells
    "family": FAMILY,
    "family-of-four": FAMILY + Z + "\U0001f466",  # 25 bytes: tmux's cell holds 21, the boy is dropped
    "rainbow-flag": "\U0001f3f3\ufe0f\u200d\U0001f308",  # narrow base: a one-cell cluster
    "heart-on-fire": "\u2764\u200d\U0001f525",
    "cjk-joined": "\u4e2d\u200d\u4e2d",
    "sgr-inside": "\U0001f468\u200d\x1b[31m\U0001f469\x1b[0m",
    "two-joiners": "\U0001f468\u200d\u200d\U0001f469",
    # the joiner waits past ASCII (and controls) for the next non-ASCII character
    "joiner-then-ascii": "\U0001f468\u200db",
    "joiner-past-ascii": "a\u200dbc\U0001f468",
    "joiner-past-crlf": "a\u200d\r\nxy\U0001f468",
    "joiner-then-narrow": "a\u200d\u00e9\U0001f468",
    "joiner-then-mark": "a\u200db\u0301\U0001f468",
    "joiner-at-line-start": "\u200d\U0001f469",
    # regional indicators: a cell each, so a flag is two cells and an odd one out is one
    "flag": FLAG,
    "two-flags": FLAG + "\U0001f1e9\U0001f1ea",
    "odd-indicators": FLAG + "\U0001f1e9",
    "half-flag-overwritten": FLAG + "\x1b[DZ",
    # VS16 and combining marks join the cell before them; tmux 3.3 does not widen for VS16
    "vs16": "\u2764\ufe0f \u2714\ufe0f",
    "keycap": "1\ufe0f\u20e3",
    "combining": "e\u0301 a\u0304\u0300 x\u20dd",
    "marks-past-the-cell": "e" + "\u0301" * 12,
    "hangul-jamo": "\u1100\u1161",
    "skin-tone": "\U0001f44d\U0001f3fd",  # tmux 3.3 keeps the modifier in its own two cells
    # at the right edge (10 columns)
    "cluster-in-last-cells": "12345678" + FAMILY,
    "cluster-does-not-fit": "123456789" + FAMILY + "x",
    "flag-split-by-wrap": "123456789" + FLAG,
    "narrow-cluster-in-last-cell": "123456789\u2764\u200d\U0001f525",
    "mark-after-pending-wrap": "123456789a\u0301",
    "vs16-in-last-cell": "123456789\u2764\ufe0f",
}


@pytest.mark.parametrize("case", list(CLUSTERS))
def test_grapheme_clusters_match_tmux(case: str, ref: TmuxRef) -> None:
    """Each case then `|`, on a 10-column screen: the cells (what each holds, where the next character lands) and
    the cursor as tmux 3.3 has them."""
    data = (CLUSTERS[case] + "|").encode()
    compare(data, 10, 4, ref, ref.start(data, 10, 4), case)


CLUSTER_WORDS = [
    FAMILY,
    "\U0001f9d1\u200d\U0001f4bb",
    "\u2764\ufe0f",
    "e\u0301",
    "\u1100\u1161",
    "\U0001f44d\U0001f3fd",
    "\u2764\u200d\U0001f525",
    "\u4e2d\u6587",
    "word",
    "x",
    "caf\u00e9",
]


def cluster_stream(seed: int, n: int = 300) -> bytes:
    """Text made of clusters, wide and narrow, with colours and line ends, at every column: rows of clusters that
    wrap wherever they fall. (Flags are left out: tmux splits one that meets the right edge, a case of its own
    above.)"""
    rnd = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        k = rnd.randrange(10)
        if k < 6:
            out.append(rnd.choice(CLUSTER_WORDS) * rnd.randrange(1, 4))
        elif k < 7:
            out.append(" ")
        elif k < 8:
            out.append(f"\x1b[{rnd.choice(['0', '31', '1;44', '38;5;200'])}m")
        elif k < 9:
            out.append("\r\n")
        else:
            out.append(f"\x1b[{rnd.randrange(1, 20)}G")  # lands anywhere, also on half a cluster
    return "".join(out).encode()


def test_generated_cluster_streams_match_tmux(ref: TmuxRef) -> None:
    failures = []
    cases = []
    for seed in range(12):
        cols, rows = (23, 9) if seed % 2 else (40, 12)
        data = cluster_stream(seed)
        cases.append((seed, data, cols, rows, ref.start(data, cols, rows)))
    for seed, data, cols, rows, name in cases:
        try:
            compare_zwj(data, cols, rows, ref, f"seed {seed} ({cols}x{rows})", name)
        except AssertionError as err:
            failures.append(str(err).split("\n")[0])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resize_reflows_clusters_like_tmux(seed: int, ref: TmuxRef) -> None:
    """Lines of clusters (ZWJ sequences, flags, VS16, combining marks, wide characters) reflowed through odd widths:
    every row of the scrollback and the screen as tmux has them — a cluster never splits. (Seed 3 is left out:
    there tmux 3.3a loses one joiner of a family when it rewraps to 25 columns; we keep it.)"""
    rnd = random.Random(seed)
    words = ["alpha", FAMILY, "\u2764\ufe0f", "e\u0301t\u00e9", "\u4e2d\u6587", "\U0001f9d1\u200d\U0001f4bb", "x", FLAG]
    out = []
    for i in range(60):
        text = " ".join(rnd.choice(words) for _ in range(rnd.choice([0, 1, 3, 8, 15, 30])))
        if rnd.random() < 0.3:
            text = f"\x1b[{rnd.choice(['31', '1;32', '44'])}m{text}\x1b[0m"
        out.append(f"{i}:{text}")
    data = ("\r\n".join(out) + "\r\n$ ").encode()
    rows = 10
    # as `compare_zwj`: tmux's screen depends on where its reads split a sequence (with 3 runs, a full parallel run
    # once saw all three lose one joiner on tmux's side, ours intact)
    for attempt in range(ZWJ_RUNS):
        name = ref.start(data, 40, rows)
        ref.tmux("wait-for", name)
        ours = Emulator(40, rows, scrollback=2000)
        for i in range(0, len(data), 97):
            ours.feed(data[i : i + 97])
        try:
            for cols in (25, 61, 33, 17, 40):
                ref.tmux("resize-window", "-t", name, "-x", str(cols), "-y", str(rows))
                ours.resize(cols, rows)
                theirs, _ = tmux_all_rows(ref, name)
                assert trim(our_all_rows(ours)) == trim(theirs), f"at {cols} columns"
            return
        except AssertionError:
            if attempt == ZWJ_RUNS - 1:
                raise
        finally:
            ref.tmux("kill-session", "-t", name)


ERASE_FILL = {
    "el-in-colour": "abc\x1b[44m\x1b[K\x1b[0m\r\nnext\r\n$ ",
    "ech-in-colour": "abc\x1b[44m\x1b[20X\x1b[0m\r\nnext\r\n$ ",
    "lines-scrolled-in-under-colour": "".join(f"\x1b[41mline {i}\r\n" for i in range(12)) + "\x1b[0m$ ",
    "status-bars": "".join(f"\x1b[1;37;44m build {i} \x1b[K\x1b[0m ok\r\n" for i in range(8)) + "$ ",
    "spaces-written-in-colour": "abc\x1b[44m" + " " * 20 + "\x1b[0m\r\nnext\r\n$ ",  # text: rewrapped
    "fill-then-text": "abc\x1b[44m\x1b[K\x1b[0m\x1b[20Gtail\r\n$ ",
}


@pytest.mark.parametrize("case", list(ERASE_FILL))
@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_resize_does_not_rewrap_erase_fill_like_tmux(case: str, chunk: int, ref: TmuxRef) -> None:
    """The background an erase (EL, ECH, BCE scrolling) paints after a line's text is not text: narrowing leaves
    the line one row, as in tmux; spaces written in a colour are text and wrap."""
    # (a screenful first, as it was written: a screen not yet full is test_resize_with_blank_rows_below_the_cursor)
    data = ("".join(f"pre {i}\r\n" for i in range(8)) + ERASE_FILL[case]).encode()
    rows = 6
    name = ref.start(data, 30, rows)
    ref.tmux("wait-for", name)
    ours = Emulator(30, rows, scrollback=100)
    for i in range(0, len(data), chunk):
        ours.feed(data[i : i + chunk])
    for cols in (10, 30, 50, 13):
        ref.tmux("resize-window", "-t", name, "-x", str(cols), "-y", str(rows))
        ours.resize(cols, rows)
        theirs, cursor = tmux_all_rows(ref, name)
        assert trim(our_all_rows(ours)) == trim(theirs), f"at {cols} columns"
        assert (ours.x, ours.y) == cursor, f"cursor at {cols} columns"
    ref.tmux("kill-session", "-t", name)


# -- spaces a program wrote are text ------------------------------------------------------------------------------
WRITTEN = {
    "spaces": "abc" + " " * 20 + "\r\nnext\r\n$ ",
    "only-spaces": " " * 12 + "\r\nnext\r\n$ ",
    "spaces-in-colour-then-default": "\x1b[31mab  \x1b[0m" + " " * 12 + "\r\nnext\r\n$ ",
    "wide-then-spaces": "漢字" + " " * 12 + "\r\nnext\r\n$ ",
    "wrapped-then-spaces": "a" * 28 + " " * 6 + "\r\nnext\r\n$ ",
    "prompt-and-command": "$ ls    \r\nfile\r\n$ ",
    # an erase from the middle of the row keeps what was written before it counted (tmux's `cellused`) ...
    "spaces-then-el": "abc" + " " * 20 + "\x1b[8D\x1b[K\r\nnext\r\n$ ",
    "spaces-then-cr-el": "abc" + " " * 20 + "\r\x1b[5C\x1b[K\r\nnext\r\n$ ",
    # ... a whole row erased forgets it
    "spaces-then-el2": "abc" + " " * 20 + "\x1b[2K\r\nnext\r\n$ ",
    "spaces-then-ech-whole-row": "abc" + " " * 20 + "\r\x1b[30X\r\nnext\r\n$ ",
    # inserting or deleting characters moves the rest of the row: tmux counts all of it as written
    "ich": "abc\x1b[2D\x1b[@\r\nnext\r\n$ ",
    "dch": "abcdef\x1b[4D\x1b[P\r\nnext\r\n$ ",
    "insert-mode": "abc\x1b[2D\x1b[4hX\x1b[4l\r\nnext\r\n$ ",
    # a flood of lines ending in spaces, some wider than the screen, every other one coloured (the flood path keeps
    # them as text, raw text with SGR, or rows of that)
    "flood": "".join(
        (f"\x1b[3{i % 8}m{i}\x1b[0m" if i % 2 else str(i)) + f" {'x' * (i % 50)}{' ' * (i % 7)}\r\n" for i in range(120)
    )
    + "$ ",
}


@pytest.mark.parametrize("case", list(WRITTEN))
@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_resize_keeps_written_spaces_like_tmux(case: str, chunk: int, ref: TmuxRef) -> None:
    """Spaces a program wrote at the end of a row are text: narrowing wraps them onto rows of their own, as tmux
    does (it reflows the cells written, not the cells that look blank); before, the emulator dropped them and the
    rows after the line sat higher than in tmux. Fed in small reads (the exact path) and in one read (the flood
    path, which keeps lines raw)."""
    data = ("".join(f"pre {i}\r\n" for i in range(8)) + WRITTEN[case]).encode()
    rows = 6
    name = ref.start(data, 30, rows)
    ref.tmux("wait-for", name)
    ours = Emulator(30, rows, scrollback=2000)  # (tmux's history-limit: neither drops a row here)
    for i in range(0, len(data), chunk):
        ours.feed(data[i : i + chunk])
    if case == "flood" and chunk > len(data):
        kept_raw = [e for e in ours.history if type(e) is tuple and type(e[0]) is int]
        assert {len(e) for e in kept_raw} == {2, 5}  # lines, and rows of lines, kept raw by the flood path
    for cols in (10, 30, 50, 13, 7, 30):
        ref.tmux("resize-window", "-t", name, "-x", str(cols), "-y", str(rows))
        ours.resize(cols, rows)
        theirs, cursor = tmux_all_rows(ref, name)
        assert trim(our_all_rows(ours)) == trim(theirs), f"at {cols} columns"
        assert (ours.x, ours.y) == cursor, f"cursor at {cols} columns"
    ref.tmux("kill-session", "-t", name)


# -- resizing a screen with blank rows below the cursor -------------------------------------------------------------
LONG = "".join(f"line {i} " + "w" * (i * 7 % 40) + "\r\n" for i in range(30))
BLANK_BELOW = {
    # ED 2 from home leaves the cursor at the top of a blank screen, the old rows in the scrollback; lower, then
    # narrower: tmux keeps the cursor on row 0 (the scrollback stays the scrollback)
    "ed2-lower-then-narrower": ("a\r\nb\r\nc\x1b[H\x1b[2J", 30, 8, [(30, 4), (20, 4)]),
    "ed2-narrower": ("a\r\nb\r\nc\x1b[H\x1b[2J", 30, 8, [(20, 8), (40, 8)]),
    "ed2-then-prompt": (LONG + "\x1b[H\x1b[2J$ ", 30, 8, [(30, 5), (17, 5), (45, 5), (12, 9)]),
    # a few rows of long lines on a screen not yet full, with and without a scrollback above
    "half-screen": ("x" * 50 + "\r\n" + "y" * 45 + "\r\n$ ", 30, 10, [(17, 10), (40, 10), (9, 6), (30, 10)]),
    "half-screen-under-history": (
        LONG + "\x1b[H\x1b[2J" + "x" * 50 + "\r\n$ ",
        30,
        10,
        [(17, 10), (40, 10), (9, 6), (30, 10)],
    ),
}


@pytest.mark.parametrize("case", list(BLANK_BELOW))
def test_resize_with_blank_rows_below_the_cursor_like_tmux(case: str, ref: TmuxRef) -> None:
    """A screen whose rows below the cursor are blank (after a clear, a fresh shell): lowering and narrowing it
    leaves the scrollback, the screen and the cursor where tmux has them. The blank rows are the screen's rows, as
    in tmux: a narrower width does not pull scrollback rows down onto the screen (the cursor landed on row 3 of 4
    after `ESC[H ESC[2J`, where tmux keeps it on row 0)."""
    text, cols, rows, sizes = BLANK_BELOW[case]
    data = text.encode()
    name = ref.start(data, cols, rows)
    ref.tmux("wait-for", name)
    ours = Emulator(cols, rows, scrollback=2000)
    ours.feed(data)
    for cols, rows in sizes:
        ref.tmux("resize-window", "-t", name, "-x", str(cols), "-y", str(rows))
        ours.resize(cols, rows)
        theirs, cursor = tmux_all_rows(ref, name)
        assert trim(our_all_rows(ours)) == trim(theirs), f"{case} at {cols}x{rows}"
        assert (ours.x, ours.y) == cursor, f"{case}: cursor at {cols}x{rows}"
    ref.tmux("kill-session", "-t", name)

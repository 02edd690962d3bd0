"""`Emulator`, the VT emulator core behind the terminal pane: an xterm-compatible terminal fed with raw PTY bytes.

Why not pyte: pyte sends every byte through a per-character Python state machine, which caps it near 0.3-0.5 MB/s
(`../shared/performance.md`); tmux manages ~9 MB/s. This core keeps pyte's role (bytes in, a grid of styled cells
out) but is built for throughput:

* Input is decoded once (incremental UTF-8) and scanned with compiled regexes: a run of printable text up to the
  next control character is written into the line with list-slice assignment (C speed) — one step per run, not per
  character. Only non-ASCII text takes a per-character path (wide characters, and clusters laid out as tmux 3.3
  lays them: combining marks and VS16 join the cell before them, a zero-width joiner joins the next non-ASCII
  character into it — `rows.clusters` re-splits stored text the same way; a cell holds 21 UTF-8 bytes, as in tmux).
* A line is two parallel lists, characters and interned style ids (`rows.Line`, `styles.py`); an SGR sequence is
  one memoised dict lookup. Scrolling moves whole `Line` objects.
* The flood path (`_bulk`): when the cursor sits at the bottom of a full-screen scroll region and the input ahead
  is only text, SGR and CR LF, every line except the last screenful is going to scroll off unseen. Those lines go
  straight into the scrollback as their raw text plus the pen they start with (parsed only if someone scrolls back
  to them), using a handful of C-level string operations per block instead of any per-character work; the last
  screenful goes through the normal path so the visible screen is exact. Lines wider than the screen go as the
  rows autowrap would cut them into, marked wrapped (for reflow): plain text sliced, coloured text as `RawRow`s
  that share the raw line. A line with non-ASCII text goes raw too when each of its characters takes a cell or
  two of its own and it fits the screen (accented text, CJK: `_bulk_stop`); one with combining marks, joiners
  or wide characters that wrap, or a bare CR or LF, ends a block; the flood path looks again after it. One long
  run of text (a minified JSON) at the bottom sends the rows that scroll by straight to the scrollback too
  (`_bulk_run`).
* Scrollback entries are compact (`rows.Entry`): a plain `str` (default style), `(pen, raw)` for a lazily parsed
  line (read back by `scrollback.py`), or a line's `(text, style)` runs flattened into a tuple for a line that
  scrolled off the visible screen. 10,000 lines stay well under 30 MB. A width change reflows them (`reflow.py`).

Semantics follow xterm, and tmux where they differ and tmux is our differential reference (BCE on erase and
scroll, pending-wrap behaviour, ED 2 moving the screen's used rows into the scrollback). Unsupported sequences are
consumed and ignored without touching state.

Size: one state machine on the hot path: the parser loop, the printing paths, the flood path and the control
functions all read and write the same cursor, pen, margins and modes on every run of text, and the loop calls them
as bound methods of one class; split into mixins they would share undeclared state across files, and into helper
objects they would cost an attribute hop per call (issue 15 allows the emulator core this one file). The row model,
reading the scrollback and reflow live in `rows.py`, `scrollback.py` and `reflow.py`.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from itertools import compress, repeat
from operator import gt, mul, sub

from widgets.terminal.reflow import reflow
from widgets.terminal.rows import WRAP_MARK, ZWJ, Entry, Line, char_width, combine
from widgets.terminal.scrollback import entry_segments, entry_to_line
from widgets.terminal.styles import (
    RESETS,
    SGR_CACHE,
    SGR_RE,
    STYLES,
    TEXT_OF_FILL,
    Style,
    apply_sgr,
    erase_style,
    pen_after,
)

# A control character (C0, DEL, C1) ends a printable run.
CTRL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
# What the flood path cannot take: any control except CR/LF, any escape sequence except SGR — searched as two
# patterns, each fast on its own: one class of characters (no ESC), and a literal ESC that does not start an SGR
# (one pattern for both was ~5x slower on a colour log: it tried the alternation at every ESC, ~10 a line)
UNSAFE_CTRL_RE = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
UNSAFE_ESC_RE = re.compile("\x1b(?!\\[[0-9;:]*m)")
ESC_RE = re.compile(
    "\x1b(?:"
    "\\[([\x30-\x3f]*)([\x20-\x2f]*)([\x40-\x7e])"  # CSI params intermediates final
    "|\\]([^\x07\x1b]*)(?:\x07|\x1b\\\\)"  # OSC ... BEL|ST
    "|[PX^_][^\x1b]*\x1b\\\\"  # DCS / SOS / PM / APC: swallowed
    # ESC intermediates final; the introducers of CSI/OSC/DCS/... are not finals (their bodies may not be here yet)
    "|([\x20-\x2f]*)([\x30-\x4f\x51-\x57\x59\x5a\x5c\x60-\x7e])"
    ")"
)
# What may end a flood block: a bare CR or LF, or a character that is not ASCII (whose line `_bulk_stop` looks at);
# in a block of CR LF lines only the latter
BULK_STOP_RE = re.compile("[^\x00-\x7f]|\r(?!\n)|(?<!\r)\n")
NON_ASCII_RE = re.compile("[^\x00-\x7f]")
# A sequence cut off at the end of a read: keep it for the next one.
INCOMPLETE_RE = re.compile(
    "\x1b(?:\\[[\x30-\x3f]*[\x20-\x2f]*|\\][^\x07\x1b]*\x1b?|[PX^_][^\x1b]*\x1b?|[\x20-\x2f]*)\\Z"
)
MAX_PENDING = 1 << 20  # an unterminated OSC/DCS longer than this is dropped rather than buffered forever
# Unpacked scrollback lines allowed at once. Packed lines are tuples of runs, which the garbage collector stops
# tracking; unpacked ones are two lists of cells each, which every gen-0 pass walks — measured with 2,000 (and the
# whole 10,000-line scrollback as `Line` objects), a gen-0 pass took 5-8 ms: that was the p99 of a keystroke's echo.
YOUNG_MAX = 256

DEC_GRAPHICS = str.maketrans(
    {
        "`": "◆", "a": "▒", "b": "␉", "c": "␌", "d": "␍", "e": "␊", "f": "°", "g": "±", "h": "␤", "i": "␋",
        "j": "┘", "k": "┐", "l": "┌", "m": "└", "n": "┼", "o": "⎺", "p": "⎻", "q": "─", "r": "⎼", "s": "⎽",
        "t": "├", "u": "┤", "v": "┴", "w": "┬", "x": "│", "y": "≤", "z": "≥", "{": "π", "|": "≠", "}": "£",
        "~": "·",
    }
)  # fmt: skip

DA1_REPLY = "\x1b[?62;22c"  # a VT220 with ANSI colour, as far as programs need to know
DA2_REPLY = "\x1b[>1;10;0c"  # a low xterm "version" keeps vim from probing for features we do not have


# Raw lines longer than this (with SGR) are not cut lazily: every view of one of their rows parses the whole line
RAW_ROW_MAX = 16384


class Emulator:
    """An xterm-like terminal: feed it bytes, read `lines`, `history`, the cursor and the modes.

    Replies the program asked for (device status, device attributes) accumulate in `replies`; the owner writes
    them back to the PTY (`take_replies`).
    """

    # what `_soft_reset` (DECSTR, and RIS through `reset`) sets
    cursor_visible: bool
    origin: bool
    autowrap: bool
    insert: bool
    app_cursor: bool
    app_keypad: bool
    top: int
    bottom: int
    pen: int
    g: list[str]
    gl: int
    _graphics: bool
    _saved: tuple[int, int, int, bool, bool, list[str], int] | None

    def __init__(self, cols: int = 80, rows: int = 24, scrollback: int = 10_000) -> None:
        self.cols = max(1, cols)
        self.rows = max(1, rows)
        self.history: deque[Entry] = deque(maxlen=max(0, scrollback))
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._bulk_skip = 0
        # ahead of _bulk: (end of the region, last line feed a block may reach, whether lines in it stop blocks)
        self._bulk_region: tuple[int, int, bool] | None = None
        self._more = False
        self._young: deque[tuple[int, Line]] = deque()  # scrollback lines not packed yet, with their push number
        self._pushed = 0  # entries ever added to the scrollback: history[0] is number `_pushed - len(history)`
        # `_pushed` when a clear last moved the screen into the scrollback: only the rows pushed since then come
        # back when the screen grows taller (tmux's `hscrolled`); what a clear put away stays in the scrollback
        self._clear_mark = 0
        self.title = ""
        self.replies: list[str] = []
        self.reset()

    # -- state ------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """RIS: everything back to power-on, except the scrollback (xterm keeps it too)."""
        self.lines = [Line(self.cols) for _ in range(self.rows)]
        self._main_lines: list[Line] | None = None  # the shell's screen while the alternate one is shown
        self.x = 0
        self.y = 0
        self.wrapnext = False
        self._soft_reset()
        self.lnm = False
        self.bracketed_paste = False
        self.cursor_shape = 0
        self.mouse_modes: set[int] = set()
        self.focus_events = False
        self.reverse_video = False
        self.tabs = set(range(8, self.cols, 8))
        self._alt_saved: tuple[int, int, int, bool, bool, list[str], int] | None = None
        self.last_char = ""
        self._zwj = False  # a zero-width joiner is waiting for the character it joins (`_print_wide`)
        self.bell = False

    def _push_history(self, lines: list[Line]) -> None:
        """Lines scrolled off the top go to the scrollback as they are; they are packed later, in batches, and
        only if they are still there — in a flood most are evicted before anyone pays for packing them."""
        lines = [line for line in lines if not line.phantom]
        if not lines:
            return
        self.history.extend(lines)
        young = self._young
        pushed = self._pushed
        young.extend(zip(range(pushed, pushed + len(lines)), lines, strict=True))
        self._pushed = pushed + len(lines)
        if len(young) > YOUNG_MAX:
            self.pack_history(YOUNG_MAX - 64)  # a few dozen at a time: ~1 ms, so a key typed meanwhile waits little

    def pack_history(self, keep: int = 0) -> None:
        """Pack the scrollback lines still held as cells, oldest first, until at most `keep` remain unpacked."""
        young = self._young
        history = self.history
        first = self._pushed - len(history)
        while len(young) > keep:
            n, line = young.popleft()
            if n >= first:  # else it has been evicted already, and nobody pays for packing it
                history[n - first] = line.packed()

    @property
    def scrolled_lines(self) -> int:
        """Lines that have gone to the scrollback since the start (a flood's progress, for benchmarks)."""
        return self._pushed

    @property
    def in_alt(self) -> bool:
        return self._main_lines is not None

    def take_replies(self) -> bytes:
        out = "".join(self.replies).encode()
        self.replies.clear()
        return out

    # -- input ------------------------------------------------------------------------------------------------
    def feed(self, data: bytes, more: bool = False) -> None:
        """Parse a chunk of output. `more=True` promises another feed right away (the caller is slicing a burst):
        the flood path may then hold back the last screenful of plain lines instead of laying it out now."""
        text = self._decoder.decode(data)
        if self._pending:
            text = self._pending + text
            self._pending = ""
        # an escape sequence cut off by the read boundary waits for the rest (found here, so the flood path sees a
        # clean end of input and can carry its last lines over to the next piece)
        i = text.rfind("\x1b", max(0, len(text) - 64))
        if i >= 0 and INCOMPLETE_RE.match(text, i):
            self._pending = text[i:]
            text = text[:i]
        if text:
            self._more = more
            self.feed_text(text)

    def feed_text(self, text: str) -> None:
        self._bulk_skip = 0
        self._bulk_region = None
        search = CTRL_RE.search
        esc_match = ESC_RE.match
        sgr_match = SGR_RE.match
        sgr_cache = SGR_CACHE
        pos = 0
        end = len(text)
        last = self.rows - 1
        while pos < end:
            m = search(text, pos)
            if m is None:
                self._print(text[pos:])
                return
            i = m.start()
            if i > pos:
                self._print(text[pos:i])
            c = text[i]
            pos = i + 1
            if c == "\n" or c == "\x0b" or c == "\x0c":
                self._linefeed()
                if self.lnm:
                    self.x = 0
                    self.wrapnext = False
                if (
                    pos >= self._bulk_skip
                    and self.y == last
                    and self.x == 0
                    and not self.wrapnext
                    and self.top == 0
                    and self.bottom == last
                    and self.autowrap
                    and not self.insert
                    and not self._graphics
                ):
                    pos = self._bulk(text, pos)
            elif c == "\r":
                self.x = 0
                self.wrapnext = False
            elif c == "\x1b":
                sm = sgr_match(text, i)
                if sm is not None:  # the commonest sequence by far: one memoised lookup
                    pos = sm.end()
                    pen = self.pen
                    new = sgr_cache.get((pen, sm.group(1)))
                    self.pen = apply_sgr(pen, sm.group(1)) if new is None else new
                    continue
                em = esc_match(text, i)
                if em is None:
                    if INCOMPLETE_RE.match(text, i):
                        tail = text[i:] + self._pending  # (feed may already hold back what followed)
                        self._pending = tail if len(tail) < MAX_PENDING else ""
                        return
                    continue  # a malformed sequence: drop the ESC, show the rest as text (what xterm does)
                pos = em.end()
                self._escape(em)
            else:
                self._control(c)

    # -- printing ---------------------------------------------------------------------------------------------
    def _print(self, s: str) -> None:
        if self._graphics:
            s = s.translate(DEC_GRAPHICS)
        if s.isascii():
            self._print_ascii(s)
        else:
            self._print_wide(s)
        self.last_char = s[-1]

    def _print_ascii(self, s: str) -> None:
        cols = self.cols
        pen = self.pen
        n = len(s)
        pos = 0
        line = self.lines[self.y]
        while pos < n:
            if self.wrapnext:
                if n - pos > (self.rows + 2) * cols and self._can_bulk():
                    pos = self._bulk_run(s, pos)
                line.wrapped = True
                self._wrap_line()
                line = self.lines[self.y]
            x = self.x
            room = cols - x
            k = n - pos
            if k > room:
                if not self.autowrap:
                    # without autowrap the rest overwrites the last column: only the final character survives
                    s = s[pos : pos + room - 1] + s[-1]
                    n = len(s)
                    pos = 0
                    k = room
                else:
                    k = room
            chars = line.chars
            if self.insert:
                del chars[cols - k :]
                del line.styles[cols - k :]
                chars[x:x] = s[pos : pos + k]
                line.styles[x:x] = [pen] * k
                line.used = cols  # tmux shifts the rest of the row along: all of it counts as written
            else:
                if x and chars[x] == "":
                    chars[x - 1] = " "  # overwrote the right half of a wide character: its left half goes too
                    line.styles[x - 1] = 0
                chars[x : x + k] = s[pos : pos + k]
                line.styles[x : x + k] = [pen] * k
                if x + k < cols and chars[x + k] == "":
                    chars[x + k] = " "  # ... or its left half (tmux leaves a default blank)
                    line.styles[x + k] = 0
            line.cache = None
            pos += k
            x += k
            if x > line.used:
                line.used = x
            if x >= cols:
                self.x = cols - 1
                self.wrapnext = self.autowrap
            else:
                self.x = x

    def _print_wide(self, s: str) -> None:
        cols = self.cols
        pen = self.pen
        line = self.lines[self.y]
        zwj = self._zwj
        # the column after the last cell written on this row (0: none yet); the row's `used` is raised from it when
        # the row is left and at the end, not per character
        end = 0
        for c in s:
            w = char_width(c)
            if w == 0 and c == ZWJ:
                # a zero-width joiner is held, not stored (tmux 3.3): the next non-ASCII character joins the cluster
                # before the cursor with it, taking no cells (a ZWJ emoji sequence is one 2-cell cluster); ASCII
                # neither uses nor drops it, and it survives controls and escapes in between
                zwj = self._zwj = True
                continue
            if zwj and c > "\x7f":
                zwj = self._zwj = False
                c = ZWJ + c
                w = 0
            if w == 0:
                # combining: joins the character before the cursor (or under it after a wrap is pending)
                tx = self.x if self.wrapnext else self.x - 1
                if tx >= 0:
                    if line.chars[tx] == "" and tx > 0:
                        tx -= 1
                    line.chars[tx] = combine(line.chars[tx], c)
                    line.cache = None
                continue
            if self.wrapnext:
                if end > line.used:
                    line.used = end
                end = 0
                line.wrapped = True
                self._wrap_line()
                line = self.lines[self.y]
            x = self.x
            if w == 2 and x == cols - 1:
                if not self.autowrap or cols < 2:
                    continue
                # the last cell keeps what it held (tmux does not blank it)
                if end > line.used:
                    line.used = end
                end = 0
                line.wrapped = True
                line.padded = True
                self._wrap_line()
                line = self.lines[self.y]
                x = 0
            chars = line.chars
            if self.insert:
                del chars[cols - w :]
                del line.styles[cols - w :]
                chars[x:x] = [c, ""] if w == 2 else [c]
                line.styles[x:x] = [pen] * w
                line.used = cols
            else:
                if x and chars[x] == "":
                    chars[x - 1] = " "
                    line.styles[x - 1] = 0
                chars[x] = c
                line.styles[x] = pen
                if w == 2:
                    chars[x + 1] = ""
                    line.styles[x + 1] = pen
                if x + w < cols and chars[x + w] == "":
                    chars[x + w] = " "
                    line.styles[x + w] = 0
            line.cache = None
            x += w
            end = x
            if x >= cols:
                self.x = cols - 1
                self.wrapnext = self.autowrap
            else:
                self.x = x
        if end > line.used:
            line.used = end

    def _wrap_line(self) -> None:
        self.wrapnext = False
        self.x = 0
        # a line scrolled in by autowrap is blank in the default colours (tmux), unlike LF's, which take the pen's bg
        if self.y == self.bottom:
            self._scroll_up(1, fill=0)
        elif self.y < self.rows - 1:
            self.y += 1

    # -- the flood path -----------------------------------------------------------------------------------------
    def _bulk(self, text: str, pos: int) -> int:
        """Lines ahead that only scroll by unseen go to the scrollback without being laid out. Returns the new
        position in `text` (unchanged when the input ahead does not qualify).

        The stretch of text, SGR and CR LF ahead (up to any other control or escape) is the region; its last rows+1
        lines are always left to the exact path, which draws the screen. A line the flood path cannot take (a bare
        CR or LF, non-ASCII text it cannot keep raw: `_bulk_stop`) ends the block before it; the exact path lays
        that line out, and the flood path looks again at the line feed after it — so one odd line does not send a
        whole burst down the slow path, and each look costs only the text it passes over."""
        rows = self.rows
        region = self._bulk_region
        if region is None or pos > region[0]:
            m = UNSAFE_CTRL_RE.search(text, pos)
            end = m.start() if m else len(text)
            m = UNSAFE_ESC_RE.search(text, pos, end)
            if m is not None:
                end = m.start()
            cut = end
            for _ in range(rows + 1):
                cut = text.rfind("\n", pos, cut)
                if cut < 0:
                    break
            region = self._bulk_region = (end, cut, False)
        end, cut, dirty = region
        self._bulk_skip = end  # unless a line ahead stops the block: then from the line after it
        to_end = self._more and end == len(text)
        stop = cut + 1 if cut >= pos else pos  # the block: complete lines ahead of the last rows+1
        bad = -1  # where a line the flood path cannot take starts (-1: none in the block)
        if not dirty:
            # C-speed checks of the whole block first (a regex scan is several times slower)
            block = text[pos:stop]
            nl = block.count("\n")
            if block.count("\r\n") != nl or block.count("\r") != nl:
                dirty = True
                self._bulk_region = (end, cut, True)
            elif not block.isascii():
                bad = self._bulk_stop(text, pos, stop, NON_ASCII_RE)
                if bad >= 0:  # later looks scan only up to the next line that stops a block, as below
                    self._bulk_region = (end, cut, True)
        if dirty:
            # a region with lines that stop blocks: scan only up to the next one, so that looking again after each
            # of them costs the text passed over, not the rest of the region every time
            bad = self._bulk_stop(text, pos, stop, BULK_STOP_RE)
        if bad >= 0:
            stop = bad
            after = text.find("\n", bad, end)
            self._bulk_skip = after + 1 if after >= 0 else end
        if dirty or bad >= 0:
            nl = text.count("\n", pos, stop)
            block = text[pos:stop] if nl > rows else ""
        if nl <= rows:
            if to_end and bad < 0:
                # more input is on its way: carry these lines over, so they can join a block next time
                self._pending = text[pos:end] + self._pending
                return len(text)
            return pos  # too few lines to be worth it
        has_esc = "\x1b" in block
        raw_lines = block.split("\r\n")
        raw_lines.pop()
        cols = self.cols
        # the columns each line takes (exact where it matters, whether a line wraps and into how many rows)
        widths = list(map(len, raw_lines))
        wraps = max(widths) > cols
        if wraps and has_esc:
            widths = self._bulk_widths(block, raw_lines, widths)
            wraps = max(widths) > cols
        if wraps and has_esc and max(map(len, raw_lines)) > RAW_ROW_MAX:
            return pos  # a huge coloured line: its rows are not cut lazily (each view would parse all of it)
        pen = self.pen
        if not self.in_alt and self.history.maxlen:
            history = self.history
            self._push_history(self.lines[:-1])
            limit = history.maxlen or 0
            if wraps:
                # the last lines that fill the scrollback: rows a line takes are counted from the back
                taken = rows_kept = 0
                for w in reversed(widths):
                    taken += 1
                    rows_kept += (w - 1) // cols + 1 if w else 1
                    if rows_kept >= limit:
                        break
            else:
                taken = min(limit, len(raw_lines))
            if len(raw_lines) > taken:
                kept = raw_lines[-taken:]
                if has_esc:
                    skipped = len(block) - sum(map(len, kept)) - 2 * len(kept)
                    pen = pen_after(pen, block, 0, skipped)
                # rows evicted at once still count as scrolled by (`scrolled_lines`)
                if wraps:
                    self._pushed += sum((w - 1) // cols + 1 if w else 1 for w in widths[:-taken])
                    widths = widths[-taken:]
                else:
                    self._pushed += len(raw_lines) - taken
                raw_lines = kept
            if wraps:
                pen = self._bulk_wrapped(raw_lines, widths, pen)
            elif not has_esc:
                history.extend(raw_lines if pen == 0 else zip(repeat(pen), raw_lines))
                self._pushed += len(raw_lines)
            else:
                entries: list[Entry] = []
                add = entries.append
                for raw in raw_lines:
                    if "\x1b" in raw:
                        add((pen, raw))
                        pen = 0 if raw.endswith(RESETS) else pen_after(pen, raw)
                    else:
                        add(raw if pen == 0 else (pen, raw))
                history.extend(entries)
                self._pushed += len(entries)
        elif has_esc:
            pen = pen_after(pen, block)
        self.pen = pen
        fill = erase_style(pen)
        # the rows above the cursor stand for the last block lines (already in the scrollback); the exact path
        # scrolls them off while it lays out the rest, so they are never drawn
        self.lines = [Line(self.cols, fill, phantom=True) for _ in range(rows - 1)]
        self.lines.append(Line(self.cols, fill))
        if to_end and bad < 0:
            # the last screenful is laid out when the final piece of this burst arrives, not once per piece
            self._pending = text[pos + len(block) :] + self._pending
            return len(text)
        return pos + len(block)

    def _bulk_stop(self, text: str, pos: int, stop: int, stops: re.Pattern[str]) -> int:
        """Where the first line in text[pos:stop] (whole lines) starts that the flood path cannot take, or -1:
        one with a bare CR or LF (what `stops` finds besides non-ASCII characters), or with non-ASCII text it
        cannot keep raw. A line can go raw when laying it out would store its characters one to a cell, in order,
        in one row — then the stored text is the line itself, as for ASCII: every character one or two cells wide
        (no combining mark, variation selector or joiner: they join a cell to another and depend on what came
        before, a joiner even on an earlier line) and the whole no wider than the screen (a wide character that
        wraps can leave a padding cell). Only lines with non-ASCII text are measured, and the scan stops at the
        first line that stops the block: a flood of accented or CJK lines costs a width lookup per character, not
        a layout, and looking again after each odd line costs only the text passed over."""
        search = stops.search
        cols = self.cols
        i = pos
        while (m := search(text, i, stop)) is not None:
            at = m.start()
            start = text.rfind("\n", pos, at) + 1 or pos
            if m.group() in "\r\n":
                return start
            end = text.find("\r\n", at, stop)
            if end < 0:
                return start
            line = text[start:end]
            if "\x1b" in line:
                line = SGR_RE.sub("", line)
            if self._zwj or len(line) > cols or ZWJ in line:
                return start
            widths = list(map(char_width, line))
            if 0 in widths or sum(widths) > cols:
                return start
            i = end + 2
        return -1

    def _bulk_widths(self, block: str, raw_lines: list[str], lens: list[int]) -> list[int]:
        """The columns of lines with SGR (`lens`: their lengths), for the flood path: exact for a line that may be
        wider than the screen; for the others, a bound no wider than the screen, which is all that is asked of them
        (they take one row). Stripping the SGR from every line was most of the flood path's time on a colour log
        of short lines (~10 sequences a line); every SGR is at least three characters (ESC [ m), so most lines
        are known to fit from their length and their count of ESC [ alone, at C speed."""
        cols = self.cols
        bounds = list(map(sub, lens, map(mul, map(str.count, raw_lines, repeat("\x1b[")), repeat(3))))
        over = list(compress(range(len(bounds)), map(gt, bounds, repeat(cols))))
        if not over:
            return bounds
        if len(over) * 4 > len(bounds):  # lines that wrap, most of them: strip the block at once
            plain = SGR_RE.sub("", block).split("\r\n")
            plain.pop()
            return list(map(len, plain))
        for i in over:
            bounds[i] = len(SGR_RE.sub("", raw_lines[i]))
        return bounds

    def _can_bulk(self) -> bool:
        """The cursor is at the bottom of a full-screen scroll region and text is laid out plainly: every row it
        wraps into scrolls the top one off."""
        return (
            self.y == self.rows - 1
            and self.top == 0
            and self.bottom == self.rows - 1
            and self.autowrap
            and not self.insert
        )

    def _bulk_run(self, s: str, pos: int) -> int:
        """One long run of ASCII text (a minified JSON, a base64 blob) at the bottom with a wrap pending: the rows it
        fills that scroll off unseen go to the scrollback as sliced text, marked wrapped, without being laid out;
        the screen is left as stand-ins (`Line.phantom`) that the last rows+1 rows, laid out as usual by the
        caller, scroll off. Returns the new position in `s`."""
        cols, rows = self.cols, self.rows
        count = (len(s) - pos) // cols - rows - 1  # whole rows that go by; rows + 1 or more stay for the caller
        self.lines[-1].wrapped = True  # the row the cursor is on goes on in the next
        if not self.in_alt and self.history.maxlen:
            self._push_history(self.lines)
            limit = self.history.maxlen
            first = max(0, count - limit)  # rows the scrollback would evict at once are not even sliced
            pen = self.pen
            stop = pos + count * cols
            self.history.extend([(s[a : a + cols], pen, WRAP_MARK) for a in range(pos + first * cols, stop, cols)])
            self._pushed += count
            if first:
                self._young.clear()  # every unpacked line it held has been evicted
        self.lines = [Line(cols, 0, phantom=True) for _ in range(rows)]
        return pos + count * cols

    def _bulk_wrapped(self, raw_lines: list[str], widths: list[int], pen: int) -> int:
        """Lines of which some are wider than the screen, to the scrollback as the rows autowrap cuts them into:
        every row but a line's last marked wrapped. Text without SGR is sliced now; a coloured line becomes one
        `RawRow` per row, all sharing the raw line, parsed only if viewed. Returns the pen after the lines."""
        cols = self.cols
        entries: list[Entry] = []
        add = entries.append
        extend = entries.extend
        for raw, w in zip(raw_lines, widths, strict=True):
            if w <= cols:
                if "\x1b" in raw:
                    add((pen, raw))
                    pen = 0 if raw.endswith(RESETS) else pen_after(pen, raw)
                else:
                    add(raw if pen == 0 else (pen, raw))
                continue
            last = (w - 1) // cols * cols  # where the last row starts
            if "\x1b" in raw:
                extend([(pen, raw, a, a + cols, WRAP_MARK) for a in range(0, last, cols)])
                add((pen, raw, last, w, 0))
                pen = 0 if raw.endswith(RESETS) else pen_after(pen, raw)
            else:
                extend([(raw[a : a + cols], pen, WRAP_MARK) for a in range(0, last, cols)])
                tail = raw[last:]  # (with any spaces written at its end: they are text, as on the exact path)
                add(tail if pen == 0 else (tail, pen))
        self.history.extend(entries)
        self._pushed += len(entries)
        return pen

    # -- controls -----------------------------------------------------------------------------------------------
    def _control(self, c: str) -> None:
        if c == "\x08":
            if self.wrapnext:
                self.wrapnext = False
            elif self.x > 0:
                self.x -= 1
            # at the left edge: nothing (xterm without reverseWrap; tmux sometimes goes back up a wrapped line)
        elif c == "\t":
            self._tab(1)
        elif c == "\x07":
            self.bell = True
        elif c == "\x0e":
            self.gl = 1
            self._graphics = self.g[1] == "0"
        elif c == "\x0f":
            self.gl = 0
            self._graphics = self.g[0] == "0"
        # everything else (NUL, other C0, DEL, C1) is ignored, as xterm does

    def _tab(self, n: int) -> None:
        x = self.x
        for _ in range(min(n, self.cols)):  # a hostile count (CSI 4294967295 I) must not spin: cols stops suffice
            nxt = [t for t in self.tabs if t > x]
            x = min(nxt) if nxt else self.cols - 1
        self.x = min(x, self.cols - 1)

    def _linefeed(self) -> None:
        if self.y == self.bottom:
            self._scroll_up(1)
        elif self.y < self.rows - 1:
            self.y += 1

    def _reverse_index(self) -> None:
        if self.y == self.top:
            self._scroll_down(1)
        elif self.y > 0:
            self.y -= 1

    def _scroll_up(self, n: int, to_history: bool = True, fill: int | None = None) -> None:
        top, bottom = self.top, self.bottom
        n = min(n, bottom - top + 1)
        if n <= 0:
            return
        lines = self.lines
        if to_history and top == 0 and not self.in_alt and self.history.maxlen:
            self._push_history(lines[:n])
        if fill is None:
            fill = erase_style(self.pen)
        del lines[top : top + n]
        lines[bottom - n + 1 : bottom - n + 1] = [Line(self.cols, fill) for _ in range(n)]

    def _scroll_down(self, n: int) -> None:
        top, bottom = self.top, self.bottom
        n = min(n, bottom - top + 1)
        if n <= 0:
            return
        lines = self.lines
        fill = erase_style(self.pen)
        del lines[bottom - n + 1 : bottom + 1]
        lines[top:top] = [Line(self.cols, fill) for _ in range(n)]

    # -- escape sequences -------------------------------------------------------------------------------------
    def _escape(self, m: re.Match[str]) -> None:
        final = m.group(3)
        if final is not None:
            self._csi(m.group(1), m.group(2), final)
            return
        osc = m.group(4)
        if osc is not None:
            self._osc(osc)
            return
        final = m.group(6)
        if final is None:
            return  # DCS/SOS/PM/APC
        inter = m.group(5)
        if inter:
            if inter in "()" and len(inter) == 1:
                self.g[0 if inter == "(" else 1] = final
                self._graphics = self.g[self.gl] == "0"
            elif inter == "#" and final == "8":
                self._decaln()
            return
        if final == "7":
            self._save_cursor()
        elif final == "8":
            self._restore_cursor()
        elif final == "D":
            self._linefeed()
        elif final == "E":
            self._linefeed()
            self.x = 0
            self.wrapnext = False
        elif final == "M":
            self._reverse_index()
        elif final == "H":
            self.tabs.add(self.x)
        elif final == "=":
            self.app_keypad = True
        elif final == ">":
            self.app_keypad = False
        elif final == "c":
            self.reset()
            for line in self.lines:
                line.cache = None

    def _decaln(self) -> None:
        for line in self.lines:
            line.chars = ["E"] * self.cols
            line.styles = [0] * self.cols
            line.used = self.cols
            line.cache = None
        self.top, self.bottom = 0, self.rows - 1
        self.x = self.y = 0
        self.wrapnext = False

    def _osc(self, body: str) -> None:
        code, _, arg = body.partition(";")
        if code in ("0", "2"):
            # the title is shown in a tab label: printable characters only, and not a novel
            self.title = "".join(ch for ch in arg if ch.isprintable())[:200]
        # 1 (icon), 4/10/11 (colour queries), 7 (cwd), 8 (links), 52 (clipboard from the program: refused), 133...
        # are ignored on purpose

    def _save_cursor(self) -> None:
        self._saved = (self.x, self.y, self.pen, self.origin, self.wrapnext, list(self.g), self.gl)

    def _restore_cursor(self) -> None:
        if self._saved is None:
            self.x = self.y = 0
            self.pen = 0
            self.wrapnext = False
            return
        x, y, self.pen, self.origin, _wrap, g, self.gl = self._saved
        self.g = list(g)
        self._graphics = self.g[self.gl] == "0"
        self.x = min(x, self.cols - 1)
        self.y = min(y, self.rows - 1)
        self.wrapnext = False  # tmux restores the column, not a pending wrap

    def _csi(self, params: str, inter: str, final: str) -> None:
        prefix = ""
        if params and params[0] in "<=>?":
            prefix, params = params[0], params[1:]
        if final == "m":
            if not prefix and not inter:
                self.pen = apply_sgr(self.pen, params)
            return
        args = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
        a0 = args[0] if args else 0
        n = a0 or 1  # most commands: a missing or zero count means one
        if inter:
            if inter == " " and final == "q":
                self.cursor_shape = a0
            elif inter == "!" and final == "p":
                self._soft_reset()
            return  # DECRQM ($p), DECSCA ("q) and friends: ignored
        if prefix == "?":
            if final in "hl":
                for a in args:
                    self._dec_mode(a, final == "h")
            elif final == "n" and a0 == 6:
                self.replies.append(f"\x1b[?{self._report_y() + 1};{self.x + 1}R")
            return
        if prefix == ">":
            if final == "c":
                self.replies.append(DA2_REPLY)
            return  # XTVERSION (>q), modifyOtherKeys (>m) ... ignored
        if prefix:
            return
        self._csi_plain(final, args, a0, n)

    def _csi_plain(self, final: str, args: list[int], a0: int, n: int) -> None:
        cols, rows = self.cols, self.rows
        if final in "HfABCDdGeaE`F":
            self._cursor_move(final, args, n)
            return
        line = self.lines[self.y]
        # tmux keeps a pending wrap as the cursor one past the last column: erasing or shifting "from the cursor"
        # then touches nothing on this line, and the wrap stays pending
        cx = cols if self.wrapnext else self.x
        if final == "K":
            fill = erase_style(self.pen)
            if a0 == 0:
                self._erase_cells(line, cx, cols, fill)
            elif a0 == 1:
                self._erase_cells(line, 0, cx + 1, fill)
            elif a0 == 2:
                self._erase_cells(line, 0, cols, fill)
        elif final == "J":
            fill = erase_style(self.pen)
            if a0 == 0 and cx == 0 and self.y == 0:
                self._clear_screen(fill)  # from the top-left corner: the whole screen (tmux keeps it, as ED 2)
            elif a0 == 0:
                self._erase_cells(line, cx, cols, fill)
                for ln in self.lines[self.y + 1 :]:
                    self._erase_cells(ln, 0, cols, fill)
            elif a0 == 1:
                for ln in self.lines[: self.y]:
                    self._erase_cells(ln, 0, cols, fill)
                self._erase_cells(line, 0, cx + 1, fill)
            elif a0 == 2:
                self._clear_screen(fill)
            elif a0 == 3 and (args[1] if len(args) > 1 else 0) == 0:
                # ED 3 (terminfo's E3, which `clear` sends after ED 2) empties the scrollback, as in tmux
                self.history.clear()
                self._young.clear()
        elif final == "X":
            self._erase_cells(line, cx, min(cols, cx + n), erase_style(self.pen))
        elif final == "@":
            n = min(n, cols - cx)
            if n > 0:
                fill = erase_style(self.pen)
                del line.chars[cols - n :]
                del line.styles[cols - n :]
                line.chars[cx:cx] = [" "] * n
                line.styles[cx:cx] = [fill] * n
                if cx < cols - 1 and n < cols - cx:
                    line.used = cols  # tmux moves the rest of the row along: all of it counts as written
                self._fix_wide(line)
                line.cache = None
        elif final == "P":
            n = min(n, cols - cx)
            if n > 0:
                fill = erase_style(self.pen)
                del line.chars[cx : cx + n]
                del line.styles[cx : cx + n]
                line.chars.extend([" "] * n)
                line.styles.extend([fill] * n)
                if cx < cols - 1 and n < cols - cx:
                    line.used = max(line.used, cols - n)  # (tmux: the cells moved left count as written)
                elif cx == 0:
                    line.used = 0  # the whole row deleted
                self._fix_wide(line)
                line.cache = None
        elif final == "L" or final == "M":
            if not self.top <= self.y <= self.bottom:
                self._lines_outside_region(final == "L", n)
                return
            saved = self.top
            self.top = self.y
            if final == "L":
                self._scroll_down(n)
            else:
                self._scroll_up(n, to_history=False)  # deleted lines are gone, even from the top row
            self.top = saved
        elif final == "S":
            self._scroll_up(n)
        elif final == "T":
            if not args or len(args) == 1:
                self._scroll_down(n)
        elif final == "r":
            top = (args[0] if args and args[0] else 1) - 1
            bottom = (args[1] if len(args) > 1 and args[1] else rows) - 1
            bottom = min(bottom, rows - 1)
            if top < bottom:
                self.top, self.bottom = top, bottom
                self.x = 0
                self.y = top if self.origin else 0
                self.wrapnext = False
        elif final == "b":
            if self.last_char:
                self._print(self.last_char * min(n, 65535))
        elif final == "c":
            if a0 == 0:
                self.replies.append(DA1_REPLY)
        elif final == "n":
            if a0 == 5:
                self.replies.append("\x1b[0n")
            elif a0 == 6:
                self.replies.append(f"\x1b[{self._report_y() + 1};{self.x + 1}R")
        elif final == "g":
            if a0 == 0:
                self.tabs.discard(self.x)
            elif a0 == 3:
                self.tabs.clear()
        elif final == "I":
            self._tab(n)
        elif final == "Z":
            x = self.x
            for _ in range(min(n, self.cols)):
                prev = [t for t in self.tabs if t < x]
                x = max(prev) if prev else 0
            self.x = x
            self.wrapnext = False
        elif final in "hl":
            on = final == "h"
            for a in args:
                if a == 4:
                    self.insert = on
                elif a == 20:
                    self.lnm = on
        elif final == "s":
            self._save_cursor()
        elif final == "u":
            self._restore_cursor()
        # t (window ops), q (LEDs), i (print) ... ignored

    def _lines_outside_region(self, insert: bool, n: int) -> None:
        """IL/DL with the cursor outside the scroll region: xterm ignores them; tmux (our reference) applies them
        to the rows from the cursor to the bottom of the screen — reproduced exactly, including that its IL moves
        only `rows - y - n` lines and clears no more than that."""
        y, rows, lines = self.y, self.rows, self.lines
        n = min(n, rows - y)
        fill = erase_style(self.pen)
        if not insert:
            del lines[y : y + n]
            lines.extend(Line(self.cols, fill) for _ in range(n))
            return
        count = rows - y - n
        if count <= 0:
            return
        moved = lines[y : y + count]
        old = lines[y + count : y + n]  # rows tmux neither moves nor clears when count < n
        lines[y : y + n + count] = [Line(self.cols, fill) for _ in range(min(count, n))] + old + moved
        del lines[rows:]

    def _report_y(self) -> int:
        return self.y - self.top if self.origin else self.y

    def _cursor_move(self, final: str, args: list[int], n: int) -> None:
        cols, rows = self.cols, self.rows
        x, y = self.x, self.y
        if final in "Hf":
            row = (args[0] if args and args[0] else 1) - 1
            col = (args[1] if len(args) > 1 and args[1] else 1) - 1
            if self.origin:
                row = min(row + self.top, self.bottom)
            y, x = row, col
        elif final == "A":
            low = self.top if y >= self.top else 0
            y = max(low, y - n)
        elif final in "Be":
            high = self.bottom if y <= self.bottom else rows - 1
            y = min(high, y + n)
        elif final in "Ca":
            x = x + n
        elif final == "D":
            x = (cols if self.wrapnext else x) - n  # tmux counts back from one past the last column
        elif final in "G`":
            x = n - 1
        elif final == "d":
            y = n - 1
            if self.origin:
                y = min(y + self.top, self.bottom)
            self.y = max(0, min(y, rows - 1))
            return  # VPA keeps the column and a pending wrap (tmux)
        elif final == "E":
            high = self.bottom if y <= self.bottom else rows - 1
            y = min(high, y + n)
            x = 0
        elif final == "F":
            low = self.top if y >= self.top else 0
            y = max(low, y - n)
            x = 0
        self.x = max(0, min(x, cols - 1))
        self.y = max(0, min(y, rows - 1))
        self.wrapnext = False

    def _clear_screen(self, fill: int) -> None:
        """Erase the whole screen (ED 2, or ED 0 from the top-left corner). On the main screen the rows down to the
        last one holding anything go to the scrollback first, as tmux (`scroll-on-clear`), VTE and xterm.js do: what
        `clear` or ctrl+L wiped stays one scroll away. The cursor stays where it is."""
        lines = self.lines
        used = 0
        if not self.in_alt and self.history.maxlen:
            used = len(lines)
            while used and lines[used - 1].is_blank():
                used -= 1
            if used:
                self._push_history(lines[:used])
                self._clear_mark = self._pushed
                lines[:used] = [Line(self.cols, fill) for _ in range(used)]
        for ln in lines[used:]:
            self._erase_cells(ln, 0, self.cols, fill)

    def _erase_cells(self, line: Line, start: int, stop: int, fill: int) -> None:
        stop = min(stop, self.cols)
        if start >= stop:
            return
        k = stop - start
        line.chars[start:stop] = [" "] * k
        line.styles[start:stop] = [fill] * k
        if k == self.cols:
            line.used = 0  # a whole row cleared is empty again (tmux); a part keeps what was written around it
        elif fill and start < line.used:
            # cells erased within what was written stay written (tmux's `cellused`): a reflow keeps them, in the
            # erase's background, as it keeps the text around them; only the fill past them is not text
            inside = min(stop, line.used) - start
            line.styles[start : start + inside] = [TEXT_OF_FILL.get(fill, fill)] * inside
        if start and line.chars[start - 1] and char_width(line.chars[start - 1][0]) == 2:
            line.chars[start - 1] = " "
        if stop < self.cols and line.chars[stop] == "":
            line.chars[stop] = " "
        line.cache = None

    def _fix_wide(self, line: Line) -> None:
        """After shifting cells, a wide character may have lost a half: blank the orphan."""
        chars = line.chars
        if "" not in chars:
            if chars and chars[-1] and char_width(chars[-1][0]) == 2:
                chars[-1] = " "
            return
        for i, c in enumerate(chars):
            if c == "" and (i == 0 or not chars[i - 1] or char_width(chars[i - 1][0]) != 2):
                chars[i] = " "
        if chars[-1] and char_width(chars[-1][0]) == 2:
            chars[-1] = " "

    def _soft_reset(self) -> None:
        """DECSTR: modes, margins, pen, charsets and the saved cursor back to their defaults (RIS does more)."""
        self.cursor_visible = True
        self.origin = False
        self.autowrap = True
        self.insert = False
        self.app_cursor = False
        self.app_keypad = False
        self.top, self.bottom = 0, self.rows - 1
        self.pen = 0
        self.g = ["B", "B"]  # G0, G1 charsets: "B" ASCII, "0" DEC special graphics
        self.gl = 0  # which of G0/G1 is shifted in
        self._graphics = False  # the shifted-in set is DEC graphics (a translate per printed run)
        self._saved = None

    def _dec_mode(self, mode: int, on: bool) -> None:
        if mode == 1:
            self.app_cursor = on
        elif mode == 5:
            self.reverse_video = on
        elif mode == 6:
            self.origin = on
            self.x = 0
            self.y = self.top if on else 0
            self.wrapnext = False
        elif mode == 7:
            self.autowrap = on
            if not on:
                self.wrapnext = False
        elif mode == 25:
            self.cursor_visible = on
        elif mode == 66:
            self.app_keypad = on
        elif mode in (47, 1047, 1049):
            if on:
                self._enter_alt(save_cursor=mode == 1049)
            else:
                self._leave_alt(restore_cursor=mode == 1049)
        elif mode == 1048:
            if on:
                self._save_cursor()
            else:
                self._restore_cursor()
        elif mode == 2004:
            self.bracketed_paste = on
        elif mode in (9, 1000, 1001, 1002, 1003, 1005, 1006, 1015):
            if on:
                self.mouse_modes.add(mode)
            else:
                self.mouse_modes.discard(mode)
        elif mode == 1004:
            self.focus_events = on

    def _enter_alt(self, save_cursor: bool) -> None:
        if self.in_alt:
            return
        if save_cursor:
            self._alt_saved = (self.x, self.y, self.pen, self.origin, self.wrapnext, list(self.g), self.gl)
        self._main_lines = self.lines
        self.lines = [Line(self.cols) for _ in range(self.rows)]

    def _leave_alt(self, restore_cursor: bool) -> None:
        # like tmux, 1049l restores the saved cursor even when the alternate screen is not shown
        if restore_cursor and self._alt_saved is not None:
            x, y, self.pen, self.origin, _wrap, g, self.gl = self._alt_saved
            self.g = list(g)
            self._graphics = self.g[self.gl] == "0"
            self.x = min(x, self.cols - 1)
            self.y = min(y, self.rows - 1)
            self.wrapnext = False
        if self._main_lines is None:
            return
        self.lines = self._main_lines
        self._main_lines = None
        for line in self.lines:
            line.cache = None

    # -- size -------------------------------------------------------------------------------------------------
    def resize(self, cols: int, rows: int) -> None:
        """A new width reflows the scrollback and the screen as tmux does (`_reflow`; the alternate screen is
        cropped or padded, its program redraws it); when the height shrinks, the rows below the cursor are dropped
        and then lines above the cursor go to the scrollback, and when it grows the rows scrolled there since the
        last clear come back (tmux's `hscrolled`: what `clear` put away stays put). Both at once: the height
        first, then the width, in tmux's order (`screen_resize_cursor`), so the cursor and the scrollback end where
        tmux has them."""
        cols, rows = max(1, cols), max(1, rows)
        if cols == self.cols and rows == self.rows:
            return
        if rows != self.rows:
            self._resize_rows(rows)
        if cols != self.cols:
            if not self._reflow(cols):
                for line in self.lines:
                    line.resize(cols)
                for line in self._main_lines or ():
                    line.resize(cols)
            kept = {t for t in self.tabs if t < min(cols, self.cols)}
            self.tabs = kept | set(range(8 * (self.cols // 8 + 1), cols, 8))
            self.cols = cols
        self.top, self.bottom = 0, rows - 1
        self.x = min(self.x, cols - 1)
        self.y = min(self.y, rows - 1)
        self.wrapnext = False
        for line in self.lines:
            line.cache = None

    def _resize_rows(self, rows: int) -> None:
        """The height part of `resize`, at the current width."""
        cols = self.cols
        if rows < self.rows:
            excess = self.rows - rows
            lines = self.lines
            # rows below the cursor go first, whatever they hold (tmux's `eat_empty`: it takes them for the blank
            # rows under a shell's prompt), then rows from the top go to the scrollback
            while excess and len(lines) - 1 > self.y:
                lines.pop()
                excess -= 1
            if excess:
                if not self.in_alt and self.history.maxlen:
                    self._push_history(lines[:excess])
                del lines[:excess]
                self.y = max(0, self.y - excess)
            if self._main_lines is not None:
                main = self._main_lines
                drop = len(main) - rows
                if drop > 0:
                    if self.history.maxlen:
                        self._push_history(main[:drop])
                    del main[:drop]
        else:
            add = rows - self.rows
            lines = self.lines
            if not self.in_alt:
                pulled: list[Line] = []
                pullable = min(len(self.history), self._pushed - self._clear_mark)
                while add and pullable:
                    pullable -= 1
                    entry: Entry = self.history.pop()
                    self._pushed -= 1
                    if self._young and self._young[-1][0] == self._pushed:
                        self._young.pop()
                    if isinstance(entry, Line):
                        entry.resize(cols)
                        pulled.append(entry)
                    else:
                        pulled.append(entry_to_line(entry, cols))
                    add -= 1
                pulled.reverse()
                lines[:0] = pulled
                self.y += len(pulled)
            lines.extend(Line(cols) for _ in range(add))
            if self._main_lines is not None:
                self._main_lines.extend(Line(cols) for _ in range(rows - len(self._main_lines)))
        self.rows = rows
        self.y = min(self.y, rows - 1)

    def _reflow(self, cols: int) -> bool:
        """Rewrap the scrollback and the screen to `cols` (`reflow.py`). Returns False where it does not apply (the
        alternate screen, which its program redraws; a flood caught mid-burst): the caller then crops."""
        if self.in_alt or any(line.phantom for line in self.lines):
            return False
        pullable = self._pushed - self._clear_mark
        entries, self.lines, self.x, self.y = reflow(
            self.history, self.lines, self.x, self.y, self.cols, cols, self.rows
        )
        history = self.history
        history.clear()
        history.extend(entries)
        self._young.clear()
        self._pushed = len(history)
        # as tmux: the count of rows a taller screen may take back is kept, up to what the scrollback now holds
        self._clear_mark = self._pushed - max(0, min(pullable, len(history)))
        return True

    # -- reading ----------------------------------------------------------------------------------------------
    def display(self) -> list[str]:
        """The visible text, one string per row (wide characters once, trailing blanks kept)."""
        return [line.text() for line in self.lines]

    def cell(self, x: int, y: int) -> tuple[str, Style]:
        line = self.lines[y]
        return line.chars[x], STYLES[line.styles[x]]

    def history_segments(self, index: int) -> list[tuple[str, int]]:
        return entry_segments(self.history[index], self.cols)

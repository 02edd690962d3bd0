"""Interned cell styles (SGR state) for the terminal emulator.

A style is a small tuple `(fg, bg, flags, ul)`; every distinct style gets one integer id, shared by all screens, so a
cell or a run stores one int and comparing two styles is comparing two ints. Applying an SGR sequence to a pen is
memoised on `(pen, params)`: a log that repeats the same few colour codes costs one dict lookup per sequence.

Colours: `DEFAULT` (-1), 0-255 for the palette, `RGB | 0xRRGGBB` for truecolour.
"""

from __future__ import annotations

import re
from typing import NamedTuple

DEFAULT = -1
RGB = 1 << 24

BOLD = 1
DIM = 2
ITALIC = 4
UNDERLINE = 8
BLINK = 16
REVERSE = 32
HIDDEN = 64
STRIKE = 128
OVERLINE = 256


class Style(NamedTuple):
    fg: int = DEFAULT
    bg: int = DEFAULT
    flags: int = 0


STYLES: list[Style] = [Style()]
_IDS: dict[Style, int] = {Style(): 0}
# Only a hostile stream (random truecolour everywhere) gets near this many distinct styles; past it, new styles
# lose their colours instead of growing the table without bound (ids on screen must stay valid, so no reset).
_MAX_STYLES = 200_000


def intern(style: Style) -> int:
    sid = _IDS.get(style)
    if sid is None:
        if len(STYLES) >= _MAX_STYLES:
            return _IDS.get(Style(DEFAULT, DEFAULT, style.flags), 0)
        sid = len(STYLES)
        STYLES.append(style)
        _IDS[style] = sid
    return sid


_BCE: dict[int, int] = {0: 0}
# Ids of erase fill: blanks an erase (or a scroll) left in a background colour. Each has a twin id of the same
# `Style` that written text gets, so they look the same and compare the same, but reflow can tell them apart: tmux
# rewraps what was written, not the background an erase painted after it.
FILL_IDS: set[int] = set()
_FILL_OF: dict[int, int] = {}
TEXT_OF_FILL: dict[int, int] = {}  # an erase-fill id -> its written-text twin


def erase_style(pen: int) -> int:
    """The style of cells erased (or scrolled in) under `pen`: its background only (xterm's BCE, as tmux does), as
    an erase-fill id (`FILL_IDS`)."""
    sid = _BCE.get(pen)
    if sid is None:
        bg = STYLES[pen].bg
        sid = 0 if bg == DEFAULT else _fill(intern(Style(DEFAULT, bg, 0)))
        _BCE[pen] = sid
    return sid


def _fill(sid: int) -> int:
    fill = _FILL_OF.get(sid)
    if fill is None:
        if len(STYLES) >= _MAX_STYLES:
            return sid  # (a hostile stream: the background stays right, only reflow treats it as text)
        fill = len(STYLES)
        STYLES.append(STYLES[sid])  # not in _IDS: `intern` keeps returning the written-text id
        FILL_IDS.add(fill)
        _FILL_OF[sid] = fill
        TEXT_OF_FILL[fill] = sid
    return fill


SGR_CACHE: dict[tuple[int, str], int] = {}

_FLAG_ON = {
    1: BOLD,
    2: DIM,
    3: ITALIC,
    4: UNDERLINE,
    5: BLINK,
    6: BLINK,
    7: REVERSE,
    8: HIDDEN,
    9: STRIKE,
    53: OVERLINE,
}
_FLAG_OFF = {
    22: BOLD | DIM,
    23: ITALIC,
    24: UNDERLINE,
    25: BLINK,
    27: REVERSE,
    28: HIDDEN,
    29: STRIKE,
    55: OVERLINE,
}


def _num(s: str) -> int:
    try:
        return int(s) if s else 0
    except ValueError:
        return 0


def _extended(parts: list[str], i: int) -> tuple[int | None, int]:
    """Parse `38;5;n` / `38;2;r;g;b` starting after the 38/48 at index i. Returns (colour or None, next index)."""
    if i >= len(parts):
        return None, i
    kind = _num(parts[i])
    if kind == 5 and i + 1 < len(parts):
        n = _num(parts[i + 1])
        return (n if 0 <= n <= 255 else None), i + 2
    if kind == 2 and i + 3 < len(parts):
        r, g, b = (_num(p) for p in parts[i + 1 : i + 4])
        return RGB | ((r & 255) << 16) | ((g & 255) << 8) | (b & 255), i + 4
    return None, len(parts)


def _colon(sub: list[str]) -> int | None:
    """A colon form: `38:5:n`, `38:2:r:g:b` or `38:2::r:g:b` (with a colour-space id)."""
    if len(sub) >= 3 and sub[1] == "5":
        n = _num(sub[2])
        return n if 0 <= n <= 255 else None
    if len(sub) >= 5 and sub[1] == "2":
        rgb = sub[-3:] if len(sub) >= 6 else sub[2:5]
        r, g, b = (_num(p) & 255 for p in rgb)
        return RGB | (r << 16) | (g << 8) | b
    return None


def _apply(pen: int, params: str) -> int:
    fg, bg, flags = STYLES[pen]
    parts = params.split(";") if params else [""]
    i = 0
    n = len(parts)
    while i < n:
        p = parts[i]
        i += 1
        if ":" in p:
            sub = p.split(":")
            code = _num(sub[0])
            if code in (38, 48, 58):
                col = _colon(sub)
                if col is not None:
                    if code == 38:
                        fg = col
                    elif code == 48:
                        bg = col
            elif code == 4:
                # 4:0 is "no underline"; curly/dotted/... render as underline
                flags = flags & ~UNDERLINE if _num(sub[1]) == 0 else flags | UNDERLINE
            continue
        code = _num(p)
        if code == 0:
            fg, bg, flags = DEFAULT, DEFAULT, 0
        elif 30 <= code <= 37:
            fg = code - 30
        elif 40 <= code <= 47:
            bg = code - 40
        elif 90 <= code <= 97:
            fg = code - 90 + 8
        elif 100 <= code <= 107:
            bg = code - 100 + 8
        elif code == 39:
            fg = DEFAULT
        elif code == 49:
            bg = DEFAULT
        elif code in (38, 48):
            col, i = _extended(parts, i)
            if col is not None:
                if code == 38:
                    fg = col
                else:
                    bg = col
        elif code == 58:
            _col, i = _extended(parts, i)  # underline colour: parsed so its arguments are not misread, not shown
        elif code in _FLAG_ON:
            flags |= _FLAG_ON[code]
        elif code in _FLAG_OFF:
            flags &= ~_FLAG_OFF[code]
        elif code == 21:
            flags |= UNDERLINE  # double underline
    return intern(Style(fg, bg, flags))


def apply_sgr(pen: int, params: str) -> int:
    key = (pen, params)
    sid = SGR_CACHE.get(key)
    if sid is None:
        if len(SGR_CACHE) > 100_000:
            SGR_CACHE.clear()
        sid = SGR_CACHE[key] = _apply(pen, params)
    return sid


SGR_RE = re.compile("\x1b\\[([0-9;:]*)m")  # one SGR sequence; group 1 its parameters
RESETS = ("\x1b[m", "\x1b[0m")  # a line ending in one of these leaves the default pen (most logs' lines do)


def pen_after(pen: int, s: str, start: int = 0, end: int | None = None) -> int:
    """The pen after the SGR sequences in s[start:end], starting from `pen`.

    Starts at the last plain reset (`ESC[0m` / `ESC[m`) when there is one: everything before it cannot matter.
    """
    stop = len(s) if end is None else end
    k = max(s.rfind("\x1b[0m", start, stop), s.rfind("\x1b[m", start, stop))
    if k >= 0:
        pen, start = 0, k
    for params in SGR_RE.findall(s, start, stop):
        pen = apply_sgr(pen, params)
    return pen

"""xterm mouse reporting: a mouse event over the pane → the bytes a program that asked for the mouse expects.

A program turns reporting on with DEC private modes (tracked by `Emulator.mouse_modes`):

* which events: 9 (X10: presses only), 1000 (presses and releases, the wheel), 1002 (also motion while a button is
  held), 1003 (all motion);
* how they are written: the default `CSI M Cb Cx Cy` (one byte each, so nothing past column/row 223), 1005 (the
  same as UTF-8), 1015 (urxvt: `CSI Cb;x;y M`) or 1006 (SGR: `CSI < b;x;y M`, `m` for a release — what htop, vim
  and tmux ask for).

Button codes as xterm sends them: 0/1/2 left/middle/right, 3 a release (outside SGR), +32 motion, 64/65 the wheel,
+4 shift, +8 meta, +16 ctrl (not in X10 mode). Coordinates are 1-based cells.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["press", "release", "motion", "wheel_up", "wheel_down"]
TRACKING = (1003, 1002, 1000, 9)  # the most inclusive one a program asked for wins, as in xterm


def tracking_mode(modes: set[int]) -> int | None:
    """The event-selection mode in force, or None when the program has not asked for the mouse."""
    return next((m for m in TRACKING if m in modes), None)


def encode_mouse(
    kind: Kind,
    button: int,
    x: int,
    y: int,
    modes: set[int],
    *,
    shift: bool = False,
    meta: bool = False,
    ctrl: bool = False,
) -> bytes | None:
    """The report for one event at cell (x, y) (0-based), or None when the program does not want this one.

    `button`: 1 left, 2 middle, 3 right (Textual's numbering), 0 none (motion with no button held)."""
    tracking = tracking_mode(modes)
    if tracking is None or x < 0 or y < 0:
        return None
    if kind == "motion" and not (tracking == 1003 or (tracking == 1002 and button)):
        return None
    if kind == "release" and tracking == 9:
        return None
    if kind == "wheel_up":
        cb = 64
    elif kind == "wheel_down":
        cb = 65
    elif button in (1, 2, 3):
        cb = button - 1
    elif kind == "motion":
        cb = 3  # motion with no button held
    else:
        return None
    if kind == "motion":
        cb += 32
    if tracking != 9:
        cb += (4 if shift else 0) + (8 if meta else 0) + (16 if ctrl else 0)
    col, row = x + 1, y + 1
    if 1006 in modes:
        return f"\x1b[<{cb};{col};{row}{'m' if kind == 'release' else 'M'}".encode()
    if kind == "release":
        cb = (cb & ~3) | 3  # the old encodings cannot say which button was released
    if 1015 in modes:
        return f"\x1b[{cb + 32};{col};{row}M".encode()
    if 1005 in modes:
        if max(col, row) > 2015:
            return None
        return b"\x1b[M" + (chr(cb + 32) + chr(col + 32) + chr(row + 32)).encode()
    if max(col, row) > 223:
        return None  # one byte per coordinate: xterm sends nothing this far out
    return b"\x1b[M" + bytes((cb + 32, col + 32, row + 32))

"""When the workspace's automatic layout keeps tabs for the sake of a focused terminal.

Tiles give the terminal a third of the body: at 100x30 that made `top` 74x6 while the empty editor above got 14
rows (it had the whole body, tabbed, at 80x24). So while the terminal has the focus the layout stays tabbed until
tiles would still give it `TILED_TERMINAL_ROWS`; the decision is taken on a resize only (a focus move never
re-lays the screen), and the layout key still picks either at any size.
"""

from __future__ import annotations

TILED_TERMINAL_ROWS = 10
TERMINAL_SHARE = 0.33  # styles.tcss `#pane-terminal { height: 33% }`
CHROME_ROWS = 2  # the status bar and the footer, outside the body
BORDER_ROWS = 2  # the terminal frame's top and bottom


def terminal_would_shrink(height: int) -> bool:
    """True when tiles at `height` rows would leave a focused terminal fewer than `TILED_TERMINAL_ROWS` rows."""
    return int((height - CHROME_ROWS) * TERMINAL_SHARE) - BORDER_ROWS < TILED_TERMINAL_ROWS

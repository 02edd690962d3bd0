"""The terminal pane: a fast xterm-compatible emulator (`emulator.py`: `Emulator`, its rows `rows.py`, reading
the scrollback `scrollback.py`, reflow on a width change `reflow.py`), key and mouse encoding (`keys.py`,
`mouse.py`) and the Textual widgets (`pane.py`: `TerminalView` for one terminal; `selection.py`: its selection,
copy mode and search; `tabs.py`: `TerminalPane`, tabs of them; `priority.py`: typing before flooding)."""

from widgets.terminal.emulator import Emulator
from widgets.terminal.pane import TerminalView, terminal_has_keyboard
from widgets.terminal.tabs import TerminalPane

__all__ = ["Emulator", "TerminalPane", "TerminalView", "terminal_has_keyboard"]

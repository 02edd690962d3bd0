"""The terminal pane: a fast xterm-compatible emulator (`screen.py`), key and mouse encoding (`keys.py`,
`mouse.py`) and the Textual widgets (`pane.py`: `TerminalView` for one terminal; `selection.py`: its selection,
copy mode and search; `tabs.py`: `TerminalPane`, tabs of them; `priority.py`: typing before flooding)."""

from widgets.terminal.pane import TerminalView, terminal_has_keyboard
from widgets.terminal.screen import Screen
from widgets.terminal.tabs import TerminalPane

__all__ = ["Screen", "TerminalPane", "TerminalView", "terminal_has_keyboard"]

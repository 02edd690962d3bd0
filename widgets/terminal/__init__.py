"""The terminal pane: a fast xterm-compatible emulator (`screen.py`), key encoding (`keys.py`) and the Textual
widgets (`pane.py`: `TerminalView` for one terminal, `TerminalPane` for tabs of them)."""

from widgets.terminal.pane import TerminalPane, TerminalView, terminal_has_keyboard
from widgets.terminal.screen import Screen

__all__ = ["Screen", "TerminalPane", "TerminalView", "terminal_has_keyboard"]

"""The code editor's own keys: every key of Textual's `TextArea`, declared here with ids, names people know, and
one change (issue 11: no two actions on one key).

`CodeEditor` does not inherit `TextArea`'s bindings (`inherit_bindings=False`): it binds exactly these. That is
what lets `[keymap]` rebind any editing key by id, keeps Textual's names (`^pgup Page Left`) off the help screen,
and resolves two clashes:

- **Select line is ctrl+l** (TextArea: f6). f6 is the workspace's "Next pane" everywhere, so TextArea's f6 could
  never run; ctrl+l is VS Code's key for it.
- ctrl+PgUp / ctrl+PgDn are the editor's previous/next tab. TextArea inherited them from Textual's scroll
  container as "Page Left/Right" (scrolling sideways), which took the key from the tab switch whenever a file
  had focus. Sideways scrolling needs no key of its own: the cursor scrolls the view.

ctrl+e / ctrl+a stay line end / line start (emacs and readline habit); the fuzzy finder moved to ctrl+o, app-wide.
"""

from __future__ import annotations

from widgets.keys import Key


def _move(binding_id: str, keys: str, action: str, description: str) -> Key:
    """Cursor movement and plain typing keys: neither in the palette nor on the help screen."""
    return Key(binding_id, keys, action, description, show=False, palette=False, help=False)


def _edit(binding_id: str, keys: str, action: str, description: str, tooltip: str) -> Key:
    """Editing keys people look up on the help screen, but do not run from a list."""
    return Key(binding_id, keys, action, description, tooltip, show=False, palette=False)


EDITOR_KEYS: tuple[Key, ...] = (
    Key("editor.undo", "ctrl+z,super+z", "undo", "Undo", "Undo the last batch of edits"),
    Key("editor.redo", "ctrl+y,super+y", "redo", "Redo", "Redo what was undone"),
    _move("editor.cursor_up", "up", "cursor_up", "Up"),
    _move("editor.cursor_down", "down", "cursor_down", "Down"),
    _move("editor.cursor_left", "left", "cursor_left", "Left"),
    _move("editor.cursor_right", "right", "cursor_right", "Right"),
    # alt+b / alt+f as well: readline's keys, and what Textual used to turn ESC b / ESC f into (tui/meta_keys.py)
    _move("editor.word_left", "ctrl+left,alt+b", "cursor_word_left", "Word left"),
    _move("editor.word_right", "ctrl+right,alt+f", "cursor_word_right", "Word right"),
    _edit("editor.line_start", "home,ctrl+a", "cursor_line_start", "Line start", "Cursor to the start of the line"),
    _edit("editor.line_end", "end,ctrl+e", "cursor_line_end", "Line end", "Cursor to the end of the line"),
    _move("editor.page_up", "pageup", "cursor_page_up", "Page up"),
    _move("editor.page_down", "pagedown", "cursor_page_down", "Page down"),
    _move("editor.select_word_left", "ctrl+shift+left", "cursor_word_left(True)", "Select word left"),
    _move("editor.select_word_right", "ctrl+shift+right", "cursor_word_right(True)", "Select word right"),
    _move("editor.select_line_start", "shift+home", "cursor_line_start(True)", "Select to line start"),
    _move("editor.select_line_end", "shift+end", "cursor_line_end(True)", "Select to line end"),
    _move("editor.select_up", "shift+up", "cursor_up(True)", "Select up"),
    _move("editor.select_down", "shift+down", "cursor_down(True)", "Select down"),
    _move("editor.select_left", "shift+left", "cursor_left(True)", "Select left"),
    _move("editor.select_right", "shift+right", "cursor_right(True)", "Select right"),
    Key("editor.select_line", "ctrl+l", "select_line", "Select line", "Select the whole line", show=False),
    Key("editor.select_all", "f7", "select_all", "Select all", "Select the whole file", show=False),
    _move("editor.delete_left", "backspace", "delete_left", "Delete left"),
    _move("editor.delete_right", "delete,ctrl+d", "delete_right", "Delete right"),
    _edit(
        "editor.delete_word_left",
        "ctrl+w,ctrl+backspace,alt+backspace",
        "delete_word_left",
        "Delete word left",
        "Delete to the start of the word",
    ),
    _edit(
        "editor.delete_word_right",
        "alt+delete",
        "delete_word_right",
        "Delete word right",
        "Delete to the end of the word",
    ),
    Key("editor.cut", "ctrl+x,super+x", "cut", "Cut", "Cut the selection", show=False),
    Key("editor.copy", "ctrl+c,super+c", "copy", "Copy", "Copy the selection", show=False),
    Key("editor.paste", "ctrl+v", "paste", "Paste", "Paste from the clipboard", show=False),
    _edit(
        "editor.delete_to_line_start",
        "ctrl+u,super+backspace",
        "delete_to_start_of_line",
        "Delete to line start",
        "Delete from the cursor to the start of the line",
    ),
    _edit(
        "editor.delete_to_line_end",
        "ctrl+k",
        "delete_to_end_of_line_or_delete_line",
        "Delete to line end",
        "Delete to the end of the line (the line itself when it is empty)",
    ),
    Key("editor.delete_line", "ctrl+shift+k", "delete_line", "Delete line", "Delete the whole line", show=False),
)

"""Find and replace in one `CodeEditor`: the find bar and the search helpers behind it.

`FindBar` is the bar docked under the editor pane (find, replace, replace all); it only posts what the user asked
for, and `EditorTabs` applies it to the active buffer with `select_match` and `replace_matches`. Matching is smart-case
(a query with no capitals matches any case) and single-line; a search wraps around the buffer.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Static
from textual.widgets.text_area import Selection

from widgets.editor.text_area import CodeEditor
from widgets.keys import Key, bindings


class FindField(Input):
    """The find field: enter (the field's own submit) finds the next match; named here so the footer says so."""

    BINDINGS = bindings(
        (Key("editor.find_enter", "enter", "submit", "Next match", "Find the next match", group="Editor: find"),)
    )


class ReplaceField(Input):
    """The replace-with field: enter replaces the current match and moves on; named here so the footer says so."""

    BINDINGS = bindings(
        (
            Key(
                "editor.replace_enter",
                "enter",
                "submit",
                "Replace",
                "Replace this match and find the next",
                group="Editor: replace",
            ),
        )
    )


class FindBar(Horizontal):
    """Find (and replace) in the active buffer. Enter finds the next match; in the replace field, enter
    replaces the current match and moves on."""

    BINDINGS = bindings((Key("editor.find_close", "escape", "close", "Close find", "Hide the find bar"),))
    # while a field of the bar has focus the footer shows these first (widgets/footer.py), not the editor's keys
    FOOTER_FIRST = (
        "editor.find_enter",
        "editor.replace_enter",
        "editor.find_next",
        "editor.find_prev",
        "editor.find_close",
    )
    DEFAULT_CSS = """
    FindBar { dock: bottom; height: auto; display: none; background: $panel; padding: 0 1; }
    FindBar.-visible { display: block; }
    FindBar Input { width: 1fr; border: none; height: 1; padding: 0 1; }
    FindBar Button { min-width: 6; height: 1; border: none; margin-left: 1; }
    FindBar #replace, FindBar #replace-one, FindBar #replace-all { display: none; }
    FindBar.-replace #replace, FindBar.-replace #replace-one, FindBar.-replace #replace-all { display: block; }
    FindBar #find-status { width: auto; min-width: 8; padding: 0 1; color: $text-muted; }
    """

    class Find(Message):
        def __init__(self, query: str, forward: bool) -> None:
            super().__init__()
            self.query = query
            self.forward = forward

    class Replace(Message):
        def __init__(self, query: str, replacement: str, all: bool) -> None:
            super().__init__()
            self.query = query
            self.replacement = replacement
            self.all = all

    def compose(self) -> ComposeResult:
        # Nothing until the bar is first opened (`open`): hidden, its five widgets cost every workspace opening
        # their mounting and styling, and every screen-wide restyle their share, for a bar most openings never show.
        return
        yield

    def _fields(self, initial: str) -> list[Widget]:
        # compact: a one-row bar; the plain `border: none` below lost to Input's own `:focus` border rule, which
        # left the focused field two border rows and no room for its text
        return [
            FindField(initial, placeholder="find", id="find", compact=True),
            Static("", id="find-status"),
            ReplaceField(placeholder="replace with", id="replace", compact=True),
            Button("Replace", id="replace-one", compact=True),
            Button("All", id="replace-all", compact=True),
        ]

    @property
    def built(self) -> bool:
        """Whether the bar has been opened once (its fields exist)."""
        return bool(self.children)

    @property
    def query_text(self) -> str:
        return self.query_one("#find", Input).value if self.built else ""

    def open(self, *, replace: bool, initial: str = "") -> None:
        initial = initial if "\n" not in initial else ""
        if not self.built:
            self.mount_all(self._fields(initial))  # registered now: the queries below find them
        elif initial:
            self.query_one("#find", Input).value = initial
        self.add_class("-visible")
        self.set_class(replace, "-replace")
        self.query_one("#find", Input).focus()

    def set_status(self, text: str) -> None:
        if self.built:  # F3 before the bar was ever opened finds nothing (no query): there is no status to say
            self.query_one("#find-status", Static).update(Text(text))

    def action_close(self) -> None:
        self.remove_class("-visible")
        self.post_message(self.Closed())

    class Closed(Message):
        pass

    @on(Input.Submitted, "#find")
    def _find_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Find(event.value, True))

    @on(Input.Submitted, "#replace")
    def _replace_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Replace(self.query_text, event.value, False))

    @on(Button.Pressed, "#replace-one")
    def _replace_one(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Replace(self.query_text, self.query_one("#replace", Input).value, False))

    @on(Button.Pressed, "#replace-all")
    def _replace_all(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Replace(self.query_text, self.query_one("#replace", Input).value, True))


def search(editor: CodeEditor, query: str, forward: bool) -> tuple[int, int] | None:
    fold = query.islower()
    needle = query.lower() if fold else query
    lines = editor.document.lines
    n = len(lines)
    start, end = sorted(editor.selection)
    if forward:
        row, col = end if start != end else editor.cursor_location
        for step in range(n + 1):
            r = (row + step) % n
            line = lines[r].lower() if fold else lines[r]
            from_col = col if step == 0 else 0
            hit = line.find(needle, from_col)
            if hit >= 0 and not (step == n and hit >= col):
                return r, hit
        return None
    row, col = start
    for step in range(n + 1):
        r = (row - step) % n
        line = lines[r].lower() if fold else lines[r]
        if step == 0:
            hit = line.rfind(needle, 0, max(0, col)) if col > 0 else -1
            if hit >= 0 and hit + len(needle) > col:
                hit = line.rfind(needle, 0, max(0, col - 1))
        else:
            hit = line.rfind(needle)
        if hit >= 0:
            return r, hit
    return None


def replace_in_line(line: str, query: str, replacement: str, fold: bool) -> tuple[str, int]:
    if not fold:
        return line.replace(query, replacement), line.count(query)
    lowered = line.lower()
    needle = query.lower()
    out = []
    pos = count = 0
    while (hit := lowered.find(needle, pos)) >= 0:
        out.append(line[pos:hit])
        out.append(replacement)
        pos = hit + len(query)
        count += 1
    out.append(line[pos:])
    return "".join(out), count


def select_match(editor: CodeEditor, query: str, forward: bool) -> int | None:
    """Select the next (previous) match of `query` after (before) the cursor, wrapping around, and scroll it into
    the middle of the view. Returns the match's row, or None when there is none."""
    found = search(editor, query, forward)
    if found is None:
        return None
    row, col = found
    editor.selection = Selection((row, col), (row, col + len(query)))
    editor.scroll_cursor_visible(center=True)
    return row


def replace_matches(editor: CodeEditor, query: str, replacement: str) -> int:
    """Replace every match of `query`, as one undoable edit per changed line. Returns the count."""
    fold = query.islower()
    needle = query.lower() if fold else query
    count = 0
    lines = editor.document.lines
    # edit bottom-up so earlier locations stay valid
    hits = [i for i, line in enumerate(lines) if needle in (line.lower() if fold else line)]
    for row in reversed(hits):
        line = lines[row]
        new, n = replace_in_line(line, query, replacement, fold)
        if n:
            editor.replace(new, (row, 0), (row, len(line)))
            count += n
    return count

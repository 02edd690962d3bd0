"""The editor's "diff with disk" screen: what the editor holds against what is on disk, asked for from a save
conflict before the question (overwrite / reload / diff) is asked again.

The diff is computed with `difflib` (disk → editor, off the event loop) and shown in the git panel's own
`widgets.diff_view.DiffView`, so the app has one diff view: the same highlighting, hunk navigation and
sanitising of sandbox text.
"""

from __future__ import annotations

import difflib
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from services.git_parse import DiffFile, encode, parse_diff
from services.text import safe_text
from widgets.diff_view import DiffView
from widgets.footer import OwnFooter
from widgets.keys import Key, bindings


def disk_diff(path: str, disk_text: str, editor_text: str) -> list[DiffFile]:
    """The unified diff of `disk_text` → `editor_text` as `DiffFile`s for `DiffView`; [] when they are equal."""
    lines = difflib.unified_diff(
        disk_text.splitlines(keepends=True), editor_text.splitlines(keepends=True), "a/f", "b/f"
    )
    body = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if not body:
        return []
    # parse_diff wants git's file header; the real name is set afterwards, so no name is ever re-parsed
    files = parse_diff(encode("diff --git a/f b/f\n" + body))
    return [replace(f, old_path=path, new_path=path) for f in files]


class DiskDiffScreen(OwnFooter, ModalScreen[None]):
    """A read-only diff (disk → editor) over the editor; escape goes back to the conflict question."""

    BINDINGS = bindings(
        (Key("editor.diff_back", "escape,q", "dismiss_diff", "Back", "Close the diff", group="Editor: diff with disk"),)
    )
    DEFAULT_CSS = """
    DiskDiffScreen { align: center middle; background: $background 60%; }
    DiskDiffScreen > Vertical { width: 95%; height: 90%; border: round $accent; background: $surface; }
    DiskDiffScreen .diff-title { text-style: bold; color: $accent; padding: 0 1; }
    DiskDiffScreen DiffView { height: 1fr; }
    """

    def __init__(self, title: str, files: list[DiffFile]) -> None:
        super().__init__()
        self._title = title
        self._files = files

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(safe_text(self._title) + "  (escape: back)"), classes="diff-title")
            yield DiffView(self._files)

    def on_mount(self) -> None:
        self.query_one(DiffView).focus()

    def action_dismiss_diff(self) -> None:
        self.dismiss(None)

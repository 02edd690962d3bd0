"""One open file of the editor: the `Buffer` record, the undo-history marker that says whether it is dirty, and
the edits a save or a reload makes to its `CodeEditor` (a final newline; a minimal, undoable replace).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from widgets.editor.content import LoadedFile
from widgets.editor.text_area import CodeEditor


def undo_marker(editor: CodeEditor) -> object | None:
    """Identifies the buffer's place in its undo history: the last edit of the newest batch. Equal to the
    marker taken at save time exactly when undo/redo has brought the buffer back to the saved text."""
    stack = editor.history._undo_stack
    return stack[-1][-1] if stack and stack[-1] else None


@dataclass
class Buffer:
    """One open tab."""

    path: str
    pane_id: str
    loaded: LoadedFile
    editor: CodeEditor
    mtime: float
    saved_marker: object | None = None
    dirty: bool = False
    changed_on_disk: bool = False
    deleted: bool = False  # the file is gone on disk (the tab's title is struck through until saved or back)
    last_stat: float = field(default_factory=time.monotonic)

    @property
    def read_only(self) -> bool:
        return self.loaded.read_only


def end_with_newline(editor: CodeEditor) -> None:
    """Add the final newline a non-empty buffer lacks, as an undoable edit (the buffer stays what is on disk)."""
    lines = editor.document.lines
    if lines[-1]:
        row = len(lines) - 1
        editor.insert("\n", (row, len(lines[row])), maintain_selection_offset=True)


def apply_minimal_edit(editor: CodeEditor, new_text: str) -> None:
    """Make the editor's text `new_text` with one edit covering only the lines that differ (keeps the cursor,
    the highlighting of unchanged lines, and makes a reload undoable)."""
    old = editor.document.lines
    new = new_text.splitlines()
    if new_text.endswith(("\n", "\r")) or not new_text:
        new.append("")
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    if prefix == len(old) == len(new):
        return
    old_end_row = len(old) - 1 - suffix
    new_mid = new[prefix : len(new) - suffix]
    newline = editor.document.newline
    if old_end_row < prefix:
        # pure insertion of lines before line `prefix`
        editor.insert(newline.join(new_mid) + newline, (prefix, 0), maintain_selection_offset=True)
        return
    replacement = newline.join(new_mid)
    if not new_mid:
        # pure deletion of lines prefix..old_end_row
        if old_end_row + 1 < len(old):
            editor.delete((prefix, 0), (old_end_row + 1, 0), maintain_selection_offset=True)
        else:
            editor.delete(
                (prefix - 1, len(old[prefix - 1])), (old_end_row, len(old[old_end_row])), maintain_selection_offset=True
            )
        return
    editor.replace(replacement, (prefix, 0), (old_end_row, len(old[old_end_row])), maintain_selection_offset=True)

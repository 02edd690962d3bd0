"""The read-only hex view of a binary file, laid out to the pane's width (issue 11 §6).

A fixed 16-bytes-per-row dump is 75 columns: in an editor pane narrower than that (80x24, or 120 columns with the
git panel open) its ASCII column was cut off to the right. This view shows as many bytes per row (16, 12, 8 or 4)
as fit with the ASCII column whole, re-laid out when the pane resizes, and has no line-number gutter (the offset
column is the row's address).
"""

from __future__ import annotations

from typing import Any

from widgets.editor.content import bytes_per_row, hex_dump
from widgets.editor.text_area import CodeEditor


class HexView(CodeEditor):
    def __init__(self, raw: bytes, **kwargs: Any) -> None:
        self._raw = raw
        self.per_row = 16
        super().__init__(hex_dump(raw, per_row=16), read_only=True, soft_wrap=False, **kwargs)
        self.show_line_numbers = False

    def on_resize(self) -> None:
        self._relayout()

    def on_mount(self) -> None:
        self.call_after_refresh(self._relayout)

    def _relayout(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        per_row = bytes_per_row(width - 1)  # one cell for the cursor at the end of a row
        if per_row != self.per_row:
            self.per_row = per_row
            self.load_text(hex_dump(self._raw, per_row=per_row))

"""Home and End in the row-cursor tables (the sandbox list, the processes and ports): the first and the last row.

Textual's `DataTable` binds home/end to scrolling sideways, which in a row-cursor table whose columns fit does
nothing at all, while PgUp/PgDn move the cursor a page. `RowJumps` makes them what they are in every list: the
first and the last row, as keys of the registry (help, palette off: it is cursor movement).
"""

from __future__ import annotations

from textual.widgets import DataTable

from widgets.keys import Key

ROW_JUMP_KEYS: tuple[Key, ...] = tuple(
    Key(f"table.{action}", key, action, label, f"Move to the {label.lower()}", show=False, palette=False, group="Lists")
    for key, action, label in (("home", "first_row", "First row"), ("end", "last_row", "Last row"))
)


class RowJumps:
    """A mixin for a `DataTable` with a row cursor: the actions ROW_JUMP_KEYS name (its class binds them)."""

    def action_first_row(self) -> None:
        table = self._table()
        if table.row_count:
            table.move_cursor(row=0, animate=False)

    def action_last_row(self) -> None:
        table = self._table()
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def _table(self) -> DataTable[object]:
        assert isinstance(self, DataTable)
        return self

"""The checkpoint tree of one sandbox: its checkpoints by parent link, newest first, the head (the checkpoint the
workspace is at) marked `●`, a fork's first checkpoint saying which sandbox and checkpoint it came from.

The layout is `git log --graph`'s idea without the lines: walking from the oldest, a checkpoint's newest child
continues its line at the same indent and older children (a line left by a restore) are indented one step, then
the whole walk is shown newest first: a child above its parent, as `git log --graph` reads (`sandbench checkpoints`
prints the same rows, `checkpoint_rows`). Each row: what it added to the store (`+files size`, a column at the left
that is never cut), its age, then the tree — indent, mark, id, kind — then its message and (from 100 columns) who,
which take the room left; the message is what is cut. `header()` names the columns; each column is as wide as the
rows need, so at 80 columns the room goes to the message. Messages and names are sandbox text: never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.style import Style
from rich.text import Text
from textual import events

from services.checkpoints.store import Checkpoint
from services.text import safe_text
from widgets.changes_tree import CURSOR_KEYS
from widgets.clock import utc_now
from widgets.keys import bindings
from widgets.row_tree import RowTree
from widgets.sandbox_table import human_size, relative_time

SHORT = 12  # id characters shown: the whole id, as the CLI and the service's messages say it
MESSAGE_CELLS = 32  # a message's cells at most (the room left may be less)
ADDED_CELLS = 13  # "+123456 999.9M": the files and bytes a checkpoint added to the store
AGE_CELLS = 8
KIND_CELLS = 14  # "before-restore"
WHO_MIN_WIDTH = 100  # narrower, who is left to the detail line under the tree: the message needs the room
LEGEND = "+files size: what each checkpoint added to the store (unchanged files cost nothing)"
KIND_STYLE = {
    "manual": Style(color="bright_white", bold=True),
    "auto": Style(color="grey62"),
    "before-restore": Style(color="yellow"),
    "fork": Style(color="cyan"),
}


@dataclass(frozen=True)
class CheckpointRow:
    ckpt: Checkpoint
    depth: int
    head: bool
    origin: str | None = None  # a fork's first checkpoint: "sandbox@id" it came from


def checkpoint_rows(
    ckpts: Iterable[Checkpoint], head: str | None, sandbox_names: dict[str, str] | None = None
) -> list[CheckpointRow]:
    """The rows, newest first (see the module docstring)."""
    names = sandbox_names or {}
    items = sorted(ckpts, key=lambda c: (c.created_at, c.id))
    ids = {c.id for c in items}
    kids: dict[str, list[Checkpoint]] = {}
    roots: list[Checkpoint] = []
    for c in items:
        if c.parent is not None and c.parent in ids and c.parent_sandbox in (None, c.sandbox):
            kids.setdefault(c.parent, []).append(c)
        else:
            roots.append(c)
    out: list[CheckpointRow] = []

    def origin(c: Checkpoint) -> str | None:
        if c.parent is None or c.parent_sandbox in (None, c.sandbox):
            return None
        where = names.get(c.parent_sandbox, c.parent_sandbox)
        return f"{where}@{c.parent[:SHORT]}"

    # iterative, so a long history (thousands of automatic checkpoints) never hits the recursion limit
    stack: list[tuple[Checkpoint, int]] = [(r, 0) for r in reversed(roots)]
    while stack:
        c, depth = stack.pop()
        out.append(CheckpointRow(c, depth, c.id == head, origin(c)))
        children = kids.get(c.id, [])
        if children:
            # visited in this order: older children (indented), then the newest, which continues the line
            stack.append((children[-1], depth))
            stack.extend((k, depth + 1) for k in reversed(children[:-1]))
    out.reverse()
    return out


def added_text(c: Checkpoint) -> str:
    """What a checkpoint added to the store: `+47 26.6K`."""
    return f"+{c.files_added} {human_size(c.bytes_added)}"


class CheckpointTree(RowTree[CheckpointRow]):
    """Checkpoints with a cursor and one mark (space, set by the screen): `marked` is its id."""

    BINDINGS = bindings(CURSOR_KEYS)

    def __init__(
        self, *, clock: Callable[[], datetime] = utc_now, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.clock = clock
        self.marked: str | None = None
        self.added_cells = ADDED_CELLS
        self.kind_cells = KIND_CELLS

    def row_key(self, row: CheckpointRow) -> Hashable:
        return row.ckpt.id

    def set_marked(self, ckpt_id: str | None) -> None:
        self.marked = ckpt_id
        self.refresh_rows()

    def set_rows(self, rows: Sequence[CheckpointRow]) -> None:
        # the columns are as wide as these rows need: at 80 columns every cell saved goes to the message
        self.added_cells = max((len(added_text(r.ckpt)) for r in rows), default=0)
        self.added_cells = max(self.added_cells, len("added"))
        self.kind_cells = max((len(r.ckpt.kind) for r in rows), default=KIND_CELLS)
        super().set_rows(rows)

    def header(self) -> str:
        """The column names over the rows, and what `+files size` means."""
        return (
            f"{'added':>{self.added_cells}}  {'age':>{AGE_CELLS}}  child above parent · "
            "added = +files size new to the store"
        )

    def row_width(self, row: CheckpointRow) -> int:
        # the rows fit the width (`row_text` cuts the message first): no horizontal scroll
        return 0

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_rows()  # rows are laid out for the width

    def row_text(self, row: CheckpointRow) -> Text:
        c = row.ckpt
        tree_min = 2 + SHORT + 2 + self.kind_cells  # mark, id, kind: kept whole, however deep the indent
        width = max(self.scrollable_content_region.width, self.added_cells + AGE_CELLS + 4 + tree_min)
        text = Text(f"{added_text(c):>{self.added_cells}}", style="grey62")
        age = relative_time(datetime.fromtimestamp(c.created_at, UTC), self.clock())
        text.append(f"  {age:>{AGE_CELLS}}  ", style="grey62")
        # a deep branch is indented as far as the room allows: the id and kind are never pushed off the row
        room = width - text.cell_len - tree_min
        text.append("  " * min(row.depth, max(0, room // 2)))
        if c.id == self.marked:
            text.append("◆ ", style=Style(color="bright_magenta", bold=True))
        elif row.head:
            text.append("● ", style=Style(color="bright_green", bold=True))
        else:
            text.append("○ ", style="grey62")
        text.append(c.id[:SHORT], style=Style(color="yellow"))
        text.append(f"  {c.kind:<{self.kind_cells}}", style=KIND_STYLE.get(c.kind, Style()))
        tail = Text()
        if row.head:
            tail.append("  HEAD", style=Style(color="bright_green", bold=True))
        if row.origin:
            tail.append(f"  ⑂ from {safe_text(row.origin)}", style="cyan")
        if width >= WHO_MIN_WIDTH:
            tail.append(f"  {safe_text(c.who)}", style="grey62")
        # the message takes what is left, and is what is cut (the detail line under the tree shows it whole)
        left = width - 1 - text.cell_len - tail.cell_len - 2
        message = safe_text(c.message) or "—"
        cells = min(MESSAGE_CELLS, max(0, left))
        if len(message) > cells:
            message = message[: cells - 1] + "…" if cells > 1 else ""
        if message:
            text.append(f"  {message:<{cells}}")
        text.append_text(tail)
        return text

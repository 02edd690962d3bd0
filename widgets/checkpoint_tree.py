"""The checkpoint tree of one sandbox: its checkpoints by parent link, newest first, the head (the checkpoint the
workspace is at) marked `●`, a fork's first checkpoint saying which sandbox and checkpoint it came from.

The layout is `git log --graph`'s idea without the lines: walking from the oldest, a checkpoint's newest child
continues its line at the same indent and older children (a line left by a restore) are indented one step, then
the whole walk is shown newest first. Each row: short id, age, kind, message, who, and what it added to the store
(files, bytes). Messages and names are sandbox text: made visible, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.style import Style
from rich.text import Text

from services.checkpoints.store import Checkpoint
from services.text import safe_text
from widgets.changes_tree import CURSOR_KEYS
from widgets.clock import utc_now
from widgets.keys import bindings
from widgets.row_tree import RowTree
from widgets.sandbox_table import human_size, relative_time

SHORT = 8  # id characters shown (the service takes any unique prefix of 4 or more)
MESSAGE_CELLS = 32
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


class CheckpointTree(RowTree[CheckpointRow]):
    """Checkpoints with a cursor and one mark (space, set by the screen): `marked` is its id."""

    BINDINGS = bindings(CURSOR_KEYS)

    def __init__(
        self, *, clock: Callable[[], datetime] = utc_now, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.clock = clock
        self.marked: str | None = None

    def row_key(self, row: CheckpointRow) -> Hashable:
        return row.ckpt.id

    def set_marked(self, ckpt_id: str | None) -> None:
        self.marked = ckpt_id
        self.refresh_rows()

    def row_width(self, row: CheckpointRow) -> int:
        # an upper bound without building every row's text (thousands of automatic checkpoints):
        # mark, id, age, kind, message, who, what it added, HEAD, a fork's origin
        origin = len(row.origin) + 10 if row.origin else 0
        return 2 * row.depth + 2 + SHORT + 10 + 16 + MESSAGE_CELLS + 2 + len(row.ckpt.who) + 2 + 24 + 6 + origin

    def row_text(self, row: CheckpointRow) -> Text:
        c = row.ckpt
        text = Text("  " * row.depth)
        if c.id == self.marked:
            text.append("◆ ", style=Style(color="bright_magenta", bold=True))
        elif row.head:
            text.append("● ", style=Style(color="bright_green", bold=True))
        else:
            text.append("○ ", style="grey62")
        text.append(c.id[:SHORT], style=Style(color="yellow"))
        age = relative_time(datetime.fromtimestamp(c.created_at, UTC), self.clock())
        text.append(f"  {age:>8}", style="grey62")
        text.append(f"  {c.kind:<14}", style=KIND_STYLE.get(c.kind, Style()))
        message = safe_text(c.message) or "—"
        if len(message) > MESSAGE_CELLS:
            message = message[: MESSAGE_CELLS - 1] + "…"
        text.append(f"  {message:<{MESSAGE_CELLS}}")
        text.append(f"  {safe_text(c.who)}", style="grey62")
        files = "file" if c.files_added == 1 else "files"
        text.append(f"  +{c.files_added} {files} {human_size(c.bytes_added)}", style="grey62")
        if row.head:
            text.append("  HEAD", style=Style(color="bright_green", bold=True))
        if row.origin:
            text.append(f"  ⑂ from {safe_text(row.origin)}", style="cyan")
        return text

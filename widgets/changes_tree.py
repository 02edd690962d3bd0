"""The Changes view's file tree: what changed in a workspace since a checkpoint, by folder (collapsible), each file
with git's letter (A added, M modified, D deleted, T type or mode) and its size. A `.git` folder starts folded.

`change_rows` builds the rows from `services.checkpoints.changes.Change`s; folders that only hold changes are
made up from the paths (a folder that itself was added or deleted carries its own change and letter). Names are
sandbox text: shown with control characters made visible, never as markup.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from services.checkpoint_diff import status_letter
from services.checkpoints.changes import Change
from services.text import safe_text
from widgets.keys import Key, bindings
from widgets.row_tree import RowTree
from widgets.sandbox_table import human_size

LETTER = {
    "A": Style(color="green", bold=True),
    "M": Style(color="yellow", bold=True),
    "D": Style(color="red", bold=True),
    "T": Style(color="magenta", bold=True),
}

CURSOR_KEYS: tuple[Key, ...] = (
    Key("rows.down", "down,j", "cursor(1)", "Down", "Next row", show=False, palette=False, help=False),
    Key("rows.up", "up,k", "cursor(-1)", "Up", "Previous row", show=False, palette=False, help=False),
    Key(
        "rows.page_down", "pagedown", "cursor(10)", "Page down", "Ten rows down", show=False, palette=False, help=False
    ),
    Key("rows.page_up", "pageup", "cursor(-10)", "Page up", "Ten rows up", show=False, palette=False, help=False),
    Key("rows.first", "home", "cursor(-1000000000)", "First", "First row", show=False, palette=False, help=False),
    Key("rows.last", "end", "cursor(1000000000)", "Last", "Last row", show=False, palette=False, help=False),
)


@dataclass(frozen=True)
class ChangeRow:
    path: str  # the file's or folder's path
    name: str  # its last part
    depth: int
    folder: bool
    change: Change | None  # None: a folder made up from the paths beneath it
    count: int = 0  # a folder: the changes beneath it
    expanded: bool = True


def size_text(change: Change) -> str:
    if change.kind == "dir":
        return ""
    if change.status == "added":
        return human_size(change.new_size)
    if change.status == "deleted":
        return human_size(change.old_size)
    if change.status == "mode-changed":
        return f"{change.old_mode or 0:o}→{change.new_mode or 0:o}"
    return f"{human_size(change.old_size)}→{human_size(change.new_size)}"


def change_rows(changes: Iterable[Change], collapsed: set[str] | None = None) -> list[ChangeRow]:
    """The tree's rows, folders first then files, by name; nothing beneath a collapsed folder."""
    collapsed = collapsed or set()
    own: dict[str, Change] = {}
    children: dict[str, set[str]] = {"": set()}
    counts: dict[str, int] = {}
    for ch in changes:
        own[ch.path] = ch
        parts = ch.path.split("/")
        for i in range(1, len(parts) + 1):
            parent, node = "/".join(parts[: i - 1]), "/".join(parts[:i])
            children.setdefault(parent, set()).add(node)
            if i < len(parts):
                children.setdefault(node, set())
                counts[node] = counts.get(node, 0) + 1
    folders = {p for p in children if p} | {p for p, c in own.items() if c.kind == "dir"}

    rows: list[ChangeRow] = []

    def walk(parent: str, depth: int) -> None:
        kids = sorted(children.get(parent, ()), key=lambda p: (p not in folders, p.rsplit("/", 1)[-1]))
        for path in kids:
            folder = path in folders
            open_ = path not in collapsed
            rows.append(
                ChangeRow(path, path.rsplit("/", 1)[-1], depth, folder, own.get(path), counts.get(path, 0), open_)
            )
            if folder and open_:
                walk(path, depth + 1)

    walk("", 0)
    return rows


class ChangesTree(RowTree[ChangeRow]):
    """The changed files by folder. Enter/space/left/right fold folders; `Highlighted` names the row."""

    BINDINGS = bindings(
        (
            *CURSOR_KEYS,
            Key("changes.tree.toggle", "space", "toggle_folder", "Fold", "Collapse or expand a folder", palette=False),
            Key(
                "changes.tree.collapse",
                "left",
                "fold(False)",
                "Collapse",
                "Collapse the folder, or go up",
                show=False,
                palette=False,
            ),
            Key("changes.tree.expand", "right", "fold(True)", "Expand", "Expand the folder", show=False, palette=False),
        )
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.changes: list[Change] = []
        # a repository's own folder starts folded: one commit changes dozens of its files, and the workspace's
        # files are what the view is for (it is still restored with everything else)
        self.collapsed: set[str] = {".git"}

    def set_changes(self, changes: Iterable[Change]) -> None:
        self.changes = list(changes)
        self.set_rows(change_rows(self.changes, self.collapsed))

    def row_key(self, row: ChangeRow) -> Hashable:
        return row.path

    def row_width(self, row: ChangeRow) -> int:
        # an upper bound, without building 10,000 texts: indent, fold mark, letter, name, size (≤ 13 cells)
        return 2 * row.depth + 4 + len(row.name) + 1 + 15

    def row_text(self, row: ChangeRow) -> Text:
        text = Text("  " * row.depth)
        if row.folder:
            text.append("▾ " if row.expanded else "▸ ", style="bright_blue")
        else:
            text.append("  ")
        letter = status_letter(row.change) if row.change is not None else " "
        text.append(letter, style=LETTER.get(letter, Style()))
        text.append(" ")
        text.append(safe_text(row.name) + ("/" if row.folder else ""), style=Style(bold=row.folder))
        if row.folder and row.count:
            text.append(f"  ({row.count})", style="grey62")
        elif row.change is not None and not row.folder:
            text.append(f"  {size_text(row.change)}", style="grey62")
        return text

    def action_toggle_folder(self) -> None:
        row = self.selected
        if row is not None and row.folder:
            self.action_fold(not row.expanded)

    def action_fold(self, expand: bool) -> None:
        row = self.selected
        if row is None:
            return
        if not row.folder or (not expand and not row.expanded):
            if not expand and "/" in row.path:  # left on a file or a closed folder: up to its folder
                self.select_key(row.path.rsplit("/", 1)[0])
            return
        if expand:
            self.collapsed.discard(row.path)
        else:
            self.collapsed.add(row.path)
        self.set_rows(change_rows(self.changes, self.collapsed))

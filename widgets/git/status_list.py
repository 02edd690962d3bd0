"""The git panel's file list: changed files by section (conflicts, staged, unstaged, untracked) with a cursor.

`StatusList` is a line-API `ScrollView`, so thousands of rows cost nothing until seen; `status_rows` turns a
`GitStatus` into its rows. `plain` renders sandbox text (file names, branch names, messages) with control
characters made visible, never as markup; the other git screens use it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message

from services.git_parse import FileStatus, GitStatus
from services.text import safe_text
from widgets.keys import Key, bindings
from widgets.row_tree import CachedRowList

Section = Literal["conflicts", "staged", "unstaged", "untracked"]
SECTION_TITLES: dict[Section, str] = {
    "conflicts": "Conflicts",
    "staged": "Staged",
    "unstaged": "Unstaged",
    "untracked": "Untracked",
}


def plain(text: str, style: str | Style = "") -> Text:
    """Sandbox text as a renderable: controls made visible, never parsed as markup."""
    return Text(safe_text(text), style=style)


# -- the file list ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    section: Section
    entry: FileStatus | None = None  # None: the section's title row
    count: int = 0


LETTER_STYLE = {
    "staged": Style(color="green", bold=True),
    "unstaged": Style(color="red", bold=True),
    "conflicts": Style(color="magenta", bold=True),
    "untracked": Style(color="grey62", bold=True),
}


class StatusList(CachedRowList, can_focus=True):
    """The changed files, by section, with a cursor. Line API: thousands of rows cost nothing until seen."""

    DEFAULT_CSS = """
    StatusList { height: 1fr; background: $surface; }
    StatusList:focus { background-tint: $foreground 3%; }
    """
    BINDINGS = bindings(
        (
            Key("git.cursor_down", "down,j", "cursor_down", "Down", "Next file", show=False, palette=False, help=False),
            Key("git.cursor_up", "up,k", "cursor_up", "Up", "Previous file", show=False, palette=False, help=False),
            Key(
                "git.page_down",
                "pagedown",
                "page_down",
                "Page down",
                "Ten files down",
                show=False,
                palette=False,
                help=False,
            ),
            Key("git.page_up", "pageup", "page_up", "Page up", "Ten files up", show=False, palette=False, help=False),
            Key("git.first", "home", "first", "First", "First file", show=False, palette=False, help=False),
            Key("git.last", "end", "last", "Last", "Last file", show=False, palette=False, help=False),
        )
    )

    class Highlighted(Message):
        """The cursor rests on `row` (None: no file) — after a move, or after the rows were replaced."""

        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Row] = []
        self.cursor = -1

    def set_rows(self, rows: list[Row]) -> None:
        """Replace the rows, keeping the cursor on the same file (or the same place) when possible."""
        old = self.selected
        old_index = self.cursor
        self.rows = rows
        self._cache.clear()
        width = max(
            (len(safe_text(r.entry.path)) + 8 + len(r.entry.orig_path or "") for r in rows if r.entry), default=0
        )
        self.virtual_size = Size(max(width, 20), len(rows))
        self.cursor = -1
        if old is not None:
            for i, r in enumerate(rows):
                if r.entry is not None and r.section == old.section and r.entry.path == old.entry.path:  # type: ignore[union-attr]
                    self.cursor = i
                    break
        if self.cursor < 0:
            self.cursor = self.nearest_selectable(max(old_index, 0)) if rows else -1
        self.refresh()
        self.post_message(self.Highlighted(self.selected))

    @property
    def selected(self) -> Row | None:
        if 0 <= self.cursor < len(self.rows) and self.rows[self.cursor].entry is not None:
            return self.rows[self.cursor]
        return None

    def row_count(self) -> int:
        return len(self.rows)

    def selectable(self, index: int) -> bool:
        return self.rows[index].entry is not None  # a section's title is not a file

    @property
    def page_rows(self) -> int:
        return 10  # files, not screen rows: the titles between sections are skipped

    def cursor_moved(self, old: int, new: int) -> None:
        for i in (old, new):
            self._cache.pop(i, None)
        self.refresh()
        self.post_message(self.Highlighted(self.selected))

    def select_path(self, path: str, section: Section | None = None) -> bool:
        for i, r in enumerate(self.rows):
            if r.entry is not None and r.entry.path == path and (section is None or r.section == section):
                self.move_cursor(i)
                return True
        return False

    def text_at(self, index: int) -> Text:
        row = self.rows[index]
        if row.entry is None:
            return Text(f"{SECTION_TITLES[row.section]} ({row.count})", style=Style(bold=True, color="bright_blue"))
        e = row.entry
        if row.section == "staged":
            letter = e.index
        elif row.section == "unstaged":
            letter = e.worktree
        elif row.section == "conflicts":
            letter = e.index + e.worktree
        else:
            letter = "?"
        text = Text("  ")
        text.append(letter.ljust(2), style=LETTER_STYLE[row.section])
        text.append(" ")
        if e.orig_path and row.section == "staged":
            text.append_text(plain(e.orig_path, "grey62"))
            text.append(" → ")
        text.append_text(plain(e.path))
        return text


def status_rows(status: GitStatus) -> list[Row]:
    rows: list[Row] = []
    groups: list[tuple[Section, list[FileStatus]]] = [
        ("conflicts", status.conflicted),
        ("staged", status.staged),
        ("unstaged", status.unstaged),
        ("untracked", status.untracked),
    ]
    for section, entries in groups:
        if not entries and section == "conflicts":
            continue
        rows.append(Row(section, None, len(entries)))
        rows.extend(Row(section, e) for e in entries)
    return rows

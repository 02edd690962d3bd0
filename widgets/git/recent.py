"""The git panel's recent commits: the last few commits under the file list (short hash, subject, relative age).

Read with one `git log -n5` when HEAD moves (the panel compares the status's HEAD id), not on every refresh.
Each line is fitted to the width: the subject is cut with an ellipsis, the age stays at the right edge. The age
is relative to the app's clock (`app.clock()` when the app has one, so tests and snapshots are stable). How many
commits are shown follows the pane's height (`rows`), so a short pane keeps its room for the file list.

Subjects come from the sandbox: made plain (`visible`), never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from services.git_parse import Commit
from services.text import safe_text
from widgets.clock import app_now

RECENT = 5  # commits read; fewer are shown when the pane is short


def relative_age(then: float, now: datetime) -> str:
    """'now', '5m', '3h', '2d', '3w', '4mo', '2y': how long ago `then` (a Unix time) was."""
    seconds = max(0.0, now.timestamp() - then)
    for unit, size in (("y", 365 * 86400), ("mo", 30 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    if seconds >= 60:
        return f"{int(seconds // 60)}m"
    return "now"


def commit_row(c: Commit, width: int, now: datetime) -> Text:
    """`abc1234 subject… 3h`, exactly `width` cells wide (or less when even the hash does not fit)."""
    age = relative_age(c.author_time, now)
    head = Text(c.oid[:7], style="yellow")
    room = width - head.cell_len - 1 - len(age) - 1
    subject = Text(safe_text(c.summary))
    if room < 1:
        line = Text.assemble(head, " ", (age, "grey62"))
    else:
        subject.truncate(room, overflow="ellipsis")
        pad = room - subject.cell_len
        line = Text.assemble(head, " ", subject, " " * (pad + 1), (age, "grey62"))
    line.no_wrap = True
    line.truncate(max(1, width), overflow="ellipsis")
    return line


class RecentCommits(Static):
    """`show(commits)`; `rows`: how many of them to show (0 hides the widget)."""

    DEFAULT_CSS = """
    RecentCommits { height: auto; padding: 0 1; border-top: solid $panel-lighten-2; }
    RecentCommits.-empty { display: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.commits: list[Commit] = []
        self.rows = RECENT
        self.head: str | None = None  # the HEAD these commits were read at (None: not read yet)

    def show(self, commits: Sequence[Commit], head: str | None) -> None:
        self.commits = list(commits)
        self.head = head
        self._update_class()
        self.refresh(layout=True)

    def set_rows(self, rows: int) -> None:
        if rows != self.rows:
            self.rows = rows
            self._update_class()
            self.refresh(layout=True)

    def _update_class(self) -> None:
        self.set_class(not self.commits or self.rows <= 0, "-empty")

    def render(self) -> Text:
        width = self.content_size.width or 40
        now = app_now(self.app)
        out = Text("Recent commits", style="bold bright_blue", no_wrap=True)
        out.append("  l: log", style="grey62")
        out.truncate(width, overflow="ellipsis")
        for c in self.commits[: self.rows]:
            out.append("\n")
            out.append_text(commit_row(c, width, now))
        return out

"""The git panel's history: the commit log, loaded a page at a time, and one commit's message and diff."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from services.errors import SandbenchError
from services.git import GitService
from services.git_parse import Commit
from widgets.diff_view import DiffView
from widgets.footer import OwnFooter
from widgets.git.status_list import plain
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, report


def commit_line(c: Commit) -> Text:
    when = datetime.fromtimestamp(c.author_time, UTC).strftime("%Y-%m-%d")
    t = Text(c.short, style="yellow")
    t.append(f" {when} ", style="grey62")
    t.append_text(plain(c.author[:20], "cyan"))
    t.append(" ")
    if c.refs:
        t.append_text(plain(f"({c.refs}) ", "green"))
    t.append_text(plain(c.summary))
    return t


class CommitScreen(ReportWorkerErrors, OwnFooter, ModalScreen[None]):
    """One commit: its message and its diff."""

    DEFAULT_CSS = """
    CommitScreen { background: $background 70%; }
    CommitScreen > Vertical { border: round $accent; background: $surface; }
    CommitScreen #commit-message { height: auto; max-height: 10; padding: 0 1; }
    CommitScreen DiffView { height: 1fr; }
    """
    BINDINGS = bindings((Key("git.commit.close", "escape,q", "close", "Close", "Back to the log"),))

    def __init__(self, git: GitService, oid: str) -> None:
        super().__init__()
        self.git = git
        self.oid = oid

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.oid[:12], style="yellow"), id="commit-message")
            yield DiffView(id="commit-diff")

    def on_mount(self) -> None:
        self.query_one(DiffView).focus()
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        try:
            commit, files = await self.git.show(self.oid)
        except SandbenchError as exc:
            report(self, exc)
            return
        head = Text(commit.oid, style="yellow")
        head.append("  ")
        head.append_text(plain(f"{commit.author} <{commit.email}>", "cyan"))
        head.append("\n")
        for line in commit.message.rstrip("\n").split("\n"):
            head.append_text(plain(line))
            head.append("\n")
        self.query_one("#commit-message", Static).update(head)
        self.query_one(DiffView).set_diff(files)

    def action_close(self) -> None:
        self.dismiss(None)


class LogScreen(ReportWorkerErrors, OwnFooter, ModalScreen[None]):
    """The commit log, loaded a page at a time as the cursor nears the end; enter shows a commit."""

    PAGE = 100
    DEFAULT_CSS = """
    LogScreen { background: $background 70%; }
    LogScreen > Vertical { border: round $accent; background: $surface; }
    LogScreen OptionList { height: 1fr; }
    """
    BINDINGS = bindings((Key("git.log.close", "escape,q", "close", "Close", "Close the log"),))

    def __init__(self, git: GitService) -> None:
        super().__init__()
        self.git = git
        self.commits: list[Commit] = []
        self.complete = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Log", style="bold"))
            yield OptionList(id="log")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load_more()

    @work(exclusive=True, group="git-log", exit_on_error=False)
    async def load_more(self) -> None:
        if self.complete:
            return
        try:
            page = await self.git.log(skip=len(self.commits), limit=self.PAGE)
        except SandbenchError as exc:
            report(self, exc)
            return
        if len(page) < self.PAGE:
            self.complete = True
        ol = self.query_one(OptionList)
        first = not self.commits
        self.commits.extend(page)
        ol.add_options([Option(commit_line(c)) for c in page])
        if first and page:
            ol.highlighted = 0
        if not self.commits:
            ol.add_option(Option(Text("no commits yet", style="grey62"), disabled=True))

    @on(OptionList.OptionHighlighted)
    def _near_end(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index >= len(self.commits) - 10:
            self.load_more()

    @on(OptionList.OptionSelected)
    def _open(self, event: OptionList.OptionSelected) -> None:
        if 0 <= event.option_index < len(self.commits):
            self.app.push_screen(CommitScreen(self.git, self.commits[event.option_index].oid))

    def action_close(self) -> None:
        self.dismiss(None)

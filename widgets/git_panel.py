"""The git panel: a lazygit-style, keyboard-driven view of one sandbox repository (DESIGN §4, issue 5).

The panel shows a header (branch, upstream, ahead/behind, clean/dirty) and the changed files in four lists with
counts (conflicts, staged, unstaged, untracked). Keys, all `Binding`s with an id, a description and a tooltip (the
app builds its palette and help from them): space stages/unstages, `a` stages all, enter opens the diff (hunk
navigation and hunk staging), `d` discards (confirmed), `c` commits, `A` amends, `p`/`P` pull/push, `f` fetches,
`b` branches, `l` log, `s` the stash list (apply, pop, drop, new), `S` stashes now, `i` initialises a repository.

Refreshing follows file changes instead of a timer: the workspace screen calls `follow_changes()`, which runs a
coalesced `WorkspaceWatcher` (inotify for local sandboxes, listings of a few folders otherwise) and re-reads the
status once per batch; saves in the editor arrive through `notice_saved()`; the panel also refreshes after its own
operations. Each refresh is one `git status`, and the panel posts `GitPanel.StatusChanged(status)` so the screen
can give the same result to the explorer (markers) and the status bar (branch).

Diffs open from memory: while the file list has focus, the diff of the file the cursor rests on is fetched in the
background (one exclusive worker; a move cancels it) and cached by (path, section, status generation), so enter
paints at once; a new status generation drops the cache.

Every operation runs in a worker and goes through `services.git.GitService` (git inside the sandbox); its errors
go to the app's one error route (`widgets.messages`), and a failed status call is also shown in the header, so the
pane never sits at `loading…` (nor shows a stale status as current) when git cannot run. Sandbox text
(file names, branch names, commit messages, git's own messages) is rendered as `rich.text.Text` with control
characters made visible — never as markup.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from services.errors import SandbenchError
from services.git import (
    CACHE_DIR,
    BranchNotMerged,
    GitService,
    MissingIdentity,
    NotARepository,
    NoUpstream,
)
from services.git_parse import Branch, Commit, DiffFile, FileStatus, GitStatus, Stash, visible
from services.sandbox_service import SandboxService
from services.watch import ChangeBatch, Mode, WorkspaceWatcher
from widgets.dialogs import ConfirmDialog, InputDialog
from widgets.diff_view import DiffView
from widgets.git_commit import CommitDialog as CommitDialog  # re-exported: tests and callers import it from here
from widgets.git_commit import summary_hint as summary_hint
from widgets.git_conflicts import ConflictScreen, markers_left
from widgets.git_header import GitHeader
from widgets.git_header import header_text as header_text  # re-exported: tests and callers import it from here
from widgets.git_identity import IdentityDialog
from widgets.git_recent import RECENT, RecentCommits
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, describe, report, tell

Section = Literal["conflicts", "staged", "unstaged", "untracked"]
SECTION_TITLES: dict[Section, str] = {
    "conflicts": "Conflicts",
    "staged": "Staged",
    "unstaged": "Unstaged",
    "untracked": "Untracked",
}


def plain(text: str, style: str | Style = "") -> Text:
    """Sandbox text as a renderable: controls made visible, never parsed as markup."""
    return Text(visible(text), style=style)


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


class StatusList(ScrollView, can_focus=True):
    """The changed files, by section, with a cursor. Line API: thousands of rows cost nothing until seen."""

    DEFAULT_CSS = """
    StatusList { height: 1fr; background: $surface; }
    StatusList:focus { background-tint: $foreground 3%; }
    """
    BINDINGS = bindings(
        (
            Key("git.cursor_down", "down,j", "cursor(1)", "Down", "Next file", show=False, palette=False, help=False),
            Key("git.cursor_up", "up,k", "cursor(-1)", "Up", "Previous file", show=False, palette=False, help=False),
            Key(
                "git.page_down",
                "pagedown",
                "cursor(10)",
                "Page down",
                "Ten files down",
                show=False,
                palette=False,
                help=False,
            ),
            Key(
                "git.page_up", "pageup", "cursor(-10)", "Page up", "Ten files up", show=False, palette=False, help=False
            ),
            Key(
                "git.first", "home", "cursor(-1000000000)", "First", "First file", show=False, palette=False, help=False
            ),
            Key("git.last", "end", "cursor(1000000000)", "Last", "Last file", show=False, palette=False, help=False),
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
        self._cache: dict[int, Strip] = {}

    def set_rows(self, rows: list[Row]) -> None:
        """Replace the rows, keeping the cursor on the same file (or the same place) when possible."""
        old = self.selected
        old_index = self.cursor
        self.rows = rows
        self._cache.clear()
        width = max((len(visible(r.entry.path)) + 8 + len(r.entry.orig_path or "") for r in rows if r.entry), default=0)
        self.virtual_size = Size(max(width, 20), len(rows))
        self.cursor = -1
        if old is not None:
            for i, r in enumerate(rows):
                if r.entry is not None and r.section == old.section and r.entry.path == old.entry.path:  # type: ignore[union-attr]
                    self.cursor = i
                    break
        if self.cursor < 0:
            self.cursor = self._nearest(max(old_index, 0))
        self.refresh()
        self.post_message(self.Highlighted(self.selected))

    def _nearest(self, index: int) -> int:
        entries = [i for i, r in enumerate(self.rows) if r.entry is not None]
        if not entries:
            return -1
        after = [i for i in entries if i >= index]
        return after[0] if after else entries[-1]

    @property
    def selected(self) -> Row | None:
        if 0 <= self.cursor < len(self.rows) and self.rows[self.cursor].entry is not None:
            return self.rows[self.cursor]
        return None

    def action_cursor(self, delta: int) -> None:
        entries = [i for i, r in enumerate(self.rows) if r.entry is not None]
        if not entries:
            return
        pos = entries.index(self.cursor) if self.cursor in entries else 0
        new = entries[max(0, min(len(entries) - 1, pos + delta))]
        self.select_index(new)

    def select_index(self, index: int) -> None:
        for i in (self.cursor, index):
            self._cache.pop(i, None)
        self.cursor = index
        self.scroll_to_region_of(index)
        self.refresh()
        self.post_message(self.Highlighted(self.selected))

    def scroll_to_region_of(self, index: int) -> None:
        height = self.scrollable_content_region.height or 1
        top = self.scroll_offset.y
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False)

    def select_path(self, path: str, section: Section | None = None) -> bool:
        for i, r in enumerate(self.rows):
            if r.entry is not None and r.entry.path == path and (section is None or r.section == section):
                self.select_index(i)
                return True
        return False

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        strip = self._cache.get(index)
        if strip is None:
            strip = Strip(list(self._row_text(index).render(self.app.console)))
            self._cache[index] = strip
        style = self.rich_style
        if index == self.cursor:
            style = style + Style(reverse=self.has_focus, bgcolor=None if self.has_focus else "grey23")
            strip = strip.apply_style(Style(reverse=True) if self.has_focus else Style(bgcolor="grey23"))
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _row_text(self, index: int) -> Text:
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

    def on_focus(self) -> None:
        self._cache.pop(self.cursor, None)
        self.refresh()

    def on_blur(self) -> None:
        self._cache.pop(self.cursor, None)
        self.refresh()


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


# -- dialogs ---------------------------------------------------------------------------------------------------
class SecretDialog(InputDialog):
    """An `InputDialog` whose input is hidden (passwords, passphrases)."""

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#value", Input).password = True


class GitDiffScreen(ReportWorkerErrors, ModalScreen[None]):
    """The diff of one file, with hunk staging: space stages (or unstages) the selected hunk, `d` discards it."""

    DEFAULT_CSS = """
    GitDiffScreen { background: $background 70%; }
    GitDiffScreen > Vertical { border: round $accent; background: $surface; }
    GitDiffScreen #diff-title { height: 1; padding: 0 1; }
    GitDiffScreen #diff-hint { height: 1; padding: 0 1; color: $text-muted; }
    GitDiffScreen DiffView { height: 1fr; }
    """
    BINDINGS = bindings(
        (
            Key("git.diff.close", "escape,q", "close", "Close", "Back to the file list"),
            Key("git.diff.stage_hunk", "space", "toggle_hunk", "Stage hunk", "Stage/unstage this hunk"),
            Key("git.diff.discard_hunk", "d", "discard_hunk", "Discard hunk", "Throw away this hunk"),
        )
    )

    def __init__(
        self,
        git: GitService,
        entry: FileStatus,
        *,
        staged: bool,
        on_change: Callable[[], object] | None = None,
        prefetched: asyncio.Future[list[DiffFile]] | None = None,
    ) -> None:
        super().__init__()
        self.git = git
        self.entry = entry
        self.staged = staged
        self.on_change = on_change
        # The panel's prefetch of this diff (cursor rested on the file): done → painted from memory in the first
        # frame; still running → awaited instead of starting a second `git diff`.
        self.prefetched = prefetched
        self._initial: list[DiffFile] | None = None
        self._busy = asyncio.Lock()

    def _ready(self) -> list[DiffFile] | None:
        f = self.prefetched
        if f is not None and f.done() and not f.cancelled() and f.exception() is None:
            return f.result()
        return None

    def compose(self) -> ComposeResult:
        with Vertical():
            side = "staged" if self.staged else "untracked" if self.entry.untracked else "unstaged"
            yield Static(Text.assemble((f"{side}: ", "bold"), plain(self.entry.path)), id="diff-title")
            # decided once, here: the prefetch may finish between compose and mount, and then load() must still run
            self._initial = self._ready()
            yield DiffView(self._initial or (), id="diff")
            yield Static(self._hint(), id="diff-hint")

    def _hint(self, view: DiffView | None = None) -> Text:
        keys = "n/N hunks · space unstage hunk" if self.staged else "n/N hunks · space stage hunk · d discard hunk"
        at = f"hunk {view.current_index + 1}/{view.hunk_count} · " if view is not None and view.hunk_count else ""
        return Text.assemble((at, "bold"), keys + " · esc close")

    @on(DiffView.HunkSelected)
    def _hunk_selected(self, event: DiffView.HunkSelected) -> None:
        self.query_one("#diff-hint", Static).update(self._hint(event.view))

    def on_mount(self) -> None:
        self.query_one(DiffView).focus()
        if self._initial is None:
            self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "discard_hunk" and (self.staged or self.entry.untracked):
            return False
        if action == "toggle_hunk" and self.entry.untracked:
            return False
        return True

    @work(exclusive=True, group="git-diff", exit_on_error=False)
    async def load(self, keep_position: bool = False) -> None:
        try:
            files = await self._prefetched() if not keep_position else None
            if files is None:
                files = await self.git.diff_for(self.entry, staged=self.staged)
        except SandbenchError as exc:
            report(self, exc)
            return
        self.query_one(DiffView).set_diff(files, keep_position=keep_position)

    async def _prefetched(self) -> list[DiffFile] | None:
        """The prefetch's result, or None when there is none or it was cancelled (the panel moved on, or a
        refresh made it stale) — then this screen runs its own `git diff`."""
        f, self.prefetched = self.prefetched, None
        if f is None:
            return None
        try:
            return await asyncio.shield(f)  # shielded: closing this screen must not cancel the panel's cache entry
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this worker itself is being cancelled
            return None

    def action_close(self) -> None:
        self.dismiss(None)

    @work(group="git-diff-op", exit_on_error=False)
    async def action_toggle_hunk(self) -> None:
        file, hunk = self.query_one(DiffView).current
        if file is None or hunk is None:
            return
        async with self._busy:
            try:
                if self.staged:
                    await self.git.unstage_hunk(file, hunk)
                else:
                    await self.git.stage_hunk(file, hunk)
            except SandbenchError as exc:
                report(self, exc)
                return
        self._changed()

    @work(group="git-diff-op", exit_on_error=False)
    async def action_discard_hunk(self) -> None:
        file, hunk = self.query_one(DiffView).current
        if file is None or hunk is None or self.staged:
            return
        ok = await self.app.push_screen_wait(
            ConfirmDialog(
                "Discard hunk", f"Throw away this change to {visible(file.path)}?", confirm="Discard", danger=True
            )
        )
        if not ok:
            return
        async with self._busy:
            try:
                await self.git.discard_hunk(file, hunk)
            except SandbenchError as exc:
                report(self, exc)
                return
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
        self.load(keep_position=True)


class BranchScreen(ReportWorkerErrors, ModalScreen[None]):
    """Branches: enter switches, `n` creates (and switches), `D` deletes (confirmed)."""

    DEFAULT_CSS = """
    BranchScreen { align: center middle; background: $background 60%; }
    BranchScreen > Vertical { width: 70; max-width: 95%; height: 70%; border: round $accent; background: $surface; }
    BranchScreen OptionList { height: 1fr; }
    BranchScreen #branch-hint { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS = bindings(
        (
            Key("git.branches.close", "escape,q", "close", "Close", "Close the branch list"),
            Key("git.branches.new", "n", "new", "New branch", "Create a branch here and switch to it"),
            Key("git.branches.delete", "D", "delete", "Delete", "Delete the selected branch"),
        )
    )

    def __init__(self, git: GitService, on_change: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.git = git
        self.on_change = on_change
        self.branches: list[Branch] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Branches", style="bold"), id="branch-title")
            yield OptionList(id="branches")
            yield Static(Text("enter switch · n new · D delete · esc close"), id="branch-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load()

    @work(exclusive=True, group="git-branches", exit_on_error=False)
    async def load(self) -> None:
        try:
            branches = await self.git.branches()
        except SandbenchError as exc:
            report(self, exc)
            return
        self.branches = branches
        ol = self.query_one(OptionList)
        ol.clear_options()
        for b in branches:
            t = Text("* " if b.current else "  ", style="green bold")
            t.append_text(plain(b.name, "bold" if b.current else ""))
            if b.upstream:
                t.append("  → ", style="grey62")
                t.append_text(plain(b.upstream, "cyan"))
            if b.track:
                t.append_text(plain(f" [{b.track}]", "yellow"))
            t.append("  ")
            t.append_text(plain(b.subject[:60], "grey62"))
            ol.add_option(Option(t))
        current = next((i for i, b in enumerate(branches) if b.current), 0)
        if branches:
            ol.highlighted = current

    def _selected(self) -> Branch | None:
        i = self.query_one(OptionList).highlighted
        return self.branches[i] if i is not None and 0 <= i < len(self.branches) else None

    def action_close(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _chosen(self) -> None:
        self.switch_to()

    @work(group="git-branch-op", exit_on_error=False)
    async def switch_to(self) -> None:
        b = self._selected()
        if b is None or b.current:
            return
        try:
            await self.git.switch(b.name)
        except SandbenchError as exc:
            report(self, exc)
            return
        tell(self, f"switched to {b.name}", title="Git")
        if self.on_change:
            self.on_change()
        self.dismiss(None)

    @work(group="git-branch-op", exit_on_error=False)
    async def action_new(self) -> None:
        # created from the dialog: a name git refuses (or one taken) comes back inline, the text kept
        name = await self.app.push_screen_wait(
            InputDialog(
                "New branch",
                "Name of the new branch (created here, then checked out):",
                placeholder="feature/x",
                validate=lambda v: None if v.strip() else "a branch needs a name",
                submit=lambda v: self.git.create_branch(v.strip()),
            )
        )
        if not name:
            return
        if self.on_change:
            self.on_change()
        self.dismiss(None)

    @work(group="git-branch-op", exit_on_error=False)
    async def action_delete(self) -> None:
        b = self._selected()
        if b is None:
            return
        if b.current:
            tell(self, "cannot delete the branch you are on: switch first", title="Git", severity="warning")
            return
        ok = await self.app.push_screen_wait(
            ConfirmDialog("Delete branch", f"Delete branch {visible(b.name)}?", confirm="Delete", danger=True)
        )
        if not ok:
            return
        try:
            await self.git.delete_branch(b.name)
        except BranchNotMerged:
            force = await self.app.push_screen_wait(
                ConfirmDialog(
                    "Not merged",
                    f"{visible(b.name)} has commits no other branch has. Delete it anyway and lose them?",
                    confirm="Delete anyway",
                    danger=True,
                )
            )
            if not force:
                return
            try:
                await self.git.delete_branch(b.name, force=True)
            except SandbenchError as exc:
                report(self, exc)
                return
        except SandbenchError as exc:
            report(self, exc)
            return
        self.load()


class StashScreen(ReportWorkerErrors, ModalScreen[None]):
    """The stash list: enter (or space) applies the selected stash, `p` pops it, `d` drops it (confirmed), `n`
    stashes the current changes (untracked too), with an optional message."""

    DEFAULT_CSS = """
    StashScreen { align: center middle; background: $background 60%; }
    StashScreen > Vertical { width: 80; max-width: 95%; height: 60%; border: round $accent; background: $surface; }
    StashScreen OptionList { height: 1fr; }
    StashScreen #stash-hint { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS = bindings(
        (
            Key("git.stash.close", "escape,q", "close", "Close", "Close the stash list"),
            Key("git.stash.apply", "space", "apply", "Apply", "Apply the selected stash and keep it"),
            Key("git.stash.pop", "p", "pop", "Pop", "Apply the selected stash and drop it"),
            Key("git.stash.drop", "d", "drop", "Drop", "Delete the selected stash (asks first)"),
            Key("git.stash.push", "n", "push", "New stash", "Stash all changes, untracked files too"),
        )
    )

    def __init__(self, git: GitService, on_change: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.git = git
        self.on_change = on_change
        self.stashes: list[Stash] = []
        self.loaded = False
        self._busy = asyncio.Lock()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Stashes", style="bold"), id="stash-title")
            yield OptionList(id="stashes")
            yield Static(Text("enter apply · p pop · d drop · n new stash · esc close"), id="stash-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load()

    @work(exclusive=True, group="git-stashes", exit_on_error=False)
    async def load(self) -> None:
        try:
            stashes = await self.git.stashes()
        except SandbenchError as exc:
            report(self, exc)
            return
        self.stashes = stashes
        ol = self.query_one(OptionList)
        ol.clear_options()
        for st in stashes:
            t = Text(st.ref, style="yellow")
            t.append("  ")
            t.append_text(plain(st.message))
            ol.add_option(Option(t))
        if stashes:
            ol.highlighted = 0
        else:
            ol.add_option(Option(Text("no stashes — n stashes the current changes", style="grey62"), disabled=True))
        self.loaded = True

    def _selected(self) -> Stash | None:
        i = self.query_one(OptionList).highlighted
        return self.stashes[i] if i is not None and 0 <= i < len(self.stashes) else None

    def action_close(self) -> None:
        self.dismiss(None)

    async def _op(self, label: str, op: Callable[[], Any], *, close: bool) -> None:
        async with self._busy:  # one git write at a time: a second key press waits for the first
            try:
                await op()
            except SandbenchError as exc:
                report(self, exc)
                self.load()
                return
        tell(self, label, title="Git")
        if self.on_change:
            self.on_change()
        if close:
            self.dismiss(None)
        else:
            self.load()

    @on(OptionList.OptionSelected)
    def _chosen(self) -> None:
        self.action_apply()

    @work(group="git-stash-op", exit_on_error=False)
    async def action_apply(self) -> None:
        st = self._selected()
        if st is not None:
            await self._op(f"applied {st.ref}", lambda: self.git.stash_apply(st.index), close=True)

    @work(group="git-stash-op", exit_on_error=False)
    async def action_pop(self) -> None:
        st = self._selected()
        if st is not None:
            await self._op(f"popped {st.ref}", lambda: self.git.stash_pop(st.index), close=True)

    @work(group="git-stash-op", exit_on_error=False)
    async def action_drop(self) -> None:
        st = self._selected()
        if st is None:
            return
        ok = await self.app.push_screen_wait(
            ConfirmDialog(
                "Drop stash", f"Delete {st.ref} ({visible(st.message)[:80]}) for good?", confirm="Drop", danger=True
            )
        )
        if ok:
            await self._op(f"dropped {st.ref}", lambda: self.git.stash_drop(st.index), close=False)

    @work(group="git-stash-op", exit_on_error=False)
    async def action_push(self) -> None:
        message = await self.app.push_screen_wait(
            InputDialog("New stash", "A message for the stash (optional):", placeholder="work in progress")
        )
        if message is None:
            return  # cancelled (an empty message is fine: git writes its own)
        text = str(message).strip() or None
        await self._op("stashed", lambda: self.git.stash_push(text), close=False)


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


class CommitScreen(ReportWorkerErrors, ModalScreen[None]):
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


class LogScreen(ReportWorkerErrors, ModalScreen[None]):
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


# -- the panel -------------------------------------------------------------------------------------------------
DiffKey = tuple[str, str, int]  # (path, section, status generation)
DIFF_CACHE = 8  # diffs kept per generation; the cursor's file and a few it passed
PREFETCH_DELAY = 0.06  # seconds the cursor must rest on a file before its diff is fetched
POLL_CHANGED_DIRS = 64  # changed files whose folders are polled when the provider cannot be watched natively
_NOISE_SUFFIXES = (".lock",)  # git's lock files come and go around every write; the write itself is reported


def batch_matters(batch: ChangeBatch, prefix: str) -> bool:
    """Whether a change batch can change `git status` of the repository at `prefix` ('' or 'dir/'): any path in
    the worktree or directly in `.git` (index, HEAD, MERGE_HEAD...), but not lock files or object writes alone."""
    for p in batch.paths | batch.dirs:
        if p.startswith(CACHE_DIR + "/"):
            continue  # our own helper files (askpass exchange, credentials) while a push runs
        if prefix and not (p.startswith(prefix) or p == prefix.rstrip("/")):
            continue
        rel = p[len(prefix) :] if prefix and p.startswith(prefix) else p
        if rel.endswith(_NOISE_SUFFIXES) or rel.startswith((".git/objects/", ".git/logs/")):
            continue
        return True
    return False


def _consume_error(task: asyncio.Task[list[DiffFile]]) -> None:
    """A prefetch that failed and was never opened must not log 'exception was never retrieved'; whoever opens
    the diff gets the error (or retries)."""
    if not task.cancelled():
        task.exception()


class GitPanel(ReportWorkerErrors, Vertical):
    """The git pane of the workspace screen. `GitPanel(service, sandbox_id, id="git")`."""

    DEFAULT_CSS = """
    GitPanel { height: 1fr; }
    GitPanel #git-header { height: auto; padding: 0 1; background: $panel; }
    GitPanel #git-progress { height: 1; padding: 0 1; color: $text-muted; display: none; }
    GitPanel #git-progress.busy { display: block; }
    """

    BINDINGS = bindings(
        (
            Key("git.toggle_stage", "space", "toggle_stage", "Stage/unstage", "Stage or unstage the file"),
            Key("git.stage_all", "a", "stage_all", "Stage all", "Stage every change (unstage all if none)"),
            Key("git.diff", "enter", "diff", "Diff", "Show the file's diff; stage hunks there"),
            Key("git.discard", "d", "discard", "Discard", "Throw away the file's changes (asks first)"),
            Key("git.commit", "c", "commit", "Commit", "Commit the staged changes"),
            Key("git.amend", "A", "amend", "Amend", "Amend the last commit (staged changes and message)"),
            Key("git.pull", "p", "pull", "Pull", "Pull from the upstream branch"),
            Key("git.push", "P", "push", "Push", "Push to the upstream branch"),
            Key("git.fetch", "f", "fetch", "Fetch", "Fetch from the remote"),
            Key("git.branches", "b", "branches", "Branches", "List, create, switch and delete branches"),
            Key("git.log", "l", "log", "Log", "Show the commit log"),
            Key("git.stashes", "s", "stashes", "Stashes", "Stash list: apply, pop, drop, new stash"),
            Key("git.stash", "S", "stash", "Stash now", "Stash all changes (untracked too)"),
            Key("git.refresh", "r", "refresh", "Refresh", "Re-read the repository status", show=False),
            Key("git.init", "i", "init", "Init repo", "Make this folder a git repository"),
            Key("git.resolve", "m", "resolve", "Resolve", "Resolve the conflicted file: ours/theirs/both"),
            Key("git.abort_merge", "M", "abort_merge", "Abort merge", "git merge --abort (asks first)"),
        )
    )

    class StatusChanged(Message):
        """One status call's result, for the explorer (markers) and the status bar (branch). `status` is None
        when the folder is not a repository (markers cleared)."""

        def __init__(self, status: GitStatus | None) -> None:
            super().__init__()
            self.status = status

        @property
        def markers(self) -> dict[str, str]:
            return dict(self.status.markers) if self.status else {}

        @property
        def branch(self) -> str | None:
            if self.status is None:
                return None
            return self.status.branch or (f"({self.status.oid[:8]})" if self.status.oid else None)

    class _Progress(Message):
        def __init__(self, text: str | None) -> None:
            super().__init__()
            self.text = text

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        *,
        repo_dir: str = "",
        git: GitService | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.git = git or GitService(service, sandbox_id, repo_dir=repo_dir)
        if self.git.ask is None:
            self.git.ask = self._ask
        self.status: GitStatus | None = None
        self.not_repo = False
        self.failure: str | None = None  # the last status call's error, shown in the header until one succeeds
        self.refreshes = 0  # also the status generation the diff cache is keyed by
        self.batches_seen = 0  # change batches received while following the workspace (tests read it)
        self.following: str | None = None  # the watcher's mode ("native" or "poll") while following changes
        self._want = 0
        self._refresh_lock = asyncio.Lock()
        self._op_lock = asyncio.Lock()
        self._diffs: dict[DiffKey, asyncio.Task[list[DiffFile]]] = {}
        self.merging = False  # a merge is in progress (MERGE_HEAD): commit or abort it from here
        self.draft = ""  # a commit message whose commit failed: offered again, so nothing typed is lost

    def compose(self) -> ComposeResult:
        yield GitHeader(id="git-header")
        yield StatusList(id="git-files")
        yield RecentCommits(id="git-recent")
        yield Static("", id="git-progress")

    def on_resize(self) -> None:
        # a short pane keeps its rows for the file list: recent commits take what is left over
        self.query_one(RecentCommits).set_rows(min(RECENT, max(0, (self.size.height - 8) // 2)))

    def on_mount(self) -> None:
        self.request_refresh()

    @property
    def files(self) -> StatusList:
        return self.query_one(StatusList)

    # -- status ------------------------------------------------------------------------------------------------
    async def refresh_status(self) -> GitStatus | None:
        """Re-read the status (one `git status`), update the panel, post `StatusChanged`. Concurrent calls
        coalesce: callers that arrive while one runs share the next run."""
        self._want += 1
        async with self._refresh_lock:
            if self._want == 0:
                return self.status
            self._want = 0
            try:
                status = await self.git.status()
                merging = await self.git.merging()
            except NotARepository:
                self._show(None, not_repo=True)
                return None
            except Exception as exc:
                # Any failure, typed or not, is shown in the pane (never `loading…` forever) and goes to the one
                # error route; caught here, not left to the worker, so that following changes goes on.
                self.failure = describe(exc)
                self.query_one(GitHeader).show(self.status, failure=self.failure, merging=self.merging)
                report(self, exc, "git status")
                return self.status
            self._show(status, merging=merging)
            return status

    def _show(self, status: GitStatus | None, *, not_repo: bool = False, merging: bool = False) -> None:
        self.status = status
        self.failure = None
        self.not_repo = not_repo
        self.merging = merging
        self.refreshes += 1
        self._drop_diffs(keep=None)  # a new generation: every cached diff may be stale now
        self.query_one(GitHeader).show(status, not_repo=not_repo, merging=merging)
        self.files.set_rows(status_rows(status) if status else [])
        recent = self.query_one(RecentCommits)
        head = status.oid if status else None
        if head != recent.head or (head is None and recent.commits):
            self._load_recent(head)
        self.refresh_bindings()
        self.post_message(self.StatusChanged(status))

    @work(exclusive=True, group="git-recent", exit_on_error=False)
    async def _load_recent(self, head: str | None) -> None:
        commits = await self.git.log(limit=RECENT) if head is not None else []
        self.query_one(RecentCommits).show(commits, head)

    @work(group="git-refresh", exit_on_error=False)
    async def request_refresh(self) -> None:
        await self.refresh_status()

    # -- following file changes ---------------------------------------------------------------------------------
    def follow_changes(self, *, extra_dirs: Callable[[], Iterable[str]] | None = None, mode: Mode = "auto") -> None:
        """Refresh on the workspace's coalesced change batches (`services.watch`) — terminal, editor or git itself
        writing — instead of on a timer. One status call per batch; batches that arrive while it runs are merged
        by the watcher, so a `git checkout` of thousands of files costs one or two refreshes.

        `extra_dirs`: folders worth polling when the provider has no host folder to watch (the explorer's open
        folders); the repository root, its `.git` and the folders of changed files are polled anyway."""
        self.run_worker(
            self._follow(extra_dirs, mode), group="git-follow", exclusive=True, exit_on_error=False, name="git follow"
        )

    def _poll_dirs(self, extra: Callable[[], Iterable[str]] | None) -> list[str]:
        repo = self.git.repo_dir
        out = [repo, f"{self.git.prefix}.git"]
        if self.status is not None:
            # where the changes are: an edit there shows as a new mtime or size in the listing
            out += [self.git.prefix + e.path.rpartition("/")[0] for e in self.status.entries[:POLL_CHANGED_DIRS]]
        if extra is not None:
            out += list(extra())
        return [d.rstrip("/") for d in dict.fromkeys(out)]

    async def _follow(self, extra: Callable[[], Iterable[str]] | None, mode: Mode) -> None:
        watcher = WorkspaceWatcher(
            self.git.service, self.git.sandbox_id, dirs=lambda: self._poll_dirs(extra), mode=mode
        )
        self.following = watcher.mode
        try:
            async for batch in watcher.batches():
                self.batches_seen += 1
                if batch_matters(batch, self.git.prefix):
                    # awaited, not queued: what arrives meanwhile is merged into the next batch by the watcher
                    await self.refresh_status()
        finally:
            self.following = None

    def notice_saved(self, path: str) -> None:
        """A pane saved a file. A native watcher reports that write itself (refreshing here too would run status
        twice); a polling one may not look for seconds, so refresh now."""
        if self.following != "native":
            self.request_refresh()

    # -- the diff cache (prefetch as the cursor moves, lazygit-style) --------------------------------------------
    def _diff_key(self, row: Row) -> DiffKey:
        assert row.entry is not None
        return (row.entry.path, row.section, self.refreshes)

    def diff_future(self, row: Row) -> asyncio.Task[list[DiffFile]]:
        """The diff of `row` in this status generation: the cached (or running) one, else a new `git diff`."""
        key = self._diff_key(row)
        task = self._diffs.get(key)
        if task is None or task.cancelled() or (task.done() and task.exception() is not None):
            assert row.entry is not None
            task = asyncio.ensure_future(self.git.diff_for(row.entry, staged=row.section == "staged"))
            task.add_done_callback(_consume_error)
            self._diffs[key] = task
            while len(self._diffs) > DIFF_CACHE:
                self._diffs.pop(next(iter(self._diffs))).cancel()  # the oldest (insertion order)
        return task

    def _drop_diffs(self, keep: DiffKey | None, *, running_only: bool = False) -> None:
        """Forget cached diffs other than `keep`, cancelling those still running. `running_only`: forget only the
        running ones (the cursor moved on: finished diffs stay, for when it comes back)."""
        for key in [k for k in self._diffs if k != keep]:
            task = self._diffs[key]
            if running_only and task.done():
                continue
            del self._diffs[key]
            if not task.done():
                task.cancel()

    @on(StatusList.Highlighted)
    def _highlighted(self, event: StatusList.Highlighted) -> None:
        event.stop()
        if event.row is not None and event.row.entry is not None and self.files.has_focus:
            self._prefetch(event.row)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        row = self.files.selected
        if row is not None and self.files.has_focus:
            self._prefetch(row)

    @work(exclusive=True, group="git-prefetch", exit_on_error=False)
    async def _prefetch(self, row: Row) -> None:
        if self._diff_key(row) in self._diffs:
            return  # cached or on its way
        # A held key moves the cursor every ~30 ms: only the file the cursor rests on is worth a `git diff`.
        # (This worker is exclusive: a move cancels the wait.)
        await asyncio.sleep(PREFETCH_DELAY)
        key = self._diff_key(row)
        self._drop_diffs(keep=key, running_only=True)  # cancel on move: another file's running diff is unwanted
        self.diff_future(row)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "init":
            return self.not_repo
        if self.not_repo and action not in ("refresh", "init"):
            return False
        if action == "resolve":
            row = self.files.selected
            return row is not None and row.section == "conflicts"
        if action == "abort_merge":
            return self.merging
        return True

    # -- helpers -----------------------------------------------------------------------------------------------
    def _fail(self, exc: SandbenchError) -> None:
        report(self, exc)

    async def _run(self, label: str, op: Callable[[], Any], *, refresh: bool = True) -> bool:
        """Run one git operation (serialised: git's index lock admits one writer), then refresh."""
        async with self._op_lock:
            self.post_message(self._Progress(f"{label}…"))
            try:
                await op()
            except SandbenchError as exc:
                report(self, exc)
                return False
            finally:
                self.post_message(self._Progress(None))
        if refresh:
            await self.refresh_status()
        return True

    def _progress(self, text: str) -> None:
        self.post_message(self._Progress(text))

    @on(_Progress)
    def _on_progress(self, event: _Progress) -> None:
        bar = self.query_one("#git-progress", Static)
        bar.set_class(event.text is not None, "busy")
        bar.update(plain(event.text or ""))

    async def _ask(self, prompt: str) -> str | None:
        """GitService's askpass bridge: a dialog in the app (hidden input unless it is a yes/no question)."""
        confirm = "yes/no" in prompt or "(yes/" in prompt
        cls = InputDialog if confirm else SecretDialog
        dialog = cls("Git asks", prompt, placeholder="yes or no" if confirm else "")
        try:
            answer = await self.app.push_screen_wait(dialog)
        except asyncio.CancelledError:
            # the service gave up waiting (timeout): do not leave the dialog behind
            with contextlib.suppress(Exception):
                if self.app.screen is dialog:
                    dialog.dismiss(None)
            raise
        return None if answer is None else str(answer)

    # -- actions -----------------------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.request_refresh()

    @work(group="git-op", exit_on_error=False)
    async def action_toggle_stage(self) -> None:
        row = self.files.selected
        if row is None or row.entry is None:
            return
        e = row.entry
        if row.section == "staged":
            paths = [e.path] + ([e.orig_path] if e.orig_path else [])
            await self._run("unstaging", lambda: self.git.unstage(*paths))
            return
        left = await markers_left(self.git, e.path) if row.section == "conflicts" else 0
        if left and not await self.app.push_screen_wait(
            ConfirmDialog("Still conflicted", f"{visible(e.path)} has {left} conflicts left: mark it resolved?")
        ):
            return
        await self._run("staging", lambda: self.git.stage(e.path))

    @work(group="git-op", exit_on_error=False)
    async def action_stage_all(self) -> None:
        st = self.status
        if st is not None and not st.unstaged and not st.untracked and not st.conflicted and st.staged:
            await self._run("unstaging all", self.git.unstage_all)
        else:
            await self._run("staging all", self.git.stage_all)

    def action_diff(self) -> None:
        row = self.files.selected
        if row is None or row.entry is None:
            return
        if row.section == "conflicts":
            self.action_resolve()
            return
        self.app.push_screen(
            GitDiffScreen(
                self.git,
                row.entry,
                staged=row.section == "staged",
                on_change=self.request_refresh,
                prefetched=self.diff_future(row),
            )
        )

    @work(group="git-op", exit_on_error=False)
    async def action_discard(self) -> None:
        row = self.files.selected
        if row is None or row.entry is None:
            return
        e = row.entry
        everything = row.section in ("staged", "conflicts")
        what = (
            "delete this untracked file"
            if e.untracked
            else "throw away all its changes, staged and unstaged"
            if everything
            else "throw away its unstaged changes"
        )
        ok = await self.app.push_screen_wait(
            ConfirmDialog("Discard changes", f"{visible(e.path)}: {what}?", confirm="Discard", danger=True)
        )
        if ok:
            await self._run("discarding", lambda: self.git.discard(e, include_staged=everything))

    @work(group="git-op", exit_on_error=False)
    async def action_commit(self) -> None:
        st = self.status
        if st is not None and st.conflicted:
            tell(self, f"resolve the {len(st.conflicted)} conflicted files first (m)", title="Git", severity="warning")
            return
        if st is not None and not st.staged and not self.merging:
            tell(self, "nothing staged: stage files first (space, or a for all)", title="Git", severity="warning")
            return
        draft = self.draft or (await self.git.merge_message() if self.merging else "")
        message = await self.app.push_screen_wait(CommitDialog(message=draft, submit=self._commit))
        if message:
            await self.refresh_status()

    async def _commit(self, message: str, *, amend: bool = False) -> None:
        """The commit dialog's submit. When git does not know who the user is, ask (a dialog that stores it with
        `git config` inside the sandbox) and try again; any other refusal (a hook) goes back into the commit dialog,
        shown inline with the message kept. A failed commit keeps its message as the next commit's draft."""
        self.draft = message
        while True:
            try:
                async with self._op_lock:
                    self._progress("amending…" if amend else "committing…")
                    try:
                        await self.git.commit(message, amend=amend)
                    finally:
                        self._progress_done()
            except MissingIdentity:
                if not await self.app.push_screen_wait(IdentityDialog(self.git)):
                    # shown inline in the commit dialog, which keeps the message
                    raise MissingIdentity("not committed: git needs your name and email (ctrl+s asks again)") from None
                continue
            break
        self.draft = ""

    def action_resolve(self) -> None:
        row = self.files.selected
        if row is not None and row.entry is not None and row.section == "conflicts":
            self.app.push_screen(ConflictScreen(self.git, row.entry.path, on_change=self.request_refresh))

    @work(group="git-op", exit_on_error=False)
    async def action_abort_merge(self) -> None:
        ok = await self.app.push_screen_wait(
            ConfirmDialog("Abort merge", "git merge --abort: throw away the merge and its resolutions?", danger=True)
        )
        if ok:
            await self._run("aborting the merge", self.git.merge_abort)

    @work(group="git-op", exit_on_error=False)
    async def action_amend(self) -> None:
        if self.status is not None and self.status.initial:
            tell(self, "nothing to amend: no commit yet", title="Git", severity="warning")
            return
        try:
            last = await self.git.last_message()
        except SandbenchError as exc:
            report(self, exc)
            return
        message = await self.app.push_screen_wait(
            CommitDialog(amend=True, message=last.rstrip("\n"), submit=lambda m: self._commit(m, amend=True))
        )
        if message:
            await self.refresh_status()

    @work(group="git-op", exit_on_error=False)
    async def action_pull(self) -> None:
        await self._run("pulling", lambda: self.git.pull(on_progress=self._progress))

    @work(group="git-op", exit_on_error=False)
    async def action_fetch(self) -> None:
        await self._run("fetching", lambda: self.git.fetch(on_progress=self._progress))

    @work(group="git-op", exit_on_error=False)
    async def action_push(self) -> None:
        async with self._op_lock:
            self._progress("pushing…")
            try:
                try:
                    await self.git.push(on_progress=self._progress)
                except NoUpstream:
                    remotes = await self.git.remotes()
                    if not remotes:
                        raise NoUpstream("no remote to push to: add one in the terminal (git remote add)") from None
                    remote = "origin" if "origin" in remotes else remotes[0]
                    ok = await self.app.push_screen_wait(
                        ConfirmDialog("Set upstream", f"This branch has no upstream. Push it to {visible(remote)}?")
                    )
                    if not ok:
                        return
                    await self.git.push(on_progress=self._progress, set_upstream=remote)
            except SandbenchError as exc:
                report(self, exc)
                return
            finally:
                self._progress_done()
        tell(self, "pushed", title="Git")
        await self.refresh_status()

    def _progress_done(self) -> None:
        self.post_message(self._Progress(None))

    def action_branches(self) -> None:
        self.app.push_screen(BranchScreen(self.git, on_change=self.request_refresh))

    def action_log(self) -> None:
        self.app.push_screen(LogScreen(self.git))

    @work(group="git-op", exit_on_error=False)
    async def action_stash(self) -> None:
        await self._run("stashing", self.git.stash_push)

    def action_stashes(self) -> None:
        self.app.push_screen(StashScreen(self.git, on_change=self.request_refresh))

    @work(group="git-op", exit_on_error=False)
    async def action_init(self) -> None:
        ok = await self.app.push_screen_wait(ConfirmDialog("Init", "Make this folder a git repository (branch main)?"))
        if ok:
            await self._run("initialising", self.git.init)

"""The diff of one file from the git panel, with hunk staging: space stages (or unstages) the selected hunk,
`d` discards it (confirmed). Opened with the diff already fetched when the panel prefetched it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from services.errors import SandbenchError
from services.git import GitService
from services.git_parse import DiffFile, FileStatus
from services.text import safe_text
from widgets.dialogs import ConfirmDialog
from widgets.diff_view import DiffView
from widgets.footer import OwnFooter
from widgets.git.status_list import plain
from widgets.keys import Key, bindings
from widgets.messages import ReportWorkerErrors, report


class GitDiffScreen(ReportWorkerErrors, OwnFooter, ModalScreen[None]):
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
            # space unstages in a staged diff: `__init__` renames it there, so the footer says what it does
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
        if staged:
            self._say_unstage()
        self.on_change = on_change
        # The panel's prefetch of this diff (cursor rested on the file): done → painted from memory in the first
        # frame; still running → awaited instead of starting a second `git diff`.
        self.prefetched = prefetched
        self._initial: list[DiffFile] | None = None
        self._busy = asyncio.Lock()

    def _say_unstage(self) -> None:
        """This screen's own copy of its bindings, with space described as what it does in a staged diff."""
        table = self._bindings.copy()
        for key, found in table.key_to_bindings.items():
            table.key_to_bindings[key] = [
                dataclasses.replace(b, description="Unstage hunk", tooltip="Unstage this hunk")
                if b.action == "toggle_hunk"
                else b
                for b in found
            ]
        self._bindings = table

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
        if self.staged:
            await self._hunk_op(lambda: self.git.unstage_hunk(file, hunk))
        else:
            await self._hunk_op(lambda: self.git.stage_hunk(file, hunk))

    @work(group="git-diff-op", exit_on_error=False)
    async def action_discard_hunk(self) -> None:
        file, hunk = self.query_one(DiffView).current
        if file is None or hunk is None or self.staged:
            return
        ok = await self.app.push_screen_wait(
            ConfirmDialog(
                "Discard hunk", f"Throw away this change to {safe_text(file.path)}?", confirm="Discard", danger=True
            )
        )
        if not ok:
            return
        await self._hunk_op(lambda: self.git.discard_hunk(file, hunk))

    async def _hunk_op(self, call: Callable[[], Awaitable[object]]) -> None:
        """Run one change to a hunk, one at a time: a refusal is reported, a success reloads the diff."""
        async with self._busy:
            try:
                await call()
            except SandbenchError as exc:
                report(self, exc)
                return
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
        self.load(keep_position=True)

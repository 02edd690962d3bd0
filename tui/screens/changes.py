"""The Changes view of a workspace (issue 13 §2): what changed in the sandbox's files since a checkpoint, as a
tree (`widgets.changes_tree.ChangesTree`: A/M/D/T and sizes) with the selected file's diff beside it (below it
under `STACK_WIDTH` columns) in `widgets.diff_view.DiffView`, the one diff view; and the ways back: restore a file
or folder (`r`), one hunk (`u`), everything (`R`, asked first). Every restore checkpoints the state before it, so
each can be undone; the notification names that checkpoint.

It compares against the latest manual checkpoint, else the oldest (`default_since`); `p` picks another
(`CheckpointPicker`). A sandbox with no checkpoint says so and `c` takes one. It is about the workspace, not a
repository: git in the sandbox or not, the same. Running programs keep running through a restore and see the
files change under them: the view says so and offers (`T`) to restart the workspace's terminals, asking first.

Service calls run in workers that post the messages below; handlers change widgets (DESIGN §7). Failures go to the
app's one error route (`ReportWorkerErrors`). Sandbox text (paths, messages, who) is shown as plain text.
The workspace opens it with `open_changes` (its `workspace.changes` key and palette entry).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from services.checkpoint_diff import FileDiff, file_diff, restore_hunk, status_letter
from services.checkpoints.changes import Change
from services.checkpoints.store import Checkpoint
from services.text import safe_text
from tui.keymap import FOCUS_KEYS, bindings
from tui.screens.restore_flow import (
    Restored,
    RestoreFollowUp,
    checkpoints_offered,
    count_of,
    files_and_folders,
    open_dialog,
    restore_status,
    undo_note,
)
from tui.screens.view_switch import ViewSwitch, view_keys
from widgets.changes_tree import ChangeRow, ChangesTree
from widgets.checkpoint_tree import SHORT
from widgets.clock import app_now
from widgets.dialogs import DialogBase
from widgets.diff_view import DiffView
from widgets.explorer import Explorer
from widgets.footer import PRIORITY, FittedFooter
from widgets.keys import Key
from widgets.messages import tell
from widgets.row_tree import RowTree
from widgets.sandbox_table import relative_time

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService
    from tui.screens.workspace import WorkspaceScreen

STACK_WIDTH = 100  # below this many columns the diff goes below the tree
# What the footer keeps first when the width is short (widgets/footer.py: per "pane", best first)
PRIORITY.setdefault(
    "changes",
    (
        "changes.restore",
        "changes.restore_hunk",
        "changes.rollback",
        "app.help",
        "changes.restart_terminals",
        "changes.pick",
        "diff.next_hunk",
        "changes.checkpoint",
        "changes.close",
        "changes.refresh",
    ),
)

CHANGES_KEYS: tuple[Key, ...] = (
    Key("changes.close", "escape,f9", "close", "Back", "Back to the workspace"),
    Key("changes.pick", "p", "pick", "Compare with…", "Choose the checkpoint the workspace is compared with"),
    Key(
        "changes.restore",
        "r",
        "restore",
        "Restore",
        "Restore the selected file or folder as it was at the checkpoint (undoable: the state before is kept)",
    ),
    Key(
        "changes.restore_hunk",
        "u",
        "restore_hunk",
        "Restore hunk",
        "Undo the selected hunk of the diff in the workspace's file (refused if the file changed since)",
    ),
    Key(
        "changes.rollback",
        "R",
        "rollback",
        "Roll back all",
        "Make the whole workspace what it was at the checkpoint (says what changes and asks; undoable)",
    ),
    Key("changes.checkpoint", "c", "checkpoint", "Checkpoint", "Take a checkpoint of the workspace now"),
    Key(
        "changes.edit",
        "e",
        "edit",
        "Edit",
        "Back to the workspace with the selected file open in the editor",
        show=False,
    ),
    Key("changes.refresh", "f5", "refresh", "Refresh", "List the changes again"),
    Key(
        "changes.open",
        "enter",
        "open_row",
        "Diff",
        "On a folder: fold or unfold it; on a file: move to its diff",
        show=False,
    ),
    Key(
        "changes.restart_terminals",
        "T",
        "restart_terminals",
        "Restart terminals",
        "After a restore: restart the workspace's terminals, so programs start on the restored files (asks first)",
    ),
)


def ago(ts: float, now: datetime) -> str:
    return relative_time(datetime.fromtimestamp(ts, UTC), now)


def describe(ckpt: Checkpoint, now: datetime) -> str:
    """One line naming a checkpoint: short id, message, kind, age (plain text: the message is sandbox text)."""
    message = f" “{safe_text(ckpt.message)}”" if ckpt.message else ""
    return f"{ckpt.id[:SHORT]}{message} ({ckpt.kind}, {ago(ckpt.created_at, now)})"


def default_since(ckpts: list[Checkpoint]) -> Checkpoint | None:
    """The latest manual checkpoint, else the oldest one, else None (`ckpts` oldest first)."""
    manual = [c for c in ckpts if c.kind == "manual"]
    if manual:
        return max(manual, key=lambda c: c.created_at)
    return min(ckpts, key=lambda c: c.created_at) if ckpts else None


# -- messages: workers post these, handlers change widgets --------------------------------------------------------
class ChangesLoaded(Message):
    def __init__(self, ckpts: list[Checkpoint], since: Checkpoint | None, changes: list[Change]) -> None:
        super().__init__()
        self.ckpts = ckpts
        self.since = since
        self.changes = changes


class DiffLoaded(Message):
    def __init__(self, since_id: str, diff: FileDiff) -> None:
        super().__init__()
        self.since_id = since_id
        self.diff = diff


# -- the checkpoint picker ----------------------------------------------------------------------------------------
class CheckpointPicker(DialogBase):
    """Choose a checkpoint (newest first: id, age, kind, message, who). Dismisses with its id, or None."""

    DEFAULT_CSS = """
    CheckpointPicker > Vertical { width: 90%; max-width: 120; }
    CheckpointPicker OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, ckpts: list[Checkpoint], current: str | None, now: datetime) -> None:
        super().__init__()
        self._ckpts = sorted(ckpts, key=lambda c: c.created_at, reverse=True)
        self._current = current
        self._now = now

    def compose(self) -> ComposeResult:
        options = []
        for c in self._ckpts:
            row = Text("● " if c.id == self._current else "  ", style="bright_green")
            row.append(c.id[:SHORT], style="yellow")
            row.append(f"  {ago(c.created_at, self._now):>8}  {c.kind:<14}  ")
            row.append(safe_text(c.message) or "—")
            row.append(f"  {safe_text(c.who)}", style="grey62")
            options.append(Option(row, id=c.id))
        with Vertical():
            yield Static(Text("Compare the workspace with…"), classes="dialog-title")
            yield OptionList(*options, id="picker")
            yield Static(Text("enter chooses, escape cancels"), classes="dialog-message")

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        picker.focus()
        ids = [c.id for c in self._ckpts]
        if self._current in ids:
            picker.highlighted = ids.index(self._current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


# -- the screen ---------------------------------------------------------------------------------------------------
class ChangesScreen(ViewSwitch, RestoreFollowUp, Screen[None], inherit_bindings=False):
    BINDINGS = bindings(CHANGES_KEYS + view_keys("changes", "Changes", skip=("changes",)) + FOCUS_KEYS)
    HELP_TITLE = "Changes"
    AUTO_FOCUS = "#changes-tree"
    DEFAULT_CSS = """
    ChangesScreen #changes-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    ChangesScreen #changes-body { height: 1fr; layout: horizontal; }
    ChangesScreen #changes-side { width: 40%; min-width: 28; height: 1fr; border-right: solid $panel-lighten-2; }
    ChangesScreen #changes-empty { padding: 1 1; height: auto; color: $text-muted; }
    ChangesScreen #changes-diff { width: 1fr; height: 1fr; }
    ChangesScreen.-stacked #changes-body { layout: vertical; }
    ChangesScreen.-stacked #changes-side { width: 100%; height: 40%; border-right: none;
        border-bottom: solid $panel-lighten-2; }
    ChangesScreen.-empty #changes-side { width: 1fr; height: 1fr; border: none; }
    """

    def __init__(
        self,
        service: SandboxService,
        sandbox_id: str,
        name: str,
        workspace: WorkspaceScreen | None = None,
        *,
        since: str | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.sandbox_name = name
        self.workspace = workspace
        self.since_ref = since  # asked for by id (the checkpoint tree's enter); None: `default_since`
        self.since: Checkpoint | None = None
        self.ckpts: list[Checkpoint] = []
        self.changes: list[Change] = []
        self.loaded = False  # the first listing has arrived (tests wait for it)
        self.diff: FileDiff | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Changes · {safe_text(self.sandbox_name)}"), id="changes-title")
        with Container(id="changes-body"):
            with Vertical(id="changes-side"):
                yield Static(Text("looking for changes…"), id="changes-empty")
                yield ChangesTree(id="changes-tree")
            yield DiffView(id="changes-diff")
        yield restore_status()
        yield FittedFooter(pane=lambda: "changes")

    @property
    def file_tree(self) -> ChangesTree:
        return self.query_one(ChangesTree)

    @property
    def view(self) -> DiffView:
        return self.query_one(DiffView)

    def now(self) -> datetime:
        return app_now(self.app)

    def on_mount(self) -> None:
        self._layout_for(self.app.size.width)
        # after the first frame: the scan runs in a thread, and sharing the interpreter with the screen's mount
        # made both slower (measured: bench/changes_view.py)
        self.call_after_refresh(self.load)

    def on_resize(self, event: Any) -> None:
        self._layout_for(event.size.width)
        if self.loaded:
            self._show_title()
            self._fit_side()

    def _layout_for(self, width: int) -> None:
        self.set_class(width < STACK_WIDTH, "-stacked")

    # -- loading ------------------------------------------------------------------------------------------------
    def load(self) -> None:
        # an async function, not a coroutine: a worker cancelled before it starts leaves none unawaited
        self.run_worker(self._load, name="list changes", group="changes", exclusive=True, exit_on_error=False)  # type: ignore[arg-type]

    async def _load(self) -> None:
        cps = self.service.checkpoints
        ckpts, _head = await cps.list_checkpoints(self.sandbox_id)
        since: Checkpoint | None = None
        ref = self.since.id if self.since is not None else self.since_ref
        if ref is not None:
            since = next((c for c in ckpts if c.id == ref), None)
        if since is None:
            since = default_since(ckpts)
        if since is None:
            self.post_message(ChangesLoaded(ckpts, None, []))
            return
        cs = await cps.changes(self.sandbox_id, since.id)
        self.post_message(ChangesLoaded(ckpts, cs.since, cs.changes))

    def on_changes_loaded(self, message: ChangesLoaded) -> None:
        self.loaded = True
        self.ckpts, self.since, self.changes = message.ckpts, message.since, message.changes
        empty = self.query_one("#changes-empty", Static)
        title = self.query_one("#changes-title", Static)
        if self.since is None:
            title.update(Text(f"Changes · {safe_text(self.sandbox_name)} · no checkpoint"))
            empty.update(
                Text(
                    "This sandbox has no checkpoint yet, so there is nothing to compare with.\n"
                    "Press c to take one: the changes made after it show here."
                )
            )
        else:
            self._show_title()
            empty.update(Text(f"No changes since checkpoint {self.since.id[:SHORT]}."))
        empty.display = not self.changes
        self.file_tree.display = bool(self.changes)
        self.view.display = bool(self.changes)  # nothing to diff: the message says why, alone
        self.set_class(not self.changes, "-empty")
        self.file_tree.set_changes(self.changes)
        if not self.changes:
            self.diff = None
            self.view.set_diff([])
        self._fit_side()
        self.refresh_bindings()

    def _show_title(self) -> None:
        """`Changes · NAME · since CKPT (kind, age) · N files changed`, whole words within the title's width: the
        checkpoint's description loses its message, then its kind and age, then the name is elided: never a word cut
        at the edge."""
        since = self.since
        if since is None:
            return
        n = sum(1 for c in self.changes if c.kind != "dir")
        width = max(20, (self.size.width or self.app.size.width) - 2)  # the title's padding
        name, count = safe_text(self.sandbox_name), f"{count_of(n, 'file')} changed"
        plain = f"{since.id[:SHORT]} ({since.kind}, {ago(since.created_at, self.now())})"  # without its message
        for since_text in (describe(since, self.now()), plain, since.id[:SHORT]):
            text = f"Changes · {name} · since {since_text} · {count}"
            if len(text) <= width:
                break
        else:
            room = max(4, width - len(f"Changes ·  · since {since.id[:SHORT]} · {count}"))
            short = name if len(name) <= room else name[: room - 1] + "…"
            text = f"Changes · {short} · since {since.id[:SHORT]} · {count}"
        self.query_one("#changes-title", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def _fit_side(self) -> None:
        """Stacked (80x24), the file list gets the rows it has, up to 60% of the body, and the diff the rest: a
        fixed 40% gave six files 6 rows and a one-line folder note 13."""
        side = self.query_one("#changes-side")
        if not self.has_class("-stacked") or not self.changes:
            side.styles.clear_rule("height")
            side.refresh(layout=True)
            return
        body = self.query_one("#changes-body").size.height or max(4, self.app.size.height - 3)
        wanted = len(self.file_tree.rows) + 1  # the border under it
        side.styles.height = max(4, min(wanted, int(body * 0.6)))

    def on_row_tree_highlighted(self, message: RowTree.Highlighted) -> None:
        self._fit_side()  # a folder opened or closed: the list has more or fewer rows
        row = message.row
        if not isinstance(row, ChangeRow) or self.since is None:
            return
        if row.change is None or row.folder:
            self.diff = None
            below = [c for c in self.changes if c.path.startswith(row.path + "/")]
            self.view.set_diff(_folder_summary(row.path, below))
            self.refresh_bindings()
            return
        since = self.since
        change = row.change
        if self.diff is not None and self.diff.change.path != change.path:
            self.diff = None  # `u` acts on the diff shown for the selected file only: none until it arrives
            self.refresh_bindings()

        async def work() -> None:
            self.post_message(DiffLoaded(since.id, await file_diff(self.service, self.sandbox_id, since, change)))

        # an async function, not a coroutine: a worker cancelled before it starts leaves none unawaited
        self.run_worker(work, name="diff file", group="changes-diff", exclusive=True, exit_on_error=False)  # type: ignore[arg-type]

    def on_diff_loaded(self, message: DiffLoaded) -> None:
        row = self.file_tree.selected
        if self.since is None or message.since_id != self.since.id or row is None:
            return
        if row.path != message.diff.change.path:
            return  # the cursor has moved on: that row's own diff is on its way
        self.diff = message.diff
        self.view.set_diff([message.diff.diff])
        self.refresh_bindings()

    # -- actions ------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("restore", "rollback", "pick") and self.since is None:
            return False
        if action == "edit":
            return self.workspace is not None
        if action == "restore_hunk":
            d = self.diff
            return bool(d is not None and d.raw and d.mtime is not None)
        return super().check_action(action, parameters)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_refresh(self) -> None:
        self.load()

    def action_open_row(self) -> None:
        row = self.file_tree.selected
        if row is None:
            return
        if row.folder:
            self.file_tree.action_toggle_folder()
        else:
            self.view.focus()

    def action_edit(self) -> None:
        row = self.file_tree.selected
        ws = self.workspace
        if row is None or row.folder or ws is None or (row.change is not None and row.change.status == "deleted"):
            tell(self, "select a file that is in the workspace to edit it")
            return
        self.dismiss(None)
        ws.post_message(Explorer.FileOpenRequested(row.path))  # the workspace opens it as the explorer's enter does

    def action_pick(self) -> None:
        if not self.ckpts:
            return

        def chosen(ckpt_id: object) -> None:
            found = next((c for c in self.ckpts if c.id == ckpt_id), None)
            if found is not None:
                self.since = found
                self.load()

        open_dialog(self, CheckpointPicker(self.ckpts, self.since.id if self.since else None, self.now()), chosen)

    def action_checkpoint(self) -> None:
        def then() -> None:
            if self.since is None:
                self.since_ref = None  # the new one becomes the default
            self.load()

        self.ask_checkpoint(then)

    def action_restore(self) -> None:
        row = self.file_tree.selected
        since = self.since
        if row is None or since is None:
            return
        what = f"{safe_text(row.path)}{'/' if row.folder else ''}"

        async def work() -> None:
            result = await self.service.checkpoints.restore(self.sandbox_id, since.id, only=[row.path])
            self.post_message(Restored(f"{what} restored from {since.id[:SHORT]}{undo_note(result)}"))

        self.run_restore(work, "restore")

    def action_restore_hunk(self) -> None:
        d = self.diff
        index = self.view.current_index
        row = self.file_tree.selected
        if d is None or index < 0 or row is None or row.path != d.change.path:
            return

        async def work() -> None:
            await restore_hunk(self.service, self.sandbox_id, d, index)
            self.post_message(Restored(f"hunk {index + 1} of {safe_text(d.change.path)} restored"))

        self.run_restore(work, "restore hunk")

    def action_rollback(self) -> None:
        since = self.since
        if since is None:
            return
        deleted_dirs = sum(1 for c in self.changes if c.status == "added" and c.kind == "dir")
        deleted = sum(1 for c in self.changes if c.status == "added") - deleted_dirs
        written = sum(1 for c in self.changes if c.status != "added" and c.kind != "dir")
        if not deleted and not deleted_dirs and not written:
            tell(self, f"nothing to roll back: the workspace is as it was at {since.id[:SHORT]}")
            return
        message = (
            f"Make the workspace what it was at checkpoint {describe(since, self.now())}: "
            f"{count_of(written, 'file')} written, {files_and_folders(deleted, deleted_dirs)} deleted. "
            "A checkpoint of the current state is taken first, so this can be undone (its id is shown after)."
        )

        self.confirm_restore(
            "Roll back everything",
            message,
            "Roll back",
            since.id,
            lambda r: f"rolled back to {since.id[:SHORT]}: {count_of(r.written, 'file')} written, {r.deleted} deleted",
        )


def _folder_summary(path: str, changes: list[Change]) -> list[Any]:
    """What the diff side shows for a folder: a note listing what changed beneath it."""
    from services.git_parse import DiffFile

    counts: dict[str, int] = {}
    for c in changes:
        if c.kind != "dir":
            letter = status_letter(c)
            counts[letter] = counts.get(letter, 0) + 1
    parts = ", ".join(f"{n} {letter}" for letter, n in sorted(counts.items())) or "no file"
    note = f"{path}/: {parts} beneath it (r restores the whole folder from the checkpoint)"
    return [DiffFile(None, None, (), note=note)]  # no path: DiffView shows the note alone


# -- opening ------------------------------------------------------------------------------------------------------
def open_changes(workspace: WorkspaceScreen, since: str | None = None) -> None:
    """Show the Changes view over the workspace (`since`: a checkpoint id; None: the default)."""
    if not checkpoints_offered(workspace):
        return
    workspace.app.push_screen(
        ChangesScreen(workspace.service, workspace.info.id, workspace.info.name, workspace, since=since)
    )

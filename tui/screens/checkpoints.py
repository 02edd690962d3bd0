"""The checkpoint tree view of a workspace (issue 13 §2): this sandbox's checkpoints by parent link, newest first,
the head marked, forks saying where they came from (`widgets.checkpoint_tree.CheckpointTree`), and what can be done
from any node: take a checkpoint (`c`), mark one (space) and diff it against the selected one (`d`; with no mark,
the selected against its parent) in `DiffView`, restore the workspace to a node (`r`, asked first, undoable), fork
a new sandbox from it (`f`, then offered to open it), and `enter` opens the Changes view against it.

Workers call the service and post messages; handlers change widgets (DESIGN §7); failures go to the app's one
error route. Dialogs whose answer the service may reject (the checkpoint message, the fork's name) submit from the
dialog, so a rejection keeps what was typed (`widgets.dialogs.SubmitsInPlace`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from services.checkpoint_diff import diff_from_lines
from services.checkpoints.store import Checkpoint
from services.errors import SandbenchError
from services.git_parse import DiffFile
from services.models import SandboxInfo
from services.text import safe_text
from tui.keymap import FOCUS_KEYS, bindings
from tui.screens.changes import ChangesScreen, describe
from tui.screens.restore_flow import RestoreFollowUp, checkpoints_offered, count_of, open_dialog, restore_status
from tui.screens.view_switch import ViewSwitch, view_keys
from widgets.checkpoint_tree import SHORT, CheckpointRow, CheckpointTree, added_text, checkpoint_rows
from widgets.clock import app_now
from widgets.dialogs import ConfirmDialog, InputDialog
from widgets.diff_view import DiffView
from widgets.footer import PRIORITY, FittedFooter
from widgets.keys import Key
from widgets.messages import tell

if TYPE_CHECKING:
    from services.sandbox_service import SandboxService
    from tui.screens.workspace import WorkspaceScreen

CHECKPOINTS_KEYS: tuple[Key, ...] = (
    Key("checkpoints.close", "escape,shift+f9", "close", "Back", "Back to the workspace"),
    Key(
        "checkpoints.changes", "enter", "changes", "Changes", "The Changes view: the workspace against this checkpoint"
    ),
    Key("checkpoints.mark", "space", "mark", "Mark", "Mark this checkpoint (or unmark it), to diff another against it"),
    Key(
        "checkpoints.diff",
        "d",
        "diff",
        "Diff",
        "Diff the marked checkpoint against the selected one (no mark: the selected against its parent)",
    ),
    Key(
        "checkpoints.restore",
        "r",
        "restore",
        "Restore",
        "Make the workspace what it was at this checkpoint (asks first; undoable: the state before is kept)",
    ),
    Key("checkpoints.fork", "f", "fork", "Fork", "A new sandbox whose files are this checkpoint's (asks its name)"),
    Key("checkpoints.take", "c", "take", "Checkpoint", "Take a checkpoint of the workspace now"),
    Key("checkpoints.refresh", "f5", "refresh", "Refresh", "List the checkpoints again"),
    Key(
        "checkpoints.restart_terminals",
        "T",
        "restart_terminals",
        "Restart terminals",
        "After a restore: restart the workspace's terminals, so programs start on the restored files (asks first)",
    ),
)

PRIORITY.setdefault(
    "checkpoints",
    (
        "checkpoints.changes",
        "checkpoints.mark",
        "checkpoints.diff",
        "checkpoints.restore",
        "app.help",
        "checkpoints.restart_terminals",
        "checkpoints.fork",
        "checkpoints.take",
        "checkpoints.close",
        "checkpoints.refresh",
    ),
)

DIFF_KEYS: tuple[Key, ...] = (
    Key("checkpoints.diff.close", "escape,q", "close", "Back", "Back to the checkpoint tree"),
)


class CheckpointsLoaded(Message):
    def __init__(self, ckpts: list[Checkpoint], head: str | None, names: dict[str, str]) -> None:
        super().__init__()
        self.ckpts = ckpts
        self.head = head
        self.names = names


class DiffReady(Message):
    def __init__(self, title: str, files: list[DiffFile]) -> None:
        super().__init__()
        self.title = title
        self.files = files


class Forked(Message):
    def __init__(self, info: SandboxInfo, ckpt: Checkpoint) -> None:
        super().__init__()
        self.info = info
        self.ckpt = ckpt


class DiffScreen(Screen[None], inherit_bindings=False):
    """A diff between two checkpoints, in `DiffView`; escape goes back to the tree."""

    BINDINGS = bindings(DIFF_KEYS + FOCUS_KEYS)
    HELP_TITLE = "Checkpoint diff"
    AUTO_FOCUS = "DiffView"
    DEFAULT_CSS = """
    DiffScreen #ckdiff-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    DiffScreen DiffView { height: 1fr; }
    """

    def __init__(self, title: str, files: list[DiffFile]) -> None:
        super().__init__()
        self._title = title
        self._files = files

    def compose(self) -> ComposeResult:
        yield Static(Text(self._title), id="ckdiff-title")
        yield DiffView(self._files, id="ckdiff-view")
        yield FittedFooter()

    def action_close(self) -> None:
        self.dismiss(None)


class CheckpointsScreen(ViewSwitch, RestoreFollowUp, Screen[None], inherit_bindings=False):
    BINDINGS = bindings(CHECKPOINTS_KEYS + view_keys("checkpoints", "Checkpoints", skip=("checkpoints",)) + FOCUS_KEYS)
    HELP_TITLE = "Checkpoints"
    AUTO_FOCUS = "CheckpointTree"
    DEFAULT_CSS = """
    CheckpointsScreen #ck-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    CheckpointsScreen #ck-empty { padding: 1 1; height: auto; color: $text-muted; }
    CheckpointsScreen #ck-header { height: 1; color: $text-muted; }
    CheckpointsScreen #ck-detail { height: auto; max-height: 4; padding: 0 1; background: $panel; }
    """

    def __init__(
        self, service: SandboxService, sandbox_id: str, name: str, workspace: WorkspaceScreen | None = None
    ) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.sandbox_name = name
        self.workspace = workspace
        self.ckpts: list[Checkpoint] = []
        self.head: str | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Checkpoints · {safe_text(self.sandbox_name)}"), id="ck-title")
        yield Static(Text("loading…"), id="ck-empty")
        yield Static("", id="ck-header")
        yield CheckpointTree(clock=self.now, id="ck-tree")
        yield Static("", id="ck-detail")
        yield restore_status()
        yield FittedFooter(pane=lambda: "checkpoints")

    @property
    def ck_tree(self) -> CheckpointTree:
        return self.query_one(CheckpointTree)

    def now(self) -> datetime:
        return app_now(self.app)

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        # an async function, not a coroutine: a worker cancelled before it starts leaves none unawaited
        self.run_worker(self._load, name="list checkpoints", group="ck", exclusive=True, exit_on_error=False)  # type: ignore[arg-type]

    async def _load(self) -> None:
        ckpts, head = await self.service.checkpoints.list_checkpoints(self.sandbox_id)
        names: dict[str, str] = {}
        for c in ckpts:  # a fork's first checkpoint names the sandbox it came from, when it is still there
            other = c.parent_sandbox
            if other and other != self.sandbox_id and other not in names:
                try:
                    names[other] = (await self.service.get(other)).name
                except SandbenchError:
                    names[other] = other
        self.post_message(CheckpointsLoaded(ckpts, head, names))

    def on_checkpoints_loaded(self, message: CheckpointsLoaded) -> None:
        self.loaded = True
        self.ckpts, self.head = message.ckpts, message.head
        tree = self.ck_tree
        if tree.marked is not None and tree.marked not in {c.id for c in self.ckpts}:
            tree.marked = None
        tree.set_rows(checkpoint_rows(self.ckpts, self.head, message.names))
        self.query_one("#ck-header", Static).update(Text(tree.header(), style="bold"))
        empty = self.query_one("#ck-empty", Static)
        empty.update(Text("This sandbox has no checkpoint yet: press c to take one."))
        empty.display = not self.ckpts
        tree.display = bool(self.ckpts)
        self.query_one("#ck-header", Static).display = bool(self.ckpts)
        self.query_one("#ck-title", Static).update(
            Text(f"Checkpoints · {safe_text(self.sandbox_name)} · {count_of(len(self.ckpts), 'checkpoint')}")
        )
        self._show_detail()
        self.refresh_bindings()

    def on_row_tree_highlighted(self, message: Any) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        """The selected checkpoint in full under the tree (the row cuts its message), and the mark."""
        row = self.ck_tree.selected
        detail = self.query_one("#ck-detail", Static)
        if not isinstance(row, CheckpointRow):
            detail.update("")
            return
        c = row.ckpt
        text = Text(f"{c.id}  {c.kind}  {safe_text(c.who)}  {count_of(c.files, 'file')}  {added_text(c)} new  ")
        text.append(safe_text(c.message) or "(no message)")
        if self.ck_tree.marked:
            text.append(f"\nmarked: {self.ck_tree.marked[:SHORT]} — d diffs it against the selected", style="magenta")
        detail.update(text)

    def _selected(self) -> Checkpoint | None:
        row = self.ck_tree.selected
        return row.ckpt if isinstance(row, CheckpointRow) else None

    # -- actions ------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("changes", "mark", "diff", "restore", "fork") and not self.ckpts:
            return False
        return super().check_action(action, parameters)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_refresh(self) -> None:
        self.load()

    def action_mark(self) -> None:
        c = self._selected()
        if c is not None:
            self.ck_tree.set_marked(None if self.ck_tree.marked == c.id else c.id)
            self._show_detail()

    def action_changes(self) -> None:
        c = self._selected()
        if c is not None:
            self.app.push_screen(
                ChangesScreen(self.service, self.sandbox_id, self.sandbox_name, self.workspace, since=c.id),
                lambda _: self.load(),
            )

    def action_diff(self) -> None:
        new = self._selected()
        if new is None:
            return
        marked = self.ck_tree.marked
        if marked is not None and marked != new.id:
            old_id = marked
        elif new.parent is not None and new.parent_sandbox in (None, self.sandbox_id):
            old_id = new.parent
        else:
            tell(self, f"{new.id[:SHORT]} has no parent in this sandbox: mark another checkpoint (space) to diff")
            return
        sandbox = self.sandbox_id

        async def work() -> None:
            cs, diffs = await self.service.checkpoints.diff_between(sandbox, old_id, new.id)
            files = [diff_from_lines(ch, lines) for ch, lines in diffs]
            title = f"{cs.since.id[:SHORT]} → {new.id[:SHORT]} · {count_of(len(files), 'change')}"
            self.post_message(DiffReady(title, files))

        # an async function, not a coroutine: a worker cancelled before it starts leaves none unawaited
        self.run_worker(work, name="diff checkpoints", group="ck-diff", exclusive=True, exit_on_error=False)  # type: ignore[arg-type]

    def on_diff_ready(self, message: DiffReady) -> None:
        self.app.push_screen(DiffScreen(message.title, message.files))

    def action_restore(self) -> None:
        c = self._selected()
        if c is None:
            return
        message = (
            f"Make the workspace what it was at checkpoint {describe(c, self.now())}? Files changed since are "
            "overwritten and files added since are deleted. A checkpoint of the current state is taken first, so "
            "this can be undone (its id is shown after)."
        )

        self.confirm_restore(
            "Restore to checkpoint",
            message,
            "Restore",
            c.id,
            lambda r: f"restored to {c.id[:SHORT]}: {count_of(r.written, 'file')} written, {r.deleted} deleted",
        )

    def action_take(self) -> None:
        self.ask_checkpoint(self.load)

    def action_fork(self) -> None:
        c = self._selected()
        if c is None:
            return
        cps = self.service.checkpoints
        made: list[tuple[SandboxInfo, Checkpoint]] = []

        async def fork(name: str) -> None:
            made.append(await cps.fork(self.sandbox_id, name.strip(), at=c.id))

        def done(answer: object) -> None:
            # the dialog has closed (it stays open on a rejection, with the name typed): offer to open the fork
            if isinstance(answer, str) and made:
                self.post_message(Forked(*made[-1]))

        open_dialog(
            self,
            InputDialog(
                "Fork",
                f"Name of the new sandbox, made from checkpoint {c.id[:SHORT]}:",
                value=f"{self.sandbox_name}-fork",
                validate=lambda v: None if v.strip() else "a sandbox needs a name",
                submit=fork,
            ),
            done,
        )

    def on_forked(self, message: Forked) -> None:
        info = message.info
        self.load()

        def answer(yes: object) -> None:
            if yes:
                self._open(info)

        open_dialog(
            self,
            ConfirmDialog(
                "Forked",
                f"{safe_text(info.name)} is made from checkpoint {(message.ckpt.parent or '')[:SHORT]}. "
                "Open its workspace?",
                confirm="Open",
            ),
            answer,
        )

    def _open(self, info: SandboxInfo) -> None:
        app: Any = self.app
        workspaces = getattr(app, "workspaces", None)
        if workspaces is None:
            return
        self.dismiss(None)
        app.call_later(workspaces.open, info)


def open_checkpoints(workspace: WorkspaceScreen) -> None:
    """Show the checkpoint tree over the workspace."""
    if not checkpoints_offered(workspace):
        return
    workspace.app.push_screen(CheckpointsScreen(workspace.service, workspace.info.id, workspace.info.name, workspace))

"""Restoring from a screen over a workspace: the one confirm-then-restore flow, the follow-up after a restore (running
programs see the files change; `T` offers to restart the workspace's terminals), the "take a checkpoint" dialog,
and whether a workspace's provider keeps checkpoints at all (`checkpoints_offered`) — shared by the Changes view
(tui/screens/changes.py) and the checkpoint tree (tui/screens/checkpoints.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from services.checkpoints.service import RestoreResult
from services.checkpoints.store import Checkpoint
from services.errors import SandbenchError
from services.text import safe_text
from widgets.dialogs import ConfirmDialog, DialogBase, InputDialog
from widgets.messages import ReportWorkerErrors, report, tell

if TYPE_CHECKING:
    from tui.screens.workspace import WorkspaceScreen


def checkpoints_offered(workspace: WorkspaceScreen) -> bool:
    """Whether the workspace's provider keeps checkpoints; when not, the refusal is reported in one line."""
    try:
        _ = workspace.service.checkpoints.store
    except SandbenchError as exc:
        report(workspace, exc)
        return False
    return True


def count_of(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def files_and_folders(files: int, folders: int) -> str:
    """`2 files`, `1 folder`, `2 files and 1 folder` (`0 files` when both are none)."""
    parts = [count_of(n, what) for n, what in ((files, "file"), (folders, "folder")) if n]
    return " and ".join(parts) or "0 files"


def open_dialog(screen: Any, dialog: DialogBase, callback: Callable[[Any], None] | None = None) -> None:
    """Open `dialog` over `screen` with no toast over it: a toast sits bottom-right, where a dialog's buttons are at
    80x24 (a restore's own toast stays up for seconds). A dialog holds the toasts while it is open and shows them
    again when it closes (widgets/toast_hold.py): they were cleared here, and "restored to …" was lost for good."""
    screen.app.push_screen(dialog, callback)


RESTORE_STATUS = "restore-status"


def restore_status() -> Static:
    """The status line a restoring screen yields above its footer: hidden until a restore, then what the last one
    did and how to undo it (`RestoreFollowUp.after_restore` fills it)."""
    line = Static("", id=RESTORE_STATUS)
    line.styles.height = 1
    line.styles.padding = (0, 1)
    line.display = False
    return line


def undo_note(result: RestoreResult) -> str:
    return f" (undo: restore checkpoint {result.before.id})"


class Restored(Message):
    """A restore (of paths, a hunk, or everything) is done; `text` says what it did."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RestoreFollowUp(ReportWorkerErrors):
    """For a screen over a workspace that restores files (and reloads with `load()`): after a restore, say that
    running programs see the files change under them, reload, and offer `T` (`restart_terminals`) to restart the
    workspace's terminals — asking first, naming what runs in them."""

    workspace: WorkspaceScreen | None
    offer_restart = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`T` (`restart_terminals`) is offered only after a restore; the screen's own rules come first."""
        if action == "restart_terminals":
            return self.offer_restart
        return True

    def on_restored(self, message: Restored) -> None:
        """Say what the restore did, then show the restored state (the screen's `load`)."""
        screen: Any = self
        self.after_restore(message.text)
        screen.load()

    def after_restore(self, text: str) -> None:
        screen: Any = self
        # the last restore, with its undo checkpoint, in the screen's own status line: the toast below is off the
        # screen while a dialog is open (none may cover its buttons), and the undo hint must stay readable
        for status in screen.query(f"#{RESTORE_STATUS}"):
            status.update(Text(f"last restore: {text}"))
            status.display = True
        ws = self.workspace
        terminals = ws.ending().terminals if ws is not None and ws.is_attached else 0
        if terminals:
            self.offer_restart = True
            screen.refresh_bindings()
            text += (
                f". Running programs see the files change under them: T restarts the workspace's "
                f"{count_of(terminals, 'terminal')}"
            )
        else:
            text += ". Programs running in the sandbox see the files change under them"
        tell(screen, text, title="Restored", timeout=12)

    def confirm_restore(
        self, title: str, message: str, confirm: str, ref: str, done: Callable[[RestoreResult], str]
    ) -> None:
        """Ask (`title`, `message`, the `confirm` button), then restore the whole workspace to checkpoint `ref` in
        a worker; `done(result)` says what it did (the undo checkpoint is added)."""
        screen: Any = self
        sandbox_id: str = screen.sandbox_id

        def answer(yes: object) -> None:
            if not yes:
                return

            async def work() -> None:
                result = await screen.service.checkpoints.restore(sandbox_id, ref)
                screen.post_message(Restored(f"{done(result)}{undo_note(result)}"))

            self.run_restore(work, confirm.lower())

        open_dialog(screen, ConfirmDialog(title, message, confirm=confirm, danger=True), answer)

    def ask_checkpoint(self, then: Callable[[], None]) -> None:
        """Ask for a message and take a checkpoint from the dialog itself (a refusal stays in it, with what was
        typed); `then` runs once it is taken."""
        screen: Any = self
        cps = screen.service.checkpoints
        sandbox_id: str = screen.sandbox_id

        async def take(message: str) -> Checkpoint:
            return await cps.create(sandbox_id, message.strip())

        def done(answer: object) -> None:
            if isinstance(answer, str):
                tell(screen, "checkpoint taken", timeout=4)
                then()

        open_dialog(
            screen, InputDialog("Checkpoint", "A message for this checkpoint (may be empty):", submit=take), done
        )

    def run_restore(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a restore in a worker, one at a time: a restore is never cancelled half-way by the next key."""
        screen: Any = self
        if any(w.group == "restore" and not w.is_finished for w in screen.workers):
            tell(screen, "a restore is still running: wait for it to finish", severity="warning")
            return
        screen.run_worker(work, name=name, group="restore", exit_on_error=False)

    def action_restart_terminals(self) -> None:
        ws = self.workspace
        screen: Any = self
        if ws is None or not ws.is_attached:
            return
        ending = ws.ending()
        if not ending.terminals:
            tell(screen, "no terminal is open in this workspace")
            return
        running = f" ({', '.join(safe_text(p) for p in ending.running[:3])} running)" if ending.running else ""
        message = (
            f"Restart {count_of(ending.terminals, 'terminal')}{running}? Each shell ends and a new one starts on the "
            "restored files."
        )

        def answer(yes: object) -> None:
            if yes:
                self.offer_restart = False
                screen.refresh_bindings()
                ws.run_worker(_restart_terminals(ws), name="restart terminals", exit_on_error=False)

        open_dialog(screen, ConfirmDialog("Restart terminals", message, confirm="Restart"), answer)


async def _restart_terminals(ws: WorkspaceScreen) -> None:
    from widgets.terminal import TerminalView

    for view in list(ws.query(TerminalView)):
        if view.session is not None:
            await view.restart()

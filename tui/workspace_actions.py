"""Workspace commands that reach across panes or beyond the workspace (issue 11 §4): find a file from any pane,
run the current file (F5), snapshot, checkpoint or stop this sandbox, the doctor, and the views opened on top (search
in files, Timeline, Changes, Checkpoints, Processes, Metrics). `WorkspaceScreen` inherits them;
their keys are in `tui/keymap.py` (`WORKSPACE_KEYS`) like every workspace key, so the palette and the help list them.

Each works from any pane, which is the point: the fuzzy finder is the explorer's, but ctrl+o opens it from the
editor, the git panel or the terminal's tab bar; F5 saves the file first, then runs it in the terminal's run tab.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, cast

from textual.screen import Screen
from textual.widget import Widget

from services.errors import FileNotFound, SandbenchError
from services.run_file import MAKEFILES, CannotRun, RunPlan, plan
from services.text import safe_text
from tui.messages import WorkInFlight
from widgets.messages import ReportWorkerErrors, report, tell

if TYPE_CHECKING:
    from services.config import Config
    from services.models import SandboxInfo
    from services.sandbox_service import SandboxService
    from tui.screens.workspace import WorkspaceScreen

log = logging.getLogger(__name__)


async def snapshot_names(service: SandboxService) -> set[str]:
    """The snapshot names there are, for the snapshot dialog's proposed name (empty when they cannot be listed: the
    service still refuses a taken name, inline in the dialog)."""
    try:
        return {s.name for s in await service.list_snapshots()}
    except SandbenchError as exc:
        log.info("listing snapshots for a default name failed: %s", exc)
        return set()


class WorkspaceActions(ReportWorkerErrors, Screen[None]):
    """The base of `WorkspaceScreen`, which provides `service`, `info`, `config` and the panes."""

    service: SandboxService
    info: SandboxInfo
    config: Config

    def pane_widget(self, pane: str) -> Widget:
        raise NotImplementedError

    def _whole(self) -> WorkspaceScreen:
        """This screen as the `WorkspaceScreen` it always is (the views opened from here take the whole screen)."""
        return cast("WorkspaceScreen", self)

    def _reveal_pane(self, pane: str) -> None:
        raise NotImplementedError

    # -- find a file, from any pane ----------------------------------------------------------------------------
    def action_find_file(self) -> None:
        explorer: Any = self.pane_widget("explorer")
        find = getattr(explorer, "action_find", None)
        if callable(find):
            find()  # the explorer's finder: the chosen file is revealed there and opened in the editor
            return
        from widgets.fuzzy_finder import FuzzyFinder

        def found(path: str | None) -> None:
            editor: Any = self.pane_widget("editor")
            if path and callable(getattr(editor, "open_file", None)):
                editor.open_file(path)

        self.app.push_screen(FuzzyFinder(self.service, self.info.id), found)

    # -- run the current file ----------------------------------------------------------------------------------
    def action_run_file(self) -> None:
        self.run_worker(self._run_file(), name="run file", group="run-file", exclusive=True, exit_on_error=False)

    async def _run_file(self) -> None:
        editor: Any = self.pane_widget("editor")
        path = getattr(editor, "active_path", None)
        if not path:
            tell(self, "no file to run: open one in the editor first (F5 runs the active tab)", timeout=4)
            return
        if path in editor.has_unsaved() and not await editor.save(path):
            tell(self, f"{safe_text(path)} was not saved, so it was not run", severity="warning")
            return
        buffer = editor.buffer(path)
        first_line = buffer.editor.document.get_line(0) if buffer is not None else ""
        try:
            run = plan(path, first_line, await self._makefile_dir(path))
        except CannotRun as exc:
            tell(self, str(exc), title="Run file", severity="warning", timeout=8)
            return
        await self.run_plan(run)

    async def run_plan(self, run: RunPlan) -> None:
        terminal: Any = self.pane_widget("terminal")
        if not callable(getattr(terminal, "run", None)):
            tell(self, "this workspace has no terminal to run the file in", severity="warning")
            return
        self._reveal_pane("terminal")
        await terminal.run(run)

    async def _makefile_dir(self, path: str) -> str | None:
        """The folder of the Makefile nearest `path`: its own folder, else the workspace root; None if neither."""
        folder = str(PurePosixPath(path).parent)
        folders = [folder, ""] if folder not in (".", "") else [""]
        for where in folders:
            for name in MAKEFILES:
                try:
                    await self.service.stat(self.info.id, f"{where}/{name}" if where else name)
                except FileNotFound:
                    continue
                except SandbenchError as exc:
                    log.info("looking for a Makefile failed: %s", exc)
                    return None
                return where
        return None

    # -- this sandbox: snapshot, stop, doctor -------------------------------------------------------------------
    def action_snapshot(self) -> None:
        info = self.info
        if not self.service.owns(info):
            tell(self, f"{safe_text(info.name)} is another owner's: read-only, no snapshot", severity="warning")
            return
        self._ask_snapshot()

    def _ask_snapshot(self) -> None:
        from widgets.dialogs import snapshot_name_dialog

        info, service = self.info, self.service

        async def take(name: str) -> None:
            # run from the dialog: a name the service refuses (invalid, taken) comes back into it, kept
            snap, key = name.strip(), f"snapshot:{info.id}"
            self.post_message(WorkInFlight(key, f"snapshot {snap}…"))
            try:
                saved = await self.service.snapshot(info.id, snap)
            finally:
                self.post_message(WorkInFlight(key, None))
            tell(self, f"snapshot {safe_text(saved.name)} of {safe_text(info.name)} saved", timeout=4)

        # at once, not after listing the snapshots: a name typed behind the key goes into the field; the listing
        # (for the proposed name) runs from the dialog
        self.app.push_screen(snapshot_name_dialog(info.name, take, list_taken=lambda: snapshot_names(service)))

    def action_take_checkpoint(self) -> None:
        """Ask for a message and checkpoint the workspace from the dialog (a refusal stays in it, inline)."""
        from widgets.dialogs import InputDialog

        info = self.info
        if not self.service.owns(info):
            tell(self, f"{safe_text(info.name)} is another owner's: read-only, no checkpoint", severity="warning")
            return
        try:
            checkpoints = self.service.checkpoints
            _ = checkpoints.store  # a provider without checkpoints: refused in one line
        except SandbenchError as exc:
            report(self, exc)
            return

        async def take(message: str) -> object:
            return await checkpoints.create(info.id, message.strip())

        def done(answer: object) -> None:
            if isinstance(answer, str):
                tell(self, f"checkpoint of {safe_text(info.name)} taken", timeout=4)

        self.app.push_screen(
            InputDialog("Checkpoint", "A message for this checkpoint (may be empty):", submit=take), done
        )

    def action_stop_sandbox(self) -> None:
        info = self.info
        if not self.service.owns(info):
            tell(self, f"{safe_text(info.name)} is another owner's: read-only, not stopped", severity="warning")
            return
        app: Any = self.app

        def stop() -> None:
            app.run_worker(self.service.stop(info.id), name=f"stop {info.name}", group="stop", exit_on_error=False)

        # the terminals end with the sandbox: the same dialog as stopping from the list says so and asks
        app.workspaces.confirm_end(info, then=stop, verb="stop", title="Stop sandbox")

    def action_processes(self) -> None:
        from tui.screens.processes import open_processes

        open_processes(self, self.service, self.info)

    def action_doctor(self) -> None:
        if self.service.provider.name != "local":
            tell(self, "the doctor checks local sandboxes; this workspace is on another provider")
            return
        self.run_worker(self._doctor(), name="doctor", group="doctor", exclusive=True, exit_on_error=False)

    async def _doctor(self) -> None:
        from services.doctor import diagnose  # subprocesses and file reads: off the UI loop
        from tui.screens.doctor import DoctorScreen

        report_ = await asyncio.to_thread(diagnose, self.config.data_dir, self.config.bwrap)
        self.app.push_screen(DoctorScreen(report_.lines()))

    def action_metrics(self) -> None:
        from tui.screens.metrics import MetricsScreen  # made on first use

        if not isinstance(self.app.screen, MetricsScreen):
            self.app.push_screen(MetricsScreen(self.service, self.info))

    def action_search(self) -> None:
        from tui.screens.search import open_search  # the search screen is made on first use

        open_search(self._whole())

    def action_timeline(self) -> None:
        from tui.screens.timeline import open_timeline_screen  # made on first use

        open_timeline_screen(self.app, self.service, self.info.id, self.info.name)

    def action_changes(self) -> None:
        from tui.screens.changes import open_changes  # issue 13: made on use, like search

        open_changes(self._whole())

    def action_checkpoints(self) -> None:
        from tui.screens.checkpoints import open_checkpoints

        open_checkpoints(self._whole())

    def action_copy_name(self) -> None:
        self.app.copy_to_clipboard(self.info.name)
        tell(self, f"copied {safe_text(self.info.name)}", timeout=2)

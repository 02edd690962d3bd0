"""The explorer's file operations: new file or folder, rename, move, delete (asking first), copy path — each a
dialog that submits from the dialog itself (`InputDialog(submit=...)`), so a name that exists already, or that the
service refuses, comes back inline with the field still focused and holding what was typed.

`ExplorerFileOps` is a mixin of `Explorer` (explorer.py): it reads the cursor and the open folders, and reports
through two hooks the explorer implements: `_operation_done` (re-list these folders, reveal this path) and
`_open_file`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from services import paths
from services.errors import AlreadyExists, FileNotFound, InvalidInput
from services.models import FileEntry
from services.sandbox_service import SandboxService
from services.text import safe_text
from widgets.dialogs import ConfirmDialog, InputDialog
from widgets.explorer_text import clipboard_text
from widgets.messages import ReportWorkerErrors, tell


def _shown(path: str) -> str:
    return safe_text(path) if path else "the workspace root"


def _check_path(value: str) -> str | None:
    """InputDialog validator for a relative path."""
    if not value.strip():
        return "enter a name"
    try:
        if not paths.normalize(value):
            return "enter a name"
    except InvalidInput as err:
        return str(err)
    return None


def _check_name(value: str) -> str | None:
    try:
        paths.validate_name(value)
    except InvalidInput as err:
        return str(err)
    return None


if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    # a plain mixin at run time: Textual inherits default CSS along the first DOMNode base only, so a `Widget`
    # base here would cut ScrollView's CSS (its overflow, so its scrolling) out of the explorer; the type checker
    # still sees a widget
    _Base = object


class ExplorerFileOps(ReportWorkerErrors, _Base):
    """The file-operation actions of the explorer (a mixin: `Explorer` provides the state named below). Its
    workers' failures go to the app's one error route, as every worker owner's do."""

    service: SandboxService
    sandbox_id: str
    _expanded: set[str]

    @property
    def cursor_entry(self) -> FileEntry | None:
        raise NotImplementedError

    def _operation_done(self, relist: list[str], reveal: str | None = None) -> None:
        raise NotImplementedError

    def _open_file(self, path: str) -> None:
        raise NotImplementedError

    def _target_folder(self) -> str:
        """Where a new file goes: into the folder under the cursor if it is open, else beside the cursor."""
        entry = self.cursor_entry
        if entry is None:
            return ""
        if entry.kind == "dir" and entry.path in self._expanded:
            return entry.path
        return paths.parent(entry.path)

    async def _exists(self, path: str) -> bool:
        try:
            await self.service.stat(self.sandbox_id, path)
        except FileNotFound:
            return False
        return True

    def action_new_file(self) -> None:
        self._create(self._target_folder(), folder=False)

    def action_new_folder(self) -> None:
        self._create(self._target_folder(), folder=True)

    # The dialogs below submit from the dialog itself (`InputDialog(submit=...)`): a name that exists already, or
    # that the service refuses, comes back inline with the field still focused and holding what was typed. New and
    # rename push theirs from the key, not from a worker, so a name typed fast behind n or r goes into the field
    # (from a worker, `nda.txt` let the d reach the explorer's Delete).
    def _create(self, base: str, *, folder: bool) -> None:
        what = "folder" if folder else "file"

        async def make(answer: str) -> None:
            path = paths.join(base, answer)
            if await self._exists(path):
                raise AlreadyExists(f"{safe_text(path)} already exists")
            parent = paths.parent(path)
            if parent != base and not await self._exists(parent):
                await self.service.mkdir(self.sandbox_id, parent, parents=True)
            if folder:
                await self.service.mkdir(self.sandbox_id, path)
            else:
                await self.service.write_file(self.sandbox_id, path, b"")

        def made(answer: object) -> None:
            if not answer:
                return
            path = paths.join(base, str(answer))
            self._operation_done([base, paths.parent(path)], reveal=path)
            if not folder:
                self._open_file(path)  # a new file is made to be written: open it

        dialog = InputDialog(
            f"New {what}",
            f"In {_shown(base)} (a/b/name makes folders on the way):",
            placeholder="name",
            validate=_check_path,
            submit=make,
        )
        self.app.push_screen(dialog, made)

    def action_rename(self) -> None:
        entry = self.cursor_entry
        if entry is not None:
            self._rename(entry)

    def _rename(self, entry: FileEntry) -> None:
        stem = entry.name.rfind(".")
        parent = paths.parent(entry.path)

        async def rename(answer: str) -> None:
            if answer != entry.name:
                await self.service.move(self.sandbox_id, entry.path, paths.join(parent, answer))

        def renamed(answer: object) -> None:
            if answer and answer != entry.name:
                self._operation_done([parent], reveal=paths.join(parent, str(answer)))

        dialog = InputDialog(
            "Rename",
            f"New name for {safe_text(entry.path)}:",
            value=entry.name,
            validate=_check_name,
            select=(0, stem if stem > 0 and entry.kind != "dir" else len(entry.name)),
            submit=rename,
        )
        self.app.push_screen(dialog, renamed)

    def action_move(self) -> None:
        entry = self.cursor_entry
        if entry is not None:
            self._move(entry)

    @work(group="explorer-op", exit_on_error=False)
    async def _move(self, entry: FileEntry) -> None:
        moved: list[str] = []

        async def move(answer: str) -> None:
            dest = paths.normalize(answer)
            if dest == entry.path:
                return
            try:
                target = await self.service.stat(self.sandbox_id, dest)
            except FileNotFound:
                target = None
            if target is not None and target.kind == "dir":
                dest = paths.join(dest, entry.name)
            if dest == entry.path or dest.startswith(entry.path + "/"):
                raise InvalidInput(f"cannot move {safe_text(entry.path)} into itself")
            dest_parent = paths.parent(dest)
            if dest_parent and not await self._exists(dest_parent):
                await self.service.mkdir(self.sandbox_id, dest_parent, parents=True)
            await self.service.move(self.sandbox_id, entry.path, dest)
            moved.append(dest)

        await self.app.push_screen_wait(
            InputDialog(
                "Move",
                f"Move {safe_text(entry.path)} to (a path from the workspace root; an existing folder moves it in):",
                value=entry.path,
                validate=_check_path,
                submit=move,
            )
        )
        if moved:
            dest = moved[0]
            dest_parent = paths.parent(dest)
            self._operation_done([paths.parent(entry.path), dest_parent, paths.parent(dest_parent)], reveal=dest)

    def action_delete(self) -> None:
        entry = self.cursor_entry
        if entry is not None:
            self._delete(entry)

    @work(group="explorer-op", exit_on_error=False)
    async def _delete(self, entry: FileEntry) -> None:
        is_dir = entry.kind == "dir"
        message = (
            f"Delete the folder {safe_text(entry.path)} and everything in it? This cannot be undone."
            if is_dir
            else f"Delete {safe_text(entry.path)}? This cannot be undone."
        )
        confirmed = await self.app.push_screen_wait(ConfirmDialog("Delete", message, confirm="Delete", danger=True))
        if not confirmed:
            return
        await self.service.delete_path(self.sandbox_id, entry.path, recursive=is_dir)
        self._operation_done([paths.parent(entry.path)])

    def action_copy_path(self) -> None:
        entry = self.cursor_entry
        if entry is None:
            return
        self.app.copy_to_clipboard(clipboard_text(entry.path))
        tell(self, f"Copied {safe_text(entry.path)}", timeout=2)

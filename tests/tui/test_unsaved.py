"""Unsaved editor work asks Save all / Discard / Cancel wherever it could be lost (issue 11 §3): quitting, closing
the workspace, stopping its sandbox. Save all really writes (checked with a fresh read through the service) and
then goes on; a failed save goes on with nothing and says which file; Discard goes on without writing; Cancel
keeps everything. The real app on a real local sandbox, the real editor (terminal and git are placeholders: they
play no part here).
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Static

from services.models import SandboxInfo, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, workspace_up
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.dialogs import ChoiceDialog
from widgets.editor import EditorTabs
from widgets.unsaved_dialog import UnsavedDialog

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]
PANES = {"terminal": PLACEHOLDERS["terminal"], "git": PLACEHOLDERS["git"]}


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    await service.write_file(info.id, "notes.txt", b"one\n")
    return info


async def edit(pilot: Pilot[Any], app: SandbenchApp, path: str = "notes.txt") -> tuple[WorkspaceScreen, EditorTabs]:
    """Open the workspace, open `path` and type `zz` into it: one unsaved buffer."""
    await wait_until(pilot, lambda: workspace_up(app))
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    tabs = screen.query_one(EditorTabs)
    tabs.open_file(path)
    await wait_until(pilot, lambda: tabs.active_editor is not None and tabs.active_path == path)
    code = tabs.active_editor
    assert code is not None
    await wait_until(pilot, lambda: app.focused is code)
    await pilot.press("z", "z")
    assert tabs.has_unsaved() == [path]
    return screen, tabs


def asking(app: SandbenchApp) -> UnsavedDialog:
    assert isinstance(app.screen, UnsavedDialog)
    return app.screen


def error_line(app: SandbenchApp) -> str:
    return str(app.screen.query_one("#error", Static).render())


async def test_quit_save_all_writes_the_file_then_quits(
    service: SandboxService, box: SandboxInfo, make_app: Any
) -> None:
    app = make_app(panes=PANES, open_name="box")
    async with app.run_test(size=(120, 30)) as pilot:
        await edit(pilot, app)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        dialog = asking(app)
        assert "notes.txt" in str(dialog.query_one("#unsaved-files", Static).render())
        assert app.focused is dialog.query_one("#choice-save", Button)  # enter would save too
        labels = [str(b.label) for b in dialog.query(Button)]
        assert labels == ["Cancel (esc)", "Discard (d)", "Save all (s)"]
        await pilot.press("s")
        await wait_until(pilot, lambda: not app.is_running)
    assert app.return_value == 0
    assert (await service.read_file(box.id, "notes.txt")).data == b"zzone\n"


async def test_quit_discard_quits_without_writing(service: SandboxService, box: SandboxInfo, make_app: Any) -> None:
    app = make_app(panes=PANES, open_name="box")
    async with app.run_test(size=(120, 30)) as pilot:
        await edit(pilot, app)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("ctrl+q")  # a second ctrl+q does not lose the work: it takes `d`
        await pilot.pause(0.1)
        assert app.is_running and isinstance(app.screen, UnsavedDialog)
        await pilot.press("d")
        await wait_until(pilot, lambda: not app.is_running)
    assert (await service.read_file(box.id, "notes.txt")).data == b"one\n"


async def test_quit_cancel_keeps_the_app_and_the_edit(service: SandboxService, box: SandboxInfo, make_app: Any) -> None:
    app = make_app(panes=PANES, open_name="box")
    async with app.run_test(size=(120, 30)) as pilot:
        screen, tabs = await edit(pilot, app)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        assert app.is_running
        code = tabs.active_editor
        assert code is not None and code.text == "zzone\n" and tabs.has_unsaved() == ["notes.txt"]
        await wait_until(pilot, lambda: app.focused is code)  # back where the user was typing
        assert (await service.read_file(box.id, "notes.txt")).data == b"one\n"


async def test_a_failed_save_quits_nothing_and_names_the_file(
    service: SandboxService, box: SandboxInfo, make_app: Any
) -> None:
    await service.mkdir(box.id, "sub")
    await service.write_file(box.id, "sub/a.txt", b"a\n")
    app = make_app(panes=PANES, open_name="box")
    async with app.run_test(size=(120, 30)) as pilot:
        await edit(pilot, app, "sub/a.txt")
        # the folder the file lives in becomes a file: no save can succeed
        await service.delete_path(box.id, "sub", recursive=True)
        await service.write_file(box.id, "sub", b"in the way\n")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("s")
        await wait_until(pilot, lambda: "not saved: sub/a.txt (" in error_line(app))
        assert app.is_running and isinstance(app.screen, UnsavedDialog)  # nothing proceeded
        assert app.focused is asking(app).query_one("#choice-save", Button)
        # the way is cleared: Save all again saves and quits
        await service.delete_path(box.id, "sub")
        await service.mkdir(box.id, "sub")
        await pilot.press("s")
        # the file is gone from disk since it was opened: the save asks first, over the Save all dialog
        await wait_until(
            pilot, lambda: isinstance(app.screen, ChoiceDialog) and not isinstance(app.screen, UnsavedDialog)
        )
        await pilot.click("#choice-overwrite")
        await wait_until(pilot, lambda: not app.is_running)
    assert (await service.read_file(box.id, "sub/a.txt")).data == b"zza\n"


async def test_closing_the_workspace_offers_save_all(service: SandboxService, box: SandboxInfo, make_app: Any) -> None:
    app = make_app(panes=PANES, open_name="box")
    async with app.run_test(size=(120, 30)) as pilot:
        await edit(pilot, app)
        await pilot.press("alt+q")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        text = " ".join(str(s.render()) for s in app.screen.query(".dialog-message"))
        assert "Close workspace of box" in text and "close the workspace" in text and "notes.txt" in text
        await pilot.press("s")
        await wait_until(
            pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.workspaces.get(box.id) is None
        )
        assert (await service.read_file(box.id, "notes.txt")).data == b"zzone\n"


async def test_stopping_the_sandbox_offers_save_all_and_discard(
    service: SandboxService, box: SandboxInfo, make_app: Any
) -> None:
    app = make_app(panes=PANES, open_name="box")
    async with app.run_test(size=(120, 30)) as pilot:
        await edit(pilot, app)
        await pilot.press("alt+0")
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        listing = app.screen
        assert isinstance(listing, SandboxListScreen)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        assert "stop box" in str(app.screen.query_one("#unsaved-files", Static).render())
        await pilot.press("d")
        await wait_until(
            pilot, lambda: (listing.table.get_info(box.id) or box).state is SandboxState.STOPPED, timeout=30
        )
        assert app.workspaces.get(box.id) is None
    assert (await service.read_file(box.id, "notes.txt")).data == b"one\n"

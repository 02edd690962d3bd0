"""Defects a new user hit in the workspace, editor and git panel at 80x24 (notes s3/fixws): each test drives the
real app (real panes, a real sandbox) the way the user did and checks what they would see."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from services.config import Config
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import fixed_clock, notifications
from tests.tui.test_workspace_alive import reopen, to_list
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.dialogs import InputDialog
from widgets.editor import EditorTabs
from widgets.editor.text_area import CodeEditor

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]


async def workspace(pilot: Pilot[Any], app: SandbenchApp) -> WorkspaceScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, WorkspaceScreen))
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    return screen


async def test_alt_2_after_reopening_puts_the_cursor_in_the_file(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    await service.write_file(box.id, "notes.txt", b"one\n")
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await workspace(pilot, app)
        editor = screen.query_one(EditorTabs)
        editor.open_file("notes.txt")
        await wait_until(pilot, lambda: isinstance(app.focused, CodeEditor), "the file's buffer to have focus")
        await pilot.press("alt+0")
        await to_list(pilot, app)
        await reopen(pilot, app, box)
        await pilot.press("alt+2")
        await wait_until(pilot, lambda: isinstance(app.focused, CodeEditor), "the buffer to have focus",
                         show=lambda: repr(app.focused))
        await pilot.press("X")
        assert editor.has_unsaved() == ["notes.txt"]
        assert editor.active_editor is not None and editor.active_editor.text.startswith("X")


def _dialog_error(app: SandbenchApp) -> str:
    return str(app.screen.query_one("#error", Static).render())


async def test_the_workspace_snapshot_dialog_keeps_a_rejected_name_and_offers_a_free_one(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    await service.snapshot(box.id, "box-snap")  # the default name is taken already
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await workspace(pilot, app)
        await wait_until(pilot, lambda: screen.focused_pane == "editor")
        await pilot.press("shift+f5")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog), "the snapshot dialog")
        dialog = app.screen
        field = dialog.query_one("#value", Input)
        assert field.value == "box-snap-2"  # not the taken box-snap
        field.value = "bad/name"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "working" not in _dialog_error(app) and _dialog_error(app), "the error")
        assert app.screen is dialog, "a rejected name closed the dialog"
        assert field.value == "bad/name"  # kept, to fix
        assert "bad/name" not in " ".join(n for n in notifications(app) if "saved" in n)
        field.value = "fixed-name"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen, "the dialog to close once the snapshot is taken")
        await wait_until(pilot, lambda: any("fixed-name" in n and "saved" in n for n in notifications(app)))
        assert "fixed-name" in {s.name for s in await service.list_snapshots()}

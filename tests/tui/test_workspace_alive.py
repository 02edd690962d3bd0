"""A workspace lives in the background (issue 11 §1): Esc never leaves it, going back to the list ends nothing and
reopening shows the same shells and buffers, and ending it on purpose (or stopping its sandbox) says what ends
first. The real app, real panes, a real sandbox shell.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from services.config import Config
from services.models import SandboxInfo, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import shown, wait_until
from tests.tui.conftest import fixed_clock, workspace_up
from tests.tui.test_terminal_app import open_terminal, type_text
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.dialogs import ChoiceDialog
from widgets.editor import EditorTabs
from widgets.terminal import TerminalPane
from widgets.unsaved_dialog import UnsavedDialog

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]


def dialog_text(app: SandbenchApp) -> str:
    return "\n".join(str(line.render()) for line in app.screen.query(".dialog-message").results(Static))


async def focus(pilot: Pilot[Any], screen: WorkspaceScreen, key: str, pane: str) -> None:
    await pilot.press(key)
    await wait_until(pilot, lambda: screen.focused_pane == pane)


async def to_list(pilot: Pilot[Any], app: SandbenchApp) -> SandboxListScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))
    assert isinstance(app.screen, SandboxListScreen)
    return app.screen


async def reopen(pilot: Pilot[Any], app: SandbenchApp, info: SandboxInfo) -> WorkspaceScreen:
    listing = await to_list(pilot, app)
    table = listing.table
    table.move_cursor(row=table.get_row_index(info.id), animate=False)
    await pilot.press("enter")
    await wait_until(pilot, lambda: workspace_up(app))
    assert isinstance(app.screen, WorkspaceScreen)
    return app.screen


async def test_esc_stays_and_the_list_and_back_keeps_the_same_shell(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        await type_text(pilot, "X=42; sleep 1000 &\n")
        await wait_until(pilot, lambda: "[1]" in shown(view))

        # escape in every other pane stays in the workspace (vim's escape in the terminal goes to the shell)
        await pilot.press("ctrl+right_square_bracket")  # out of the shell, whose keys are all the program's
        for key, pane in (("alt+1", "explorer"), ("alt+2", "editor"), ("alt+4", "git")):
            await focus(pilot, screen, key, pane)
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert app.screen is screen, f"escape in the {pane} left the workspace"

        # in the terminal the back key is the shell's; from its tab bar (ctrl+]) it goes to the list
        await focus(pilot, screen, "alt+3", "terminal")
        await wait_until(pilot, lambda: view.has_focus)
        await pilot.press("alt+0")
        await pilot.pause(0.1)
        assert app.screen is screen
        await pilot.press("ctrl+c")  # the shell read ESC 0 as a readline argument: clear it
        await pilot.press("ctrl+right_square_bracket", "alt+0")
        listing = await to_list(pilot, app)
        assert listing.table.row_text(box.id)["name"].startswith("◆ ")  # its workspace is alive
        assert "workspace open" in str(listing.query_one("#list-detail", Static).render())

        again = await reopen(pilot, app, box)
        assert again is screen  # the same screen, panes and all
        pane = again.query_one(TerminalPane)
        assert pane.active_view is view and view.session is not None
        await focus(pilot, again, "alt+3", "terminal")
        await wait_until(pilot, lambda: view.has_focus)
        await type_text(pilot, "echo X=$X; jobs\n")
        await wait_until(pilot, lambda: "X=42" in shown(view) and "sleep 1000" in shown(view), timeout=20)


async def test_an_unsaved_buffer_survives_the_list_and_quitting_saves_it(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    await service.write_file(box.id, "notes.txt", b"one\n")
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: workspace_up(app))
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        editor = screen.query_one(EditorTabs)
        editor.open_file("notes.txt")
        await wait_until(pilot, lambda: editor.active_editor is not None and editor.active_editor.text == "one\n")
        code = editor.active_editor
        assert code is not None
        code.focus()
        await pilot.press("z", "z")
        assert editor.has_unsaved() == ["notes.txt"]

        await pilot.press("escape")  # stays (the editor moves focus on, as a TextArea that indents with tab does)
        await pilot.pause(0.1)
        assert app.screen is screen
        code.focus()
        await wait_until(pilot, lambda: code.has_focus)
        await pilot.press("alt+0")  # nothing is lost by going back, so nothing asks
        await to_list(pilot, app)
        again = await reopen(pilot, app, box)
        assert again is screen
        await wait_until(pilot, lambda: code.has_focus)  # focus comes back where it was
        assert code.text == "zzone\n" and editor.has_unsaved() == ["notes.txt"]
        assert (await service.read_file(box.id, "notes.txt")).data == b"one\n"

        # quitting from the list with the buffer in the background asks, and Save all saves it
        await pilot.press("alt+0")
        await to_list(pilot, app)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        assert "notes.txt" in dialog_text(app)
        await pilot.press("enter")  # Save all (focused first)
        await wait_until(pilot, lambda: not app.is_running)
    assert app.return_value == 0
    assert (await service.read_file(box.id, "notes.txt")).data == b"zzone\n"


async def test_closing_a_workspace_says_what_ends_then_ends_its_terminals(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        await type_text(pilot, "sleep 1000\n")  # in the foreground: the dialog names it
        session = view.session
        assert session is not None
        await pilot.press("ctrl+right_square_bracket", "alt+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        assert "Close workspace of box: ends 1 terminal (1 running sleep)" in dialog_text(app)
        await pilot.press("escape")  # cancel: nothing ends
        await wait_until(pilot, lambda: app.screen is screen)
        assert view.session is session and session.exit_code is None

        await pilot.press("ctrl+right_square_bracket", "alt+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("enter")  # Close
        listing = await to_list(pilot, app)
        await wait_until(pilot, lambda: session.exit_code is not None)  # the shell (and its sleep) ended
        assert app.workspaces.get(box.id) is None
        await wait_until(pilot, lambda: not listing.table.row_text(box.id)["name"].startswith("◆"))
        fresh = await reopen(pilot, app, box)
        assert fresh is not screen  # a new workspace: the old one is gone


async def test_stopping_a_sandbox_with_a_live_workspace_says_what_ends(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        session = view.session
        assert session is not None
        await pilot.press("ctrl+right_square_bracket", "alt+0")
        listing = await to_list(pilot, app)
        await wait_until(pilot, lambda: listing.loaded)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        assert "Its open workspace ends too: ends 1 terminal" in dialog_text(app)
        await pilot.press("escape")  # cancel: nothing stops, nothing ends
        await wait_until(pilot, lambda: app.screen is listing)
        assert (await service.get(box.id)).state is SandboxState.STARTED
        assert app.workspaces.get(box.id) is not None and session.exit_code is None

        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        await pilot.press("enter")  # Stop
        await wait_until(
            pilot, lambda: (listing.table.get_info(box.id) or box).state is SandboxState.STOPPED, timeout=30
        )
        assert app.workspaces.get(box.id) is None and session.exit_code is not None

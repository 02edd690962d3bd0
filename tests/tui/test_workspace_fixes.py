"""Defects a new user hit in the workspace, editor and git panel at 80x24 (notes s3/fixws): each test drives the
real app (real panes, a real sandbox) the way the user did and checks what they would see."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent

from services.config import Config
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import fixed_clock, notifications, palette_prompts, run_from_palette, workspace_up
from tests.tui.test_terminal_app import open_terminal
from tests.tui.test_workspace_alive import reopen, to_list
from tests.tui.test_workspace_layout import footer_entries
from tui.app import SandbenchApp
from tui.registry import help_groups
from tui.screens.workspace import WorkspaceScreen
from widgets.dialogs import InputDialog
from widgets.editor import EditorTabs
from widgets.editor.text_area import CodeEditor
from widgets.pane_tabs import PaneTabs

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]


async def workspace(pilot: Pilot[Any], app: SandbenchApp) -> WorkspaceScreen:
    await wait_until(pilot, lambda: workspace_up(app))
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
        await wait_until(
            pilot,
            lambda: isinstance(app.focused, CodeEditor),
            "the buffer to have focus",
            show=lambda: repr(app.focused),
        )
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


async def settle_footer(pilot: Pilot[Any], app: SandbenchApp, cond: Callable[[list[str]], bool]) -> list[str]:
    """The footer's descriptions once `cond` holds; a frame caught mid-rebuild (an entry not yet on the row)
    counts as not yet."""
    seen: list[str] = []

    def ready() -> bool:
        nonlocal seen
        try:
            seen = [d for _, d in footer_entries(app)]
        except AssertionError:
            return False
        return cond(seen)

    await wait_until(pilot, ready, "the footer", show=lambda: repr(seen))
    return seen


def _tab_label(editor: EditorTabs, path: str) -> Content:
    buf = editor.buffer(path)
    assert buf is not None
    return editor.query_one("#editor-tabs", TabbedContent).get_tab(buf.pane_id).label


async def _open(pilot: Pilot[Any], editor: EditorTabs, path: str) -> None:
    editor.open_file(path)
    await wait_until(pilot, lambda: editor.active_path == path, f"{path} open in the editor")


async def test_the_find_bar_shows_its_keys_and_a_read_only_view_no_save(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    await service.write_file(box.id, "notes.txt", b"one two one\n")
    await service.write_file(box.id, "blob.bin", bytes(range(256)) * 4)
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await workspace(pilot, app)
        editor = screen.query_one(EditorTabs)
        await _open(pilot, editor, "notes.txt")
        await wait_until(pilot, lambda: isinstance(app.focused, CodeEditor))
        assert "Save" in await settle_footer(pilot, app, lambda d: "Save" in d)
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), "the find field")
        finding = await settle_footer(pilot, app, lambda d: "Close find" in d)
        # the bar's own keys, and nothing else fits beside them at 80 columns
        assert set(finding[:4]) == {"Next match", "Find next", "Find prev", "Close find"}, finding
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.focused, CodeEditor))

        await _open(pilot, editor, "blob.bin")
        await wait_until(pilot, lambda: editor.active_editor is not None and editor.active_editor.has_focus)
        viewing = await settle_footer(pilot, app, lambda d: "Close tab" in d and "Save" not in d)
        assert "Save" not in viewing and "Replace" not in viewing, viewing


async def test_a_read_only_view_offers_no_undo_and_ctrl_z_there_says_why(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    """Undo and Redo are listed for a file being edited, not for a read-only view (a binary file); ctrl+z and
    ctrl+y there say why nothing happened, as ctrl+s does."""
    await service.write_file(box.id, "notes.txt", b"one\n")
    await service.write_file(box.id, "blob.bin", bytes(range(256)) * 4)
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await workspace(pilot, app)
        editor = screen.query_one(EditorTabs)
        await _open(pilot, editor, "notes.txt")
        await wait_until(pilot, lambda: isinstance(app.focused, CodeEditor))
        editing = await settle_footer(pilot, app, lambda d: "Save" in d)
        assert "Undo" in editing and "Redo" in editing, editing  # they fit: their absence below is not width

        await _open(pilot, editor, "blob.bin")
        await wait_until(pilot, lambda: editor.active_editor is not None and editor.active_editor.has_focus)
        viewing = await settle_footer(pilot, app, lambda d: "Close tab" in d and "Save" not in d)
        assert "Undo" not in viewing and "Redo" not in viewing, viewing
        await pilot.press("ctrl+z")
        await wait_until(pilot, lambda: "blob.bin is open read-only: nothing to undo" in notifications(app))
        await pilot.press("ctrl+y")
        await wait_until(pilot, lambda: "blob.bin is open read-only: nothing to redo" in notifications(app))


async def test_tab_titles_show_a_newline_and_mark_a_file_deleted_on_disk(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    await service.write_file(box.id, "new\nline", b"odd name\n")
    await service.write_file(box.id, "gone.txt", b"soon deleted\n")
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await workspace(pilot, app)
        editor = screen.query_one(EditorTabs)
        await _open(pilot, editor, "new\nline")
        assert _tab_label(editor, "new\nline").plain == "new\\nline"  # as the explorer shows it, not cut at \n

        await _open(pilot, editor, "gone.txt")
        await _open(pilot, editor, "new\nline")  # gone.txt's tab is in the background, not viewed
        await wait_until(pilot, lambda: screen.watch_hub.running, "the workspace watcher")
        await service.delete_path(box.id, "gone.txt")

        def struck() -> bool:
            return any("strike" in str(span.style) for span in _tab_label(editor, "gone.txt").spans)

        await wait_until(pilot, struck, "gone.txt's tab struck through", timeout=20)
        assert editor.active_path == "new\nline"  # marked without being viewed
        await service.write_file(box.id, "gone.txt", b"back again\n")  # recreated on disk: the mark goes
        await wait_until(pilot, lambda: not struck(), "the mark gone once the file is back", timeout=20)


async def test_help_lists_every_key_once_with_what_it_does(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await workspace(pilot, app)
        groups = dict(help_groups(screen))
        rows = {
            title: {(e.keys_label, e.key.description): e.key.tooltip for e in entries}
            for title, entries in groups.items()
        }
        assert ("Enter", "Switch") in rows["Git: branches"]
        dialog = rows["Dialogs"]
        assert dialog[("y", "Yes")] and dialog[("n", "No")]  # each says what it does
        assert ("N", "New folder") in rows["Explorer"]  # not "N, shift+n": one key
        assert ("ctrl+F9", "Take checkpoint") in rows["Workspace"]


async def test_the_palette_finds_take_checkpoint_and_restore_from_the_workspace(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await workspace(pilot, app)
        await wait_until(pilot, lambda: screen.focused_pane == "editor")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"restore")
        await wait_until(
            pilot,
            lambda: any(p.startswith("Checkpoints") for p in palette_prompts(app)),
            "restore to find the checkpoint tree",
            show=lambda: repr(palette_prompts(app)),
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)

        await run_from_palette(pilot, app, "take checkpoint", "Take checkpoint")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog), "the checkpoint dialog")
        app.screen.query_one("#value", Input).value = "before the refactor"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen, "the checkpoint taken")
        taken, _ = await service.checkpoints.list_checkpoints(box.id)
        assert any(c.message == "before the refactor" for c in taken)


async def test_in_a_terminal_the_pane_tabs_say_to_leave_it_first(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_terminal(pilot, app)
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        tabs = screen.query_one(PaneTabs)
        # alt+1..4 and alt+0 are the program's here (bash: a readline argument): the row says how to reach them
        await wait_until(pilot, lambda: "^] first" in tabs.hint, "the pane tabs' hint", show=lambda: tabs.hint)
        await pilot.press("ctrl+right_square_bracket")
        await wait_until(pilot, lambda: app.focused is not view and "first" not in tabs.hint, show=lambda: tabs.hint)
        assert "next" in tabs.hint  # the tab bar: the pane keys work, the usual hint is back


async def test_pane_jumps_marked_for_the_terminal_keep_the_usual_hint(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    keymap = {"terminal:workspace.focus_explorer": "alt+1"}
    app = SandbenchApp(service, dataclasses.replace(config, keymap=keymap), clock=fixed_clock, open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_terminal(pilot, app)
        tabs = app.screen.query_one(PaneTabs)
        await pilot.pause()
        assert app.focused is view and "first" not in tabs.hint

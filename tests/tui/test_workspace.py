"""Pilot tests of the workspace screen and the app-wide keys: open, back, `sandbench open`, panes, help, palette,
key map, quit. Layout tests pin the placeholders (tests/tui/placeholders.py); others use the real panes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from textual.command import CommandPalette
from textual.widgets import OptionList, Static

from services.config import Config
from services.models import SandboxInfo, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, fixed_clock, notifications, open_workspace, run_from_palette, workspace_up
from tui.app import SandbenchApp
from tui.screens.help import HelpScreen
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.create_dialog import CreateDialog
from widgets.dialogs import InputDialog
from widgets.editor import EditorTabs
from widgets.explorer import Explorer
from widgets.status_bar import StatusBar
from widgets.unsaved_dialog import UnsavedDialog


async def test_open_and_back(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app()  # the real panes, where they have landed: they must mount and take focus in this layout
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_workspace(pilot, app)
        assert screen.info.id == box.id
        for pane in ("explorer", "editor", "terminal", "git"):
            assert screen.query_one(f"#{pane}") is not None
        status = screen.query_one(StatusBar)
        assert (status.provider, status.sandbox, status.state) == ("local", "box", "started")
        await pilot.press("escape")  # escape belongs to the panes: it never leaves the workspace
        await pilot.pause(0.1)
        assert app.screen is screen
        await pilot.press("alt+0")
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))


async def test_open_stopped_sandbox_starts_it_and_says_so(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    await service.stop(box.id)
    real_start = service.provider.start
    release = asyncio.Event()

    async def held_start(sandbox_id: str) -> SandboxInfo:
        await release.wait()  # hold the start until the test has seen "starting…"
        return await real_start(sandbox_id)

    monkeypatch.setattr(service.provider, "start", held_start)
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        await pilot.press("enter")
        await wait_until(pilot, lambda: workspace_up(app))
        status = app.screen.query_one(StatusBar)
        # the work line and the state come in separate updates: both show while the start is held
        await wait_until(pilot, lambda: any("starting box" in w for w in status.work) and status.state == "starting")
        release.set()
        await wait_until(pilot, lambda: status.state == "started" and not status.work)
    assert (await service.get(box.id)).state is SandboxState.STARTED


async def test_sandbench_open_skips_the_list(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app(open_name="box", panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: workspace_up(app))
        assert app.screen.info.id == box.id  # type: ignore[attr-defined]
        await pilot.press("alt+0")  # the list is underneath
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))


async def test_sandbench_open_unknown_name(make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app(open_name="nope")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: any("no sandbox 'nope'" in n for n in notifications(app)))
        assert isinstance(app.screen, SandboxListScreen)


async def test_pane_keys_focus_maximise_resize_collapse(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_workspace(pilot, app)
        for key, pane in (("alt+1", "explorer"), ("alt+3", "terminal"), ("alt+4", "git"), ("alt+2", "editor")):
            await pilot.press(key)
            await wait_until(pilot, lambda pane=pane: screen.focused_pane == pane)  # type: ignore[misc]
        await pilot.press("f6")
        await wait_until(pilot, lambda: screen.focused_pane == "terminal")
        await pilot.press("shift+f6")
        await wait_until(pilot, lambda: screen.focused_pane == "editor")

        await pilot.press("alt+3")
        await wait_until(pilot, lambda: screen.focused_pane == "terminal")
        await pilot.press("f11")
        await wait_until(pilot, lambda: screen.maximized is screen.frame("terminal"))
        await pilot.pause()
        # the zoomed pane takes the whole screen but the status bar and footer (2 rows), whatever its own size
        assert screen.frame("terminal").outer_size == (160, 38)
        await pilot.press("f11")
        assert screen.maximized is None
        await pilot.press("alt+m")  # the second key, for terminals that keep f11
        assert screen.maximized is screen.frame("terminal")
        await pilot.press("alt+1")  # jumping to another pane restores the layout
        await wait_until(pilot, lambda: screen.focused_pane == "explorer")
        assert screen.maximized is None

        explorer = screen.frame("explorer")
        before = explorer.outer_size.width
        await pilot.press("alt+right")
        await pilot.pause()
        assert explorer.outer_size.width == before + 4
        terminal = screen.frame("terminal")
        height = terminal.outer_size.height
        await pilot.press("alt+up")
        await pilot.pause()
        assert terminal.outer_size.height == height + 2

        await pilot.press("alt+e")  # collapse the focused explorer: focus moves to the editor
        await wait_until(pilot, lambda: screen.focused_pane == "editor")
        assert not explorer.display or explorer.has_class("-collapsed")
        await pilot.press("alt+1")  # focusing a collapsed pane brings it back
        await wait_until(pilot, lambda: screen.focused_pane == "explorer")
        assert not explorer.has_class("-collapsed")


async def test_narrow_folds_git_into_a_tab(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_workspace(pilot, app)
        assert screen.narrow
        assert screen.pane_visible("editor") and not screen.pane_visible("git")
        await pilot.press("alt+4")
        await wait_until(pilot, lambda: screen.focused_pane == "git")
        assert screen.pane_visible("git") and not screen.pane_visible("editor")
        await pilot.press("alt+2")
        await wait_until(pilot, lambda: screen.focused_pane == "editor")
        await pilot.resize_terminal(160, 40)
        await wait_until(pilot, lambda: not screen.narrow)
        assert screen.pane_visible("git") and screen.pane_visible("editor")


async def test_help_screen_lists_every_key_grouped(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_workspace(pilot, app)
        await pilot.press("alt+3", "f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        titles = [t for t, _ in help_screen.groups]
        assert titles[0] == "Terminal"  # the focused pane's group first, by the name people know
        assert {"Explorer", "Editor", "Git", "Workspace", "App"} <= set(titles)
        everything = {e.id for _, rows in help_screen.groups for e in rows}
        assert {"workspace.maximize", "workspace.focus_git", "app.quit", "workspace.back"} <= everything
        tooltips = {e.key.tooltip for _, rows in help_screen.groups for e in rows}
        assert "Maximise the focused pane, or restore the layout" in tooltips
        await pilot.press("escape")
        assert isinstance(app.screen, WorkspaceScreen)


async def test_palette_lists_every_panes_commands(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_workspace(pilot, app)
        await pilot.press("alt+3")
        await wait_until(pilot, lambda: screen.focused_pane == "terminal")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        options = app.screen.query_one(OptionList)
        await wait_until(pilot, lambda: options.option_count > 5)
        prompts = {str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)}
        prompts = {p.split("  ")[0] for p in prompts}  # the title, without its key
        assert "New terminal" in prompts  # the focused pane's own binding
        assert {"Zoom", "Sandbox list", "Close workspace", "Next pane", "Quit", "Help"} <= prompts  # screen, app
        assert {"Find", "Commit", "Snapshot", "Find file", "Run file"} <= prompts  # other panes' and the workspace's
        await pilot.press("escape")


async def test_palette_runs_the_command(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_workspace(pilot, app)
        await run_from_palette(pilot, app, "zoom", "Zoom")
        await wait_until(pilot, lambda: screen.maximized is screen.frame("editor"))


async def test_keymap_from_config_rebinds(service: SandboxService, config: Config, box: SandboxInfo) -> None:
    cfg = dataclasses.replace(config, keymap={"list.create": "f2", "workspace.maximize": "f9"})
    app = SandbenchApp(service, cfg, clock=fixed_clock, panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert isinstance(app.screen, SandboxListScreen)  # the old key is gone
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog))
        await pilot.press("escape")
        screen = await open_workspace(pilot, app)
        await pilot.press("f11")
        assert screen.maximized is None
        await pilot.press("f9")
        assert screen.maximized is not None


async def test_quit_without_unsaved_work(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_workspace(pilot, app)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_value == 0


async def test_quit_asks_when_work_is_unsaved_and_leaving_does_not(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_workspace(pilot, app)
        screen.query_one("#editor").has_unsaved = lambda: ["src/main.py"]  # type: ignore[attr-defined]
        await pilot.press("alt+0")  # back to the list loses nothing, so it does not ask
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))
        await pilot.press("ctrl+q")  # the unsaved buffer is in a workspace in the background: quitting asks
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        assert "src/main.py" in str(app.screen.query_one(".dialog-message", Static).render())
        await pilot.press("escape")  # don't quit
        assert isinstance(app.screen, SandboxListScreen) and app.is_running
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("d")  # Discard
        await pilot.pause()
    assert app.return_value == 0


async def test_theme_from_config(service: SandboxService, config: Config) -> None:
    app = SandbenchApp(service, dataclasses.replace(config, theme="textual-light"), clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "textual-light"


async def test_copy_uses_the_clipboard(box: SandboxInfo, make_app: Callable[..., SandbenchApp]) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        await pilot.press("c")
        assert app.clipboard == box.id  # App.copy_to_clipboard: OSC 52 to the terminal, works over SSH


def test_escape_digit_from_a_terminal_is_alt_digit_not_a_pound_sign() -> None:
    """Terminals send alt+3 as ESC 3; it must reach the pane-jump binding, not type '£' into the editor."""
    from textual._xterm_parser import XTermParser

    import tui.app  # noqa: F401  (importing the app installs the decoding)

    for digit in "1234":
        parser = XTermParser()
        keys = [e.key for e in [*parser.feed(f"\x1b{digit}"), *parser.feed("")] if hasattr(e, "key")]
        assert keys == [f"alt+{digit}"]


async def test_new_file_from_the_explorer_opens_in_the_editor(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes={"terminal": PLACEHOLDERS["terminal"], "git": PLACEHOLDERS["git"]})
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_workspace(pilot, app)
        explorer = screen.query_one(Explorer)
        explorer.focus()
        await wait_until(pilot, lambda: not explorer.is_loading)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        await pilot.press(*"src/main.py", "enter")
        tabs = screen.query_one(EditorTabs)
        await wait_until(pilot, lambda: tabs.active_path == "src/main.py")
        buf = tabs.buffer("src/main.py")
        assert buf is not None
        await wait_until(pilot, lambda: app.focused is buf.editor)
        await pilot.press(*"print(1)", "ctrl+s")  # typed straight into the new file, saved with its final newline
        await wait_until(pilot, lambda: not tabs.has_unsaved())
        assert (await service.read_file(box.id, "src/main.py")).data == b"print(1)\n"

"""Pilot tests of issue 11 §4 on the real panes: the palette lists every command of the app (grouped, with keys,
no cursor movement) and runs one whose pane is not focused; F5 runs the current file in a reused ▶ tab, file
names passed as themselves; the fuzzy finder opens from every pane."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.command import CommandPalette
from textual.widgets import OptionList

from services.models import SandboxInfo, SandboxSpec
from services.run_file import CannotRun, plan
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import notifications, palette_prompts, run_from_palette, workspace_up
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.dialogs import InputDialog
from widgets.fuzzy_finder import FuzzyFinder
from widgets.git.dialogs import CommitDialog


async def _open(pilot: Any, app: SandbenchApp, service: SandboxService, files: dict[str, bytes]) -> WorkspaceScreen:
    box: SandboxInfo = (await service.list_sandboxes())[0]
    for path, data in files.items():
        if "/" in path:
            await service.mkdir(box.id, path.rsplit("/", 1)[0], parents=True)
        await service.write_file(box.id, path, data)
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    await pilot.press("enter")
    await wait_until(pilot, lambda: workspace_up(app))
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    await wait_until(pilot, lambda: screen.focused_pane == "editor")
    return screen


async def _edit(pilot: Any, screen: WorkspaceScreen, path: str) -> Any:
    editor: Any = screen.pane_widget("editor")
    editor.open_file(path)
    await wait_until(pilot, lambda: editor.active_path == path and editor.active_editor is not None)
    editor.active_editor.focus()
    await wait_until(pilot, lambda: screen.focused_pane == "editor")
    return editor


async def test_palette_from_the_editor_lists_every_command_grouped_with_keys(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="box"))
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, app, service, {"main.py": b"print(1)\n"})
        await _edit(pilot, screen, "main.py")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await wait_until(pilot, lambda: app.screen.query_one(OptionList).option_count > 40)
        prompts = palette_prompts(app)
        titles = {p.split("\n")[0].split("  ")[0] for p in prompts}
        # every pane's and the workspace's, not only the editor's
        # (not a repository yet: the git panel offers Init repo; Commit applies once it is one, tested below)
        wanted = {"Snapshot", "Init repo", "New terminal", "Stop sandbox", "Doctor", "Find file", "Run file", "Rename"}
        assert wanted <= titles, wanted - titles
        assert {"Save", "Undo", "Zoom", "Quit", "Help"} <= titles
        # cursor movement is not a command
        assert not titles & {"Up", "Down", "Page up", "Page down", "Left", "Right", "Line end", "First", "Last"}
        # each with its key and its group
        snapshot = next(p for p in prompts if p.startswith("Snapshot"))
        assert "shift+F5" in snapshot and "Workspace" in snapshot
        init = next(p for p in prompts if p.startswith("Init repo"))
        assert "  i" in init and "Git" in init
        # the focused pane's group comes first
        assert prompts[0].split("\n")[-1].startswith("Editor")


async def test_snapshot_from_the_editors_palette_snapshots_the_sandbox(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="box"))
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, app, service, {"main.py": b"print(1)\n"})
        await _edit(pilot, screen, "main.py")
        await run_from_palette(pilot, app, "snapshot", "Snapshot")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog))
        await pilot.press("enter")  # the proposed name, box-snap
        await wait_until(pilot, lambda: any("snapshot box-snap of box saved" in n for n in notifications(app)))
        assert "box-snap" in {s.name for s in await service.list_snapshots()}


async def test_commit_from_the_editors_palette_opens_the_git_panels_commit_box(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    box = await service.create(SandboxSpec(name="box"))
    await service.write_file(box.id, "main.py", b"print(1)\n")
    for argv in (["git", "init", "-q"], ["git", "add", "main.py"]):
        assert (await service.exec(box.id, argv)).exit_code == 0
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, app, service, {})
        git: Any = screen.pane_widget("git")
        await wait_until(pilot, lambda: git.status is not None and bool(git.status.staged))
        await _edit(pilot, screen, "main.py")
        await run_from_palette(pilot, app, "commit", "Commit")
        await wait_until(pilot, lambda: isinstance(app.screen, CommitDialog))
        assert type(app.screen.focused).__name__ == "TextArea"  # the commit box has the keyboard
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen and screen.focused_pane == "git")


async def test_f5_runs_the_file_in_a_reused_tab_and_shows_the_exit_code(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="box"))
    app = make_app()
    files = {
        "main.py": b"import sys\nprint('ran', sys.argv[0])\nsys.exit(3)\n",
        "$(touch pwned).py": b"print('dollar file ran')\n",
        "-x.py": b"print('dash file ran')\n",
        "notes.txt": b"hello\n",
    }
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, app, service, files)
        terminal: Any = screen.pane_widget("terminal")
        await wait_until(pilot, lambda: bool(terminal.views))
        shells = len(terminal.views)
        editor = await _edit(pilot, screen, "main.py")
        editor.active_editor.insert("# unsaved\n", (0, 0))
        await pilot.press("f5")
        await wait_until(pilot, lambda: terminal.run_view is not None and terminal.run_view.exited, timeout=20)
        view = terminal.run_view
        assert view.exit_code == 3
        assert terminal.label_for(view) == "▶ main.py [exit 3]"
        assert "ran ./main.py" in "\n".join(view.screen_model.display())
        assert editor.has_unsaved() == []  # saved first
        assert (await service.read_file(screen.info.id, "main.py")).data.startswith(b"# unsaved\n")
        assert len(terminal.views) == shells + 1
        for name, _said in (("$(touch pwned).py", "dollar file ran"), ("-x.py", "dash file ran")):
            await _edit(pilot, screen, name)
            await pilot.press("f5")
            await wait_until(pilot, lambda name=name: terminal.label_for(view) == f"▶ {name} [exit 0]", timeout=20)  # type: ignore[misc]
            assert terminal.run_view is view and len(terminal.views) == shells + 1  # the same tab, reused
        names = {e.name for e in await service.list_dir(screen.info.id, "")}
        assert "pwned" not in names  # the name was never read by a shell
        await _edit(pilot, screen, "notes.txt")
        await pilot.press("f5")
        await wait_until(pilot, lambda: any("no runner for notes.txt" in n for n in notifications(app)))


def test_run_plans_by_language_and_makefile() -> None:
    assert plan("a/main.py").argv == ("python3", "./a/main.py")
    assert plan("app.js").argv == ("node", "./app.js")
    assert plan("x.sh", "#!/bin/bash").argv == ("bash", "./x.sh")
    assert plan("x.sh").argv == ("sh", "./x.sh")
    assert plan("tool", "#!/usr/bin/env python3").argv == ("python3", "./tool")
    assert plan("sub/Makefile").argv == ("make", "-f", "Makefile") and plan("sub/Makefile").cwd == "sub"
    assert plan("main.c", "", "").argv == ("make",)
    run = plan("-x.py")
    assert run.env() == {"SANDBENCH_RUN_0": "python3", "SANDBENCH_RUN_1": "./-x.py"}
    assert run.typed_line() == b' exec "$SANDBENCH_RUN_0" "$SANDBENCH_RUN_1"\r'  # no data in what is typed
    for bad in ("main.c", "a\x03b.py"):
        try:
            plan(bad)
        except CannotRun:
            continue
        raise AssertionError(bad)


async def test_fuzzy_finder_opens_from_every_pane(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="box"))
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, app, service, {"src/deep/module_name.py": b"x = 1\n"})
        editor: Any = screen.pane_widget("editor")
        for keys, pane in ((["alt+1"], "explorer"), (["alt+2"], "editor"), (["alt+4"], "git")):
            await pilot.press(*keys)
            await wait_until(pilot, lambda pane=pane: screen.focused_pane == pane)  # type: ignore[misc]
            await pilot.press("ctrl+o")
            await wait_until(pilot, lambda: isinstance(app.screen, FuzzyFinder))
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen)
        # the terminal gives every key to the program: ctrl+] first, then the app's keys reach
        await pilot.press("alt+3")
        await wait_until(pilot, lambda: screen.focused_pane == "terminal")
        await pilot.press("ctrl+right_square_bracket", "ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, FuzzyFinder))
        finder = app.screen
        assert isinstance(finder, FuzzyFinder)
        await wait_until(pilot, lambda: finder.matcher is not None)
        await pilot.press(*"mdnm")
        await wait_until(pilot, lambda: bool(finder.results))
        await pilot.press("enter")
        await wait_until(pilot, lambda: editor.active_path == "src/deep/module_name.py")

"""Snapshots of every dialog over the real workspace (issue 15), at 80x24 and 160x48: create sandbox (from the
list), the commit message with a refused commit's inline error (a real pre-commit hook inside the sandbox says no;
80x24 only), unsaved changes (Save all / Discard / Cancel), the confirmations (delete a file, close the workspace), the
finder (ctrl+o) with results, and the command palette. Deterministic as tests/tui/snap_real.py says. Update with
`pytest tests/tui/test_snapshots_dialogs.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static, TextArea

from services.config import Config
from tests.conftest import wait_until
from tests.tui.conftest import palette_prompts
from tests.tui.snap_real import (
    COMMITTED,
    MAIN_PY,
    SIZE_IDS,
    SIZES,
    cleanup,
    focus,
    make_app,
    open_in_editor,
    ready,
    seed,
    workspace,
)
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.editor import EditorTabs
from widgets.explorer import Explorer
from widgets.status_bar import StatusBar

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

HOOK = (
    "printf '#!/bin/sh\\necho \"pre-commit: staged.py has a debug print on line 1\" >&2\\nexit 1\\n'"
    " > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit"
)
SCRIPT = (
    "mkdir -p src && printf 'x = 1\\n' > src/util.py && printf '# demo\\n' > README.md && "
    + COMMITTED
    + " && printf 'print(1)\\n' > staged.py && git add staged.py && "
    + HOOK
)
Steps = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture
def project(config: Config) -> Iterator[Config]:
    seed(config, SCRIPT, files={"main.py": MAIN_PY})
    yield config
    cleanup(config)


def _text(static: Static) -> str:
    return str(static.render())


async def _dialog(pilot: Pilot[Any], kind: str) -> None:
    await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == kind, f"the {kind}")
    await pilot.pause()


def _snap(snap_compare: Any, config: Config, size: tuple[int, int], steps: Steps) -> bool:
    async def run_before(pilot: Pilot[Any]) -> None:
        await ready(pilot, marker=("staged.py", "A"))
        await steps(pilot)

    return bool(snap_compare(make_app(config), terminal_size=size, run_before=run_before))


async def _steady_cursors(pilot: Pilot[Any]) -> None:
    """Every text field of the screen with a steady cursor, set once focus has settled: a blinking cursor is drawn
    or not depending on when the frame is taken (the snapshots flipped between runs)."""
    fields = list(pilot.app.screen.query(Input)) + list(pilot.app.screen.query(TextArea))
    for field in fields:
        field.cursor_blink = False
    await pilot.pause()
    for field in fields:
        field.refresh()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_create_sandbox_dialog(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        await pilot.press("n")
        await _dialog(pilot, "CreateDialog")
        await _steady_cursors(pilot)

    assert snap_compare(make_app(project, open_name=None), terminal_size=size, run_before=run_before)


def test_commit_refused_by_a_hook(snap_compare: Any, project: Config) -> None:
    """The hook's refusal shown inline, the message kept. 80x24 only: at 160x48 about one run in sixteen drew a
    different frame after every wait here held (cause not found yet; reported with issue 15)."""
    size = (80, 24)

    async def steps(pilot: Pilot[Any]) -> None:
        await focus(pilot, "git")
        await pilot.press("c")
        await _dialog(pilot, "CommitDialog")
        dialog = pilot.app.screen
        dialog.query_one(TextArea).insert("Add the staged module\n\nIt prints one.")
        await pilot.press("ctrl+s")
        error = dialog.query_one("#error", Static)
        await wait_until(pilot, lambda: "debug print" in _text(error), "the hook's refusal", timeout=20)
        area = dialog.query_one(TextArea)
        # the message stays in the editor, which has the keyboard back once the refusal is shown
        await wait_until(pilot, lambda: area.has_focus, "the message to have focus again")
        await _steady_cursors(pilot)
        # and the commit's progress gone from the panel and the status bar (a spinner frame varies)
        ws = workspace(pilot)
        progress = ws.query_one("#git-progress")
        bar = ws.query_one(StatusBar)
        await wait_until(pilot, lambda: not bar.work and not progress.has_class("busy"), "the commit's progress over")
        await pilot.pause()

    assert _snap(snap_compare, project, size, steps)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_unsaved_changes_on_quit(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await open_in_editor(pilot, "main.py")
        await pilot.press("x")
        tabs = workspace(pilot).query_one(EditorTabs)
        await wait_until(pilot, lambda: tabs.has_unsaved() == ["main.py"])
        await pilot.press("ctrl+q")
        await _dialog(pilot, "UnsavedDialog")

    assert _snap(snap_compare, project, size, steps)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_confirm_delete(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        explorer = workspace(pilot).query_one(Explorer)
        await focus(pilot, "explorer")
        while explorer.cursor_entry is None or explorer.cursor_entry.name != "README.md":
            await pilot.press("down")
        await pilot.press("d")
        await _dialog(pilot, "ConfirmDialog")

    assert _snap(snap_compare, project, size, steps)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_confirm_close_workspace(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await pilot.press("alt+q")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "ChoiceDialog")
        await pilot.pause()

    assert _snap(snap_compare, project, size, steps)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_finder_with_results(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await pilot.press("ctrl+o")
        await _dialog(pilot, "FuzzyFinder")
        await pilot.press(*"py")
        options = pilot.app.screen.query_one(OptionList)
        await wait_until(pilot, lambda: options.option_count == 3, "the finder's three .py files", timeout=20)
        await pilot.pause()

    assert _snap(snap_compare, project, size, steps)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_palette(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def steps(pilot: Pilot[Any]) -> None:
        await focus(pilot, "git")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
        await pilot.press(*"stash")
        palette = pilot.app.screen
        app = pilot.app
        assert isinstance(app, SandbenchApp)

        def found() -> bool:
            searching = any(w.node is palette and w.is_running for w in pilot.app.workers)
            prompts = [p.split("\n")[0] for p in palette_prompts(app)]
            return not searching and {"Stashes  s", "Stash now  S"} <= set(prompts)

        await wait_until(pilot, found, "the palette's results", show=lambda: repr(palette_prompts(app)))
        await pilot.pause()

    assert _snap(snap_compare, project, size, steps)

"""Helpers for the app's Pilot tests: a fixed clock, waiting for conditions, building the app on the real service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import OptionList

from services.config import Config
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.placeholders import EditorPlaceholder, ExplorerPlaceholder, GitPlaceholder, TerminalPlaceholder
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen

NOW = datetime(2025, 1, 2, 12, 0, 0, tzinfo=UTC)
PLACEHOLDERS = {
    "explorer": ExplorerPlaceholder,
    "editor": EditorPlaceholder,
    "terminal": TerminalPlaceholder,
    "git": GitPlaceholder,
}


def fixed_clock() -> datetime:
    return NOW


# the git panel's tests (tests/widgets/test_git_panel*.py) still import the old name; one helper either way
wait_for = wait_until


def workspace_up(app: SandbenchApp) -> bool:
    """The app shows a workspace whose panes exist: a pushed screen is `app.screen` a few loop turns before it has
    composed and mounted them (a query then finds nothing)."""
    return isinstance(app.screen, WorkspaceScreen) and app.screen.is_mounted


async def open_workspace(pilot: Pilot[Any], app: SandbenchApp) -> WorkspaceScreen:
    """Open the list's selected sandbox and wait until its workspace has put focus in the editor."""
    await wait_for(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    await pilot.press("enter")
    await wait_for(pilot, lambda: workspace_up(app))
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    await wait_for(pilot, lambda: screen.focused_pane == "editor")
    return screen


def palette_prompts(app: SandbenchApp) -> list[str]:
    """The command palette's options as shown, in order (its search results stream in as they are found)."""
    options = app.screen.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def run_from_palette(pilot: Pilot[Any], app: SandbenchApp, typed: str, command: str) -> None:
    """Open the palette, type `typed`, and once the highlighted option is `command` (not before: results arrive
    while the search runs), choose it with enter."""
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*typed)

    def offered() -> bool:
        options = app.screen.query_one(OptionList)
        index = options.highlighted
        return index is not None and str(options.get_option_at_index(index).prompt).startswith(command)

    await wait_until(pilot, offered, f"the palette to offer {command!r}", show=lambda: repr(palette_prompts(app)))
    await pilot.press("enter")


def notifications(app: SandbenchApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    """An empty sandbox named `box` (what `SandbenchApp(open_name="box")` opens); a module that needs files in it
    defines its own `box`."""
    return await service.create(SandboxSpec(name="box"))


@pytest.fixture
def make_app(service: SandboxService, config: Config) -> Callable[..., SandbenchApp]:
    def make(**kwargs: object) -> SandbenchApp:
        kwargs.setdefault("clock", fixed_clock)
        return SandbenchApp(service, config, **kwargs)  # type: ignore[arg-type]

    return make

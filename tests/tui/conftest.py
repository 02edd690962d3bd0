"""Helpers for the app's Pilot tests: a fixed clock, waiting for conditions, building the app on the real service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from textual.pilot import Pilot

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


async def open_workspace(pilot: Pilot[Any], app: SandbenchApp) -> WorkspaceScreen:
    """Open the list's selected sandbox and wait until its workspace has put focus in the editor."""
    await wait_for(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, WorkspaceScreen))
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    await wait_for(pilot, lambda: screen.focused_pane == "editor")
    return screen


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

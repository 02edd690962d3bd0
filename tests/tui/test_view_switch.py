"""From one of the workspace's views, another view's key goes straight to that view (it did nothing until escape):
the real app on a real local sandbox, through Pilot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.models import SandboxInfo
from tests.conftest import wait_until
from tui.app import SandbenchApp
from tui.screens.changes import ChangesScreen
from tui.screens.checkpoints import CheckpointsScreen
from tui.screens.metrics import MetricsScreen
from tui.screens.processes import ProcessesScreen
from tui.screens.timeline import TimelineScreen

pytestmark = pytest.mark.bwrap


async def test_each_views_key_switches_to_it_from_another_view(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(open_name="box")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: type(app.screen).__name__ == "WorkspaceScreen")
        workspace = app.screen
        depth = len(app.screen_stack)
        await pilot.press("shift+f12")
        await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen))
        for key, view in [
            ("shift+f4", ProcessesScreen),
            ("shift+f12", TimelineScreen),  # from Processes (whose f9 is kill)
            ("f9", ChangesScreen),
            ("shift+f9", CheckpointsScreen),
            ("f10", MetricsScreen),
            ("shift+f4", ProcessesScreen),
        ]:
            await pilot.press(key)
            await wait_until(pilot, lambda v=view: isinstance(app.screen, v), f"{key} to {view.__name__}")
            # the view before it closed: one view over the workspace, never a pile of them
            assert len(app.screen_stack) == depth + 1 and app.screen_stack[-2] is workspace
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is workspace)

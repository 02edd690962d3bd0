"""Which bubblewrap enforces a local sandbox's isolation is shown wherever the level is, compact at 80 columns:
the sandbox list's detail line and the workspace's status bar (real app, real local provider, bundled bwrap)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets import Static

from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, workspace_up
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.status_bar import StatusBar

pytestmark = pytest.mark.bwrap


@pytest.fixture(autouse=True)
def bundled_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBENCH_BWRAP", "bundled")  # before the provider is made


async def test_list_and_status_bar_show_the_bwrap_in_force(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    box = await service.create(SandboxSpec(name="box"))
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        detail = app.screen.query_one("#list-detail", Static)
        await wait_until(pilot, lambda: "bwrap 0.11.0 (bundled)" in str(detail.render()))
        await pilot.press("enter")
        await wait_until(pilot, lambda: workspace_up(app))
        status = app.screen.query_one(StatusBar)
        line = status.render().plain
        assert f"isolation: {box.isolation} · bwrap 0.11.0 (bundled)" in line
        assert line.index("(bundled)") + len("(bundled)") <= 80  # not cut at 80 columns

"""The sandbox list's keys as a new user meets them at 80x24 and 160x48, on the real service (Pilot): the footer
says what the focused table does (⏎ Open, and w while the selected sandbox has a live workspace), and Home/End go
to the first and last row as PgUp/PgDn move a page, here and in the Processes view's tables."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets._footer import FooterKey

from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, open_workspace
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.sandbox_table import SandboxTable


def footer_keys(app: SandbenchApp) -> list[str]:
    return [f"{key.key_display} {key.description}" for key in app.screen.query(FooterKey)]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_the_footer_says_enter_opens_and_w_closes_a_live_workspace(
    service: SandboxService, make_app: Callable[..., SandbenchApp], size: tuple[int, int]
) -> None:
    await service.create(SandboxSpec(name="alpha"))
    await service.create(SandboxSpec(name="beta"))
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        listing = app.screen
        assert isinstance(listing, SandboxListScreen)
        await wait_until(pilot, lambda: "⏎ Open" in footer_keys(app), show=lambda: repr(footer_keys(app)))
        assert not any(k.endswith("Close workspace") for k in footer_keys(app))  # no workspace open: w does nothing

        await open_workspace(pilot, app)  # alpha's (the first row)
        await pilot.press("alt+0")  # back to the list; the workspace stays alive
        await wait_until(pilot, lambda: app.screen is listing)
        await wait_until(pilot, lambda: "w Close workspace" in footer_keys(app), show=lambda: repr(footer_keys(app)))
        assert "⏎ Open" in footer_keys(app)
        await pilot.press("down")  # beta has no workspace: w leaves the footer
        await wait_until(
            pilot, lambda: "w Close workspace" not in footer_keys(app), show=lambda: repr(footer_keys(app))
        )


async def test_home_and_end_go_to_the_first_and_last_sandbox(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    for i in range(40):  # more than a screen at 80x24
        await service.create(SandboxSpec(name=f"box-{i:02d}"))
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        table = app.screen.query_one(SandboxTable)
        assert table.cursor_row == 0
        await pilot.press("end")
        await wait_until(pilot, lambda: table.cursor_row == 39, show=lambda: str(table.cursor_row))
        selected = table.selected
        assert selected is not None and selected.name == "box-39"
        await pilot.press("home")
        await wait_until(pilot, lambda: table.cursor_row == 0, show=lambda: str(table.cursor_row))
        await pilot.press("enter")  # enter still opens (the screen's binding, no longer the table's)
        await wait_until(pilot, lambda: not isinstance(app.screen, SandboxListScreen), timeout=30)

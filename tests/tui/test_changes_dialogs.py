"""The Changes view's dialogs at 80x24 through the real app on a real local sandbox: right after `r` restores a file
(its toast up for seconds), `R` opens "Roll back everything" with no toast over its buttons, the toast back once it
closes (the dialog holds it: it was cleared, and what the restore said was lost), and its text counts files and
folders in words that read right."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Button, Static

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, notifications, open_workspace
from tui.app import SandbenchApp
from tui.screens.changes import ChangesScreen
from widgets.changes_tree import ChangesTree
from widgets.dialogs import ConfirmDialog

pytestmark = pytest.mark.bwrap


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    await service.write_file(info.id, "a.txt", b"one\n")
    await service.write_file(info.id, "b.txt", b"bee\n")
    await service.checkpoints.create(info.id, "base")
    script = "echo two > a.txt; echo changed > b.txt; mkdir made; echo x > made/x.txt; echo y > y.txt"
    result = await service.exec(info.id, ["sh", "-c", script])
    assert result.exit_code == 0, result.stderr
    return info


async def test_roll_back_opens_clear_of_toasts_and_counts_in_words(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(panes=PLACEHOLDERS)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_workspace(pilot, app)
        await pilot.press("f9")
        await wait_until(pilot, lambda: isinstance(app.screen, ChangesScreen) and app.screen.loaded)
        screen: Any = app.screen
        assert screen.query_one(ChangesTree).select_key("a.txt")
        await pilot.press("r")
        await wait_until(pilot, lambda: any("a.txt restored" in n for n in notifications(app)))
        await wait_until(pilot, lambda: not any(c.path == "a.txt" for c in screen.changes))
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.pause()
        assert notifications(app) == []  # nothing left over the dialog's buttons
        dialog = app.screen
        assert not list(dialog.query("Toast"))
        confirm = dialog.query_one("#confirm", Button)
        assert confirm.region.bottom <= 24 and confirm.region.width > 0
        message = str(dialog.query(".dialog-message").first(Static).render())
        assert "1 file written, 2 files and 1 folder deleted" in message, message
        assert "file or folders" not in message
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await wait_until(pilot, lambda: any("a.txt restored" in n for n in notifications(app)), "the toast is back")

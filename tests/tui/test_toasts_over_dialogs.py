"""No toast covers a dialog: toasts up when it opens and those raised while it is open wait, and show once it
closes (widgets/toast_hold.py). They once sat over its buttons: the 8-line "Restored" toast over "File changed on
disk" for ten seconds, a provider error over the list's Delete dialog. Real app, service and LocalProvider."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Static
from textual.widgets._toast import Toast

from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.create_dialog import CreateDialog
from widgets.dialogs import ConfirmDialog
from widgets.messages import tell


def toasts(app: SandbenchApp) -> list[str]:
    """The toasts on the top screen, as text."""
    return [str(t.render()) for t in app.screen.query(Toast)]


async def test_a_toast_raised_over_a_dialog_waits_for_it_to_close(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="loc1"))
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        tell(app, "an earlier note", timeout=30)
        await wait_until(pilot, lambda: any("an earlier note" in t for t in toasts(app)))
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        tell(app, "Provider error: the server did not answer", severity="error", timeout=30)
        await pilot.pause(0.3)
        assert toasts(app) == [], toasts(app)  # nothing over the dialog's buttons
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen))
        await wait_until(pilot, lambda: len(toasts(app)) == 2, show=lambda: repr(toasts(app)))
        assert any("the server did not answer" in t for t in toasts(app))
        assert any("an earlier note" in t for t in toasts(app))


async def test_a_toast_raised_in_a_dialog_with_an_error_line_shows_there(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog) and app.screen.is_mounted)
        tell(app, "the provider stopped answering", title="Provider error", severity="error")
        line = app.screen.query_one("#error", Static)
        await wait_until(pilot, lambda: "the provider stopped answering" in str(line.render()))
        assert toasts(app) == []

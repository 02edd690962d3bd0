"""A modal screen's footer shows the modal's own keys, not the dimmed footer of the screen beneath it (whose keys do
not work while the modal is up)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from tests.conftest import wait_until
from widgets.dialogs import ConfirmDialog
from widgets.footer import FittedFooter


class _Listing(App[None]):
    BINDINGS = [Binding("n", "new", "New sandbox")]

    def compose(self) -> ComposeResult:
        yield Static("the list")
        yield FittedFooter()

    def action_new(self) -> None:
        pass


def _keys(app: App[None]) -> set[str]:
    return {key.description for key in app.screen.query(FooterKey)}


async def test_a_dialog_shows_its_keys_in_its_own_footer() -> None:
    app = _Listing()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "New sandbox" in _keys(app), "the list's footer")
        app.push_screen(ConfirmDialog("Delete sandbox", "Delete api-server?", confirm="Delete", danger=True))
        await wait_until(pilot, lambda: "Cancel" in _keys(app), "the dialog's footer", show=lambda: str(_keys(app)))
        assert isinstance(app.screen, ConfirmDialog)
        assert "New sandbox" not in _keys(app)
        assert "Yes" in _keys(app)  # `y` confirms: Cancel has the focus in a dangerous dialog, so enter would not
        assert app.focused is not None and app.focused.id == "cancel"
        assert len(app.screen.query(FittedFooter)) == 1
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), "the dialog closed")

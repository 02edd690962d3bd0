"""A modal screen's footer shows the modal's own keys, not the dimmed footer of the screen beneath it (whose keys do
not work while the modal is up)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from tests.conftest import wait_until
from widgets.dialogs import ChoiceDialog, ConfirmDialog, choice_letters
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


def _footer_text(app: App[None]) -> list[tuple[str, str]]:
    return [(key.key_display, key.description) for key in app.screen.query(FooterKey)]


async def test_every_choice_of_a_choice_dialog_has_a_key_in_the_footer() -> None:
    """ "File changed on disk" showed only `esc Cancel`: Overwrite, Reload and Diff had no key to press."""
    app = _Listing()
    answers: list[object] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "New sandbox" in _keys(app), "the list's footer")
        choices = [("overwrite", "Overwrite"), ("reload", "Reload"), ("diff", "Diff")]
        app.push_screen(ChoiceDialog("File changed on disk", "a.txt changed on disk.", choices), answers.append)
        await wait_until(pilot, lambda: "Diff" in _keys(app), "the choices in the footer", show=lambda: str(_keys(app)))
        assert {("o", "Overwrite"), ("r", "Reload"), ("d", "Diff"), ("esc", "Cancel")} <= set(_footer_text(app))
        await pilot.press("r")
        await wait_until(pilot, lambda: answers == ["reload"])

        app.push_screen(ChoiceDialog("Stop sandbox", "Its terminals end.", [("end", "Stop")]), answers.append)
        await wait_until(pilot, lambda: "Stop" in _keys(app), "Stop in the footer", show=lambda: str(_keys(app)))
        assert ("s", "Stop") in _footer_text(app)
        await pilot.press("s")
        await wait_until(pilot, lambda: answers == ["reload", "end"])


def test_choice_letters_skip_the_taken_ones() -> None:
    assert choice_letters(["Overwrite", "Reload", "Diff"]) == ["o", "r", "d"]
    assert choice_letters(["Save all", "Discard"], taken="s") == ["a", "d"]
    assert choice_letters(["ab", "ab", "ab"]) == ["a", "b", None]

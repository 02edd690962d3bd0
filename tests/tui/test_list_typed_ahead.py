"""Keys typed fast behind a list key that opens a dialog reach the dialog, never the table behind it.

A fast typist (or a paste) delivers `ndx1` in one read: the app reads all four keys before the dialog `n` opens
has mounted. They once reached the table: `d` opened Delete under the Create dialog and the name was lost. Each
test posts its keys to the app in one go, as the terminal driver does for one read, then waits for the outcome.
Real service and LocalProvider (no process runs: no bwrap needed).
"""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.widgets import Input

from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from widgets.create_dialog import CreateDialog
from widgets.dialogs import ConfirmDialog, InputDialog


def burst(app: SandbenchApp, *keys: str) -> None:
    """Post `keys` to the app at once, as one read of the terminal delivers them (Pilot's press waits between)."""
    named = {"ctrl+s": None, "enter": "\r", "escape": "\x1b"}
    for key in keys:
        app.post_message(events.Key(key, named.get(key, key)))


async def _list(pilot, app: SandbenchApp) -> SandboxListScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, SandboxListScreen)
    return screen


def _stack(app: SandbenchApp) -> list[str]:
    return [type(s).__name__ for s in app.screen_stack]


async def test_a_name_typed_fast_after_n_goes_into_the_name(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="loc1"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _list(pilot, app)
        burst(app, "n", "d", "x", "1")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateDialog) and app.screen.is_mounted)
        dialog = app.screen
        assert isinstance(dialog, CreateDialog)
        name = dialog.query_one("#name", Input)
        await wait_until(pilot, lambda: name.value == "dx1")
        assert not any(isinstance(s, ConfirmDialog) for s in app.screen_stack), _stack(app)
        assert app.focused is name


async def test_n_name_and_ctrl_s_fast_creates(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    await service.create(SandboxSpec(name="loc1"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _list(pilot, app)
        burst(app, "n", "d", "y", "z", "ctrl+s")
        await wait_until(pilot, lambda: "dyz" in screen.table.visible_names, timeout=30)
        assert app.screen is screen, _stack(app)
        assert {i.name for i in await service.list_sandboxes()} == {"loc1", "dyz"}


async def test_snapshot_key_then_a_fast_name(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    await service.create(SandboxSpec(name="loc1"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _list(pilot, app)
        burst(app, "S", "d", "x")
        await wait_until(pilot, lambda: isinstance(app.screen, InputDialog) and app.screen.is_mounted)
        field = app.screen.query_one("#value", Input)
        await wait_until(pilot, lambda: field.value.endswith("dx"))
        assert not any(isinstance(s, ConfirmDialog) for s in app.screen_stack), _stack(app)


async def test_delete_then_y_typed_fast_deletes(service: SandboxService, make_app: Callable[..., SandbenchApp]) -> None:
    """`dy` in one read: the y answers the dialog d opened (it once reached the table: nothing happened)."""
    await service.create(SandboxSpec(name="loc1"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _list(pilot, app)
        burst(app, "d", "y")
        await wait_until(pilot, lambda: screen.table.visible_names == [], timeout=30)
        assert await service.list_sandboxes() == []


async def test_n_typed_in_the_filter_is_a_letter(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    await service.create(SandboxSpec(name="nox"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _list(pilot, app)
        burst(app, "slash", "n", "d", "S")
        field = screen.query_one("#filter", Input)
        await wait_until(pilot, lambda: field.value == "ndS")
        assert app.screen is screen, _stack(app)

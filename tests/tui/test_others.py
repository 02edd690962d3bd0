"""Others' sandboxes in the list (issue 6): the `o` toggle, read-only rows, refused lifecycle keys, adopt (and its
cancel), and the workspace's read-only marker. Real service and LocalProvider; "alice" is a second identity on the
same provider, as a colleague on a shared Daytona organisation would be."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from textual.widgets import Static

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxInfo, SandboxSpec, SandboxState
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.conftest import PLACEHOLDERS, fixed_clock, notifications, workspace_up
from tui.app import SandbenchApp
from tui.screens.sandbox_list import SandboxListScreen
from tui.screens.workspace import WorkspaceScreen
from widgets.dialogs import ConfirmDialog
from widgets.status_bar import StatusBar


@pytest.fixture
def open_config(config: Config) -> Config:
    return dataclasses.replace(config, show_others=True)


@pytest.fixture
async def me(provider: LocalProvider, open_config: Config) -> AsyncIterator[SandboxService]:
    svc = SandboxService(provider, open_config)
    yield svc
    svc.audit.close()


@pytest.fixture
async def theirs(provider: LocalProvider, open_config: Config) -> AsyncIterator[SandboxInfo]:
    alice = SandboxService(provider, dataclasses.replace(open_config, identity="alice"))
    yield await alice.create(SandboxSpec(name="theirs"))
    alice.audit.close()


@pytest.fixture
async def mine(me: SandboxService) -> SandboxInfo:
    return await me.create(SandboxSpec(name="mine"))


def _app(service: SandboxService, **kw: object) -> SandbenchApp:
    return SandbenchApp(service, service.config, clock=fixed_clock, **kw)  # type: ignore[arg-type]


async def _list(pilot, app: SandbenchApp) -> SandboxListScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, SandboxListScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, SandboxListScreen)
    return screen


async def _show_others(pilot, screen: SandboxListScreen, theirs: SandboxInfo) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("o")
    await wait_until(pilot, lambda: theirs.id in screen.table.rows)
    screen.table.move_cursor(row=screen.table.get_row_index(theirs.id), animate=False)
    await pilot.pause()


async def test_toggle_shows_others_read_only_and_hides_them_again(
    me: SandboxService, mine: SandboxInfo, theirs: SandboxInfo
) -> None:
    app = _app(me)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _list(pilot, app)
        assert screen.table.visible_names == ["mine"]
        await _show_others(pilot, screen, theirs)
        assert screen.table.visible_names == ["mine", "theirs"]
        assert screen.table.row_text(theirs.id)["owner"] == "alice (ro)"
        assert screen.table.row_text(mine.id)["owner"] == "you"
        assert "read-only" in str(screen.query_one("#list-title", Static).render())
        detail = str(screen.query_one("#list-detail", Static).render())
        assert "read-only: alice's" in detail
        # every cell of another's row is dimmed; mine are not
        assert all(
            "dim" in str(cell.style) or any("dim" in str(s.style) for s in cell.spans)
            for cell in screen.table.get_row(theirs.id)
        )
        await pilot.press("o")
        await wait_until(pilot, lambda: screen.table.visible_names == ["mine"])
        assert "owner" not in screen.table.column_keys


async def test_toggle_needs_the_config(service: SandboxService, theirs: SandboxInfo) -> None:
    await service.create(SandboxSpec(name="mine"))
    app = _app(service)  # show_others is false in this config
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await _list(pilot, app)
        await pilot.press("o")
        await wait_until(pilot, lambda: any("show_others = true" in n for n in notifications(app)))
        assert screen.table.visible_names == ["mine"] and not screen.showing_others


async def test_lifecycle_keys_on_others_refuse_in_one_line(
    me: SandboxService, mine: SandboxInfo, theirs: SandboxInfo
) -> None:
    app = _app(me)
    async with app.run_test(size=(120, 24)) as pilot:
        screen = await _list(pilot, app)
        await _show_others(pilot, screen, theirs)
        calls = sum(me.counters.values())
        for key, verb in (("s", "start"), ("x", "stop"), ("d", "delete"), ("a", "archive"), ("S", "snapshot")):
            await pilot.press(key)
            expected = f"cannot {verb} theirs: it is alice's sandbox, read-only here"
            await wait_until(pilot, lambda e=expected: any(e in n for n in notifications(app)))  # type: ignore[misc]
            assert app.screen is screen, key  # no confirmation, no name prompt: refused before asking anything
        assert all("\n" not in n for n in notifications(app))
        assert sum(me.counters.values()) == calls  # nothing was sent to the service
        assert (await me.get(theirs.id)).state is SandboxState.STARTED


async def test_adopt_asks_naming_sandbox_and_owner_then_cancel_keeps_it_theirs(
    me: SandboxService, mine: SandboxInfo, theirs: SandboxInfo
) -> None:
    app = _app(me)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _list(pilot, app)
        await _show_others(pilot, screen, theirs)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        message = str(app.screen.query_one(".dialog-message", Static).render())
        assert "theirs" in message and "alice" in message
        await pilot.press("escape")
        assert app.screen is screen
        assert not me.owns(await me.get(theirs.id))
        assert screen.table.row_text(theirs.id)["owner"] == "alice (ro)"


async def test_adopt_makes_it_mine(me: SandboxService, mine: SandboxInfo, theirs: SandboxInfo) -> None:
    app = _app(me)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _list(pilot, app)
        await _show_others(pilot, screen, theirs)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.table.row_text(theirs.id).get("owner") == "you")
        assert me.owns(await me.get(theirs.id))
        assert any("adopted theirs" in n for n in notifications(app))
        # now the lifecycle keys work on it
        await wait_until(pilot, lambda: not screen._busy)
        await pilot.press("x")
        await wait_until(pilot, lambda: (screen.table.get_info(theirs.id) or theirs).state is SandboxState.STOPPED)


async def test_adopting_ones_own_says_so(me: SandboxService, mine: SandboxInfo) -> None:
    app = _app(me)
    async with app.run_test(size=(100, 30)) as pilot:
        await _list(pilot, app)
        await pilot.press("A")
        await wait_until(pilot, lambda: any("already yours" in n for n in notifications(app)))
        assert not isinstance(app.screen, ConfirmDialog)


async def test_opening_anothers_sandbox_marks_the_workspace_read_only(
    me: SandboxService, mine: SandboxInfo, theirs: SandboxInfo
) -> None:
    app = _app(me, panes=PLACEHOLDERS)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await _list(pilot, app)
        await _show_others(pilot, screen, theirs)
        await pilot.press("enter")
        await wait_until(pilot, lambda: workspace_up(app))
        ws = app.screen
        assert isinstance(ws, WorkspaceScreen) and ws.read_only
        status = ws.query_one(StatusBar)
        assert status.read_only and status.owner == "alice"
        assert "read-only alice's" in str(status.render())
        # writes go to the service, which refuses in one line (fail closed)
        with pytest.raises(Exception) as refused:
            await me.write_file(theirs.id, "x.txt", b"x")
        assert "\n" not in str(refused.value)
        await pilot.press("alt+0")
        await wait_until(pilot, lambda: app.screen is screen)
        screen.table.move_cursor(row=screen.table.get_row_index(mine.id), animate=False)
        await pilot.press("enter")  # and one's own is not marked
        await wait_until(pilot, lambda: workspace_up(app))
        assert not app.screen.query_one(StatusBar).read_only

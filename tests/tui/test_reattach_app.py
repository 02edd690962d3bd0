"""Local shells survive the app (issue 11 §1), in the real app under Pilot with the real session host: quit, start
the app again on the sandbox, and the same shell is back in a tab marked ↺, its scrollback replayed; the terminal
list (f7, and `t` from the tab bar) shows a shell not on screen with its command and age, attaches it or ends it;
closing the workspace on purpose ends its shells, and the quit dialog says shells keep running."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from textual.widgets import OptionList, Static

from services.config import Config
from services.local.host_client import stop_host
from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import shown, wait_until
from tests.services.test_session_host import Reader, hosted
from tests.tui.conftest import fixed_clock
from tests.tui.test_terminal_app import open_terminal, type_text
from tui.app import SandbenchApp
from widgets.dialogs import ChoiceDialog, ConfirmDialog
from widgets.terminal import TerminalPane, TerminalView
from widgets.terminal.session_list import SessionList

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(240)]


@pytest.fixture
async def hservice(config: Config) -> AsyncIterator[SandboxService]:
    svc = hosted(config)
    yield svc
    with contextlib.suppress(Exception):
        await svc.close()
    stop_host(config.data_dir)


@pytest.fixture
async def hbox(hservice: SandboxService) -> SandboxInfo:
    return await hservice.create(SandboxSpec(name="box"))


def pane_of(app: SandbenchApp) -> TerminalPane:
    return app.screen.query_one(TerminalPane)


async def test_quit_and_open_again_reattaches_the_same_shell_marked(
    hservice: SandboxService, config: Config, hbox: SandboxInfo
) -> None:
    app = SandbenchApp(hservice, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        assert not view.reattached and not pane_of(app).label_for(view).startswith("↺")
        await type_text(pilot, "V=kept$((6*7)); sleep 1000 &\n")
        await wait_until(pilot, lambda: "[1]" in shown(view))
        first = view.session.session_id if view.session else ""
        await pilot.press("ctrl+q")  # nothing unsaved: quits at once
    await hservice.close()

    again = hosted(config)  # the app started again on the same data directory
    try:
        app = SandbenchApp(again, config, clock=fixed_clock, open_name="box")
        async with app.run_test(size=(160, 40)) as pilot:
            view = await open_terminal(pilot, app)
            pane = pane_of(app)
            assert len(pane.views) == 1 and view.session is not None and view.session.session_id == first
            assert view.reattached and pane.label_for(view).startswith("↺ ")
            assert "[1]" in shown(view)  # the earlier scrollback, replayed
            await type_text(pilot, "echo got-$V; jobs\n")
            await wait_until(pilot, lambda: "got-kept42" in shown(view) and "sleep 1000" in shown(view), timeout=20)
    finally:
        await again.close()


async def test_the_terminal_list_attaches_and_ends_a_detached_shell(
    hservice: SandboxService, config: Config, hbox: SandboxInfo
) -> None:
    # a shell started elsewhere (another app, then detached) while this app shows the sandbox
    app = SandbenchApp(hservice, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(120, 36)) as pilot:
        view = await open_terminal(pilot, app)
        other = hosted(config)
        try:
            term = await other.open_terminal(hbox.id, 80, 24)
            out = Reader(term)
            await term.write(b"echo from-elsewhere\n")
            await out.wait_for(b"from-elsewhere")
            out.stop()
            await term.detach()  # type: ignore[attr-defined]
        finally:
            await other.close()

        await pilot.press("ctrl+right_square_bracket")  # out of the shell, to the tab bar
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionList))
        dialog = app.screen
        assert isinstance(dialog, SessionList)
        await wait_until(pilot, lambda: len(dialog.sessions) == 1, timeout=20)
        row = str(dialog.query_one(OptionList).get_option_at_index(0).prompt)
        assert "bash" in row and "ago" in row and "80x24" in row
        assert view.session is not None and view.session.session_id not in {t.id for t in dialog.sessions}
        await pilot.press("enter")  # attach it, in a new tab
        pane = pane_of(app)
        await wait_until(pilot, lambda: len(pane.views) == 2 and pane.active_view is not None)
        attached = pane.active_view
        assert isinstance(attached, TerminalView)
        await wait_until(pilot, lambda: "from-elsewhere" in shown(attached), timeout=20)
        assert attached.reattached and pane.label_for(attached).startswith("↺ ")

        # with both on screen the list (shift+f7 from outside the terminal) has nothing more to offer
        await pilot.press("ctrl+right_square_bracket")
        await pilot.press("alt+1")
        await pilot.press("shift+f7")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionList))
        listing = app.screen
        assert isinstance(listing, SessionList)
        await wait_until(pilot, lambda: "No other shells" in str(listing.query_one("#sessions-note", Static).render()))
        await pilot.press("escape")

        # a detached one is ended from the list: x, confirm; it is gone from the host
        extra = await hservice.open_terminal(hbox.id, 80, 24)
        await extra.detach()  # type: ignore[attr-defined]
        await pilot.press("shift+f7")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionList))
        listing = app.screen
        assert isinstance(listing, SessionList)
        await wait_until(pilot, lambda: [t.id for t in listing.sessions] == [extra.session_id], timeout=20)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionList) and not listing.sessions, timeout=20)
        live = {t.id for t in await hservice.list_terminals(hbox.id) if t.active}
        assert extra.session_id not in live and len(live) == 2


async def test_close_workspace_ends_the_shells_and_quit_says_they_keep_running(
    hservice: SandboxService, config: Config, hbox: SandboxInfo
) -> None:
    app = SandbenchApp(hservice, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        await open_terminal(pilot, app)
        assert "1 shell in box keeps running" in app.still_running()
        await pilot.press("ctrl+right_square_bracket")
        await pilot.press("alt+q")  # close the workspace on purpose: it says its terminal ends
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog))
        message = str(app.screen.query_one(".dialog-message", Static).render())
        assert "ends 1 terminal" in message
        await pilot.click("#choice-end")
        await wait_until(pilot, lambda: app.workspaces.get(hbox.id) is None, timeout=20)

        async def none_left() -> bool:
            return not [t for t in await hservice.list_terminals(hbox.id) if t.active]

        for _ in range(200):
            if await none_left():
                break
            await pilot.pause(0.05)
        assert await none_left()
        assert app.still_running() == ""

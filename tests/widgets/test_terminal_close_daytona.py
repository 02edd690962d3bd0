"""Closing a Daytona terminal tab (`w` on the tab bar) through the real `daytona` SDK and a real `sandbench serve`:
with a program in the shell's foreground it asks first, naming it, as local tabs do (serve says what runs in a PTY
session's info; the SDK keeps the field), and a bare shell closes at once. Before, a Daytona tab never said what
ran, so closing ended `sleep 1000` (or an editor) without a word."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from services.terminal import ask_foreground
from tests.conftest import read_until, wait_until
from tests.services.test_daytona_terminals import box, dservice  # noqa: F401  (fixtures)
from tests.services.test_server_harness import serve  # noqa: F401  (fixture)
from tests.widgets.test_terminal_reattach import PaneApp
from widgets.dialogs import ChoiceDialog
from widgets.terminal import TerminalPane

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]


async def test_a_daytona_terminal_says_what_runs_in_its_foreground(
    dservice: SandboxService,  # noqa: F811
    box: SandboxInfo,  # noqa: F811
) -> None:
    term = await dservice.open_terminal(box.id, 80, 24)
    buf = bytearray()
    await term.write(b"echo ready-$((6*7))\n")
    await read_until(term, buf, b"ready-42")
    assert await ask_foreground(term) is None  # the shell itself has the terminal
    await term.write(b"sleep 1000\n")
    await wait_until(None, lambda: _is(term, "sleep"), "sleep in the foreground")
    await term.write(b"\x03")  # ctrl+c: the shell has it again
    await wait_until(None, lambda: _is(term, None), "the shell back in the foreground")
    await term.close()


async def _is(term: object, name: str | None) -> bool:
    return await ask_foreground(term) == name  # type: ignore[arg-type]


async def test_w_on_a_daytona_tab_running_a_program_asks_first_naming_it(
    dservice: SandboxService,  # noqa: F811
    box: SandboxInfo,  # noqa: F811
) -> None:
    app = PaneApp(dservice, box.id)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TerminalPane)

        def shown() -> str:
            v = pane.active_view
            return "\n".join(v.screen_model.display()) if v is not None else ""

        def dialog_text() -> str:
            return "\n".join(str(s.render()) for s in app.screen.query(".dialog-message").results(Static))

        await wait_until(pilot, lambda: "$" in shown(), "the shell prompt", timeout=20, show=shown)
        first = pane.active_view
        assert first is not None and first.session is not None
        session = first.session
        await session.write(b"sleep 1000\n")
        await wait_until(pilot, lambda: _is(session, "sleep"), "sleep in the foreground", timeout=20)
        await pilot.press("ctrl+right_square_bracket", "w")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the close-tab question")
        assert "running sleep" in dialog_text(), dialog_text()
        await pilot.press("escape")  # cancel: the tab and its program stay
        await wait_until(pilot, lambda: not isinstance(app.screen, ChoiceDialog), "the question to go")
        assert pane.views == [first] and first.session is session and session.exit_code is None
        assert [t.id for t in await dservice.list_terminals(box.id)] == [session.session_id]

        await pilot.press("ctrl+right_square_bracket", "w")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "the close-tab question again")
        await pilot.press("enter")  # Close tab (focused first)
        await wait_until(pilot, lambda: first not in pane.views, "the tab to close", timeout=20)

        async def ended() -> bool:
            return session.session_id not in [t.id for t in await dservice.list_terminals(box.id) if t.active]

        await wait_until(pilot, ended, "its shell (and sleep) to end on the server", timeout=20)

        # the next tab's bare shell closes at once, nothing asked
        await wait_until(pilot, lambda: "$" in shown(), "the new tab's prompt", timeout=20, show=shown)
        second = pane.active_view
        await pilot.press("ctrl+right_square_bracket", "w")
        await wait_until(pilot, lambda: second not in pane.views, "the bare shell's tab to close", timeout=20)
        assert not isinstance(app.screen, ChoiceDialog)
        for v in list(pane.views):
            await v.stop()

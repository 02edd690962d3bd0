"""Reopening a sandbox whose shells still run (Daytona PTY sessions, here through a real `sandbench serve`): the
terminal pane reattaches them, as `tmux attach` does, and a reattached tab is the same shell, state and all, marked
↺ in the tab bar; a new tab is a new shell and leaves the old one running."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import read_until, wait_until
from tests.services.test_daytona_terminals import box, dservice  # noqa: F401  (fixtures)
from tests.services.test_server_harness import serve  # noqa: F401  (fixture)
from widgets.dialogs import ChoiceDialog
from widgets.messages import ErrorRoute
from widgets.terminal import TerminalPane

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(120)]


class PaneApp(ErrorRoute, App[None]):  # failures take the real app's one error route
    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id

    def compose(self) -> ComposeResult:
        yield TerminalPane(self.service, self.sandbox_id, id="terminal")


async def test_reopening_reattaches_and_finds_the_same_shell(
    dservice: SandboxService,  # noqa: F811
    box: SandboxInfo,  # noqa: F811
) -> None:
    earlier = await dservice.open_terminal(box.id, 80, 24)
    buf = bytearray()
    await earlier.write(b"export X=$((40+2)); echo set-$X\n")
    await read_until(earlier, buf, b"set-42")
    await earlier.detach()  # type: ignore[attr-defined]  # the app went away; the shell did not

    app = PaneApp(dservice, box.id)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(TerminalPane)
        await wait_until(
            pilot, lambda: pane.active_view is not None and pane.active_view.session is not None, "attach", timeout=15
        )
        assert not isinstance(app.screen, ChoiceDialog)  # no question asked: the shells come back
        view = pane.active_view
        assert view is not None and view.session is not None
        assert view.session.session_id == earlier.session_id
        assert view.reattached and pane.label_for(view).startswith("↺ ")
        await view.session.write(b"echo got-$X\n")
        await wait_until(
            pilot, lambda: any("got-42" in row for row in view.screen_model.display()), "the old shell's $X", timeout=15
        )
        assert len(pane.views) == 1


async def test_new_shell_leaves_the_old_one_running(
    dservice: SandboxService,  # noqa: F811
    box: SandboxInfo,  # noqa: F811
) -> None:
    earlier = await dservice.open_terminal(box.id, 80, 24)
    await earlier.detach()  # type: ignore[attr-defined]
    app = PaneApp(dservice, box.id)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(TerminalPane)
        await wait_until(
            pilot, lambda: pane.active_view is not None and pane.active_view.session is not None, "attach", timeout=15
        )
        await pane.new_tab()
        await wait_until(
            pilot, lambda: pane.active_view is not None and pane.active_view.session is not None, "a shell", timeout=15
        )
        view = pane.active_view
        assert view is not None and view.session is not None
        assert view.session.session_id != earlier.session_id
    listed = await dservice.list_terminals(box.id)
    assert earlier.session_id in [t.id for t in listed if t.active]
    await asyncio.sleep(0)

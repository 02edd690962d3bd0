"""Keys typed into a terminal whose shell is still starting (a new tab, a workspace just opened) are kept and
sent once it has started, in order, as tmux hands a new window's shell what was typed into it meanwhile (they were
dropped: the first letters of a fast command vanished, or the whole command)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual import events

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from services.terminal import TerminalSession
from tests.conftest import wait_until
from tests.widgets.test_terminal_pane import TermApp, text, view

pytestmark = pytest.mark.bwrap


async def test_keys_typed_while_the_shell_starts_reach_it(service: SandboxService, sandbox: SandboxInfo) -> None:
    # the real shell, its start held until the keys are in (a start takes ~0.1-1 s: the window a fast typist hits)
    gate = asyncio.Event()
    real_open = service.open_terminal

    async def open_later(*args: Any, **kwargs: Any) -> TerminalSession:
        await gate.wait()
        return await real_open(*args, **kwargs)

    service.open_terminal = open_later  # type: ignore[method-assign]
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 25)) as pilot:
        await wait_until(pilot, lambda: bool(app.query("TerminalView")) and view(app).has_focus, "the view focused")
        term = view(app)
        assert term.session is None
        for ch in "echo early-$((6*7))":
            app.post_message(events.Key("space" if ch == " " else ch, ch))
        app.post_message(events.Key("enter", "\r"))
        term.post_message(events.Paste("echo pasted-$((6*8))\n"))
        await pilot.pause()
        gate.set()
        await wait_until(pilot, lambda: "\nearly-42" in text(app), "the command's output", show=lambda: text(app))
        await wait_until(pilot, lambda: "\npasted-48" in text(app), "the pasted command's", show=lambda: text(app))

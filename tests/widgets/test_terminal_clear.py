"""ctrl+L (readline's clear-screen: `ESC [H ESC [2J`) in the real pane on a real sandbox shell: the screen is
cleared and what it held is one scroll away, as in tmux (the differential tests compare the scrollback itself);
`clear` with TERM=xterm-256color also sends E3 (`ESC [3J`) and empties the scrollback, as tmux does."""

from __future__ import annotations

import pytest

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.widgets.test_terminal_pane import TermApp, ready, run, text, view

pytestmark = pytest.mark.bwrap


def shown(app: TermApp) -> list[str]:
    v = view(app)
    return [v.render_line(y).text.rstrip() for y in range(v.size.height)]


async def test_ctrl_l_keeps_the_lines_in_the_scrollback(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await run(pilot, "seq 1 100", "\n100\n")
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: "100" not in text(app), "a cleared screen", show=lambda: text(app))
        await pilot.press("shift+pageup")
        await wait_until(pilot, lambda: "100" in shown(app), "100 scrolled back to", show=lambda: shown(app))
        rows = shown(app)
        assert rows[rows.index("100") - 1] == "99", rows
        await pilot.press("shift+pagedown")
        # `clear` (E3 in xterm-256color's terminfo) empties the scrollback
        await run(pilot, 'clear; echo CLEA""RED', "CLEARED")
        await wait_until(pilot, lambda: not any(r == "100" for r in view(app).screen_model.display()), "cleared")
        screen = view(app).screen_model
        await wait_until(pilot, lambda: len(screen.history) == 0, "an empty scrollback", show=lambda: text(app))

"""The terminal owns its keys (issue 11 §2), in the real app on a real sandbox shell: while a terminal has focus every
key reaches the program as xterm encodes it (read back with `cat -v`), quit and find-file included, except ctrl+]
(leave the terminal); a `[keymap]` entry marked `terminal:` works inside the terminal too. And the scrollback:
typing while scrolled back returns to the live screen and repaints it, as the rendered lines show.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from textual.pilot import Pilot

from services.config import Config
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import shown, wait_until
from tests.tui.conftest import fixed_clock
from tests.tui.test_terminal_app import open_terminal, type_text
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.terminal import TerminalView

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

# Each key and what `cat -v` prints for the bytes xterm (TERM=xterm-256color, metaSendsEscape) sends for it. Written
# out here, not taken from `widgets/terminal/keys.py`, so the test checks the encoder against xterm, not itself.
XTERM = [
    ("f1", "^[OP"),
    ("f2", "^[OQ"),
    ("f3", "^[OR"),
    ("f4", "^[OS"),
    ("f5", "^[[15~"),
    ("f6", "^[[17~"),
    ("f7", "^[[18~"),
    ("f8", "^[[19~"),
    ("f9", "^[[20~"),
    ("f10", "^[[21~"),
    ("f11", "^[[23~"),
    ("f12", "^[[24~"),
    ("shift+f1", "^[[1;2P"),
    ("shift+f5", "^[[15;2~"),
    ("shift+f6", "^[[17;2~"),
    ("shift+f11", "^[[23;2~"),
    ("alt+1", "^[1"),
    ("alt+2", "^[2"),
    ("alt+3", "^[3"),
    ("alt+4", "^[4"),
    ("alt+m", "^[m"),
    ("alt+e", "^[e"),
    ("alt+t", "^[t"),
    ("alt+g", "^[g"),
    ("alt+c", "^[c"),
    ("ctrl+right", "^[[1;5C"),
    ("ctrl+left", "^[[1;5D"),
    ("ctrl+up", "^[[1;5A"),
    ("ctrl+down", "^[[1;5B"),
    ("alt+left", "^[[1;3D"),
    ("alt+right", "^[[1;3C"),
    ("alt+up", "^[[1;3A"),
    ("alt+down", "^[[1;3B"),
    ("ctrl+p", "^P"),
    ("ctrl+q", "^Q"),  # the app's quit key, but a focused terminal's program gets it (ctrl+] first to quit)
    ("ctrl+o", "^O"),  # find file, from every pane but a focused terminal
]


def app_on(service: SandboxService, config: Config, **keymap: str) -> SandbenchApp:
    return SandbenchApp(service, dataclasses.replace(config, keymap=keymap), clock=fixed_clock, open_name="box")


async def keys_through_cat(pilot: Pilot[Any], service: SandboxService, box: SandboxInfo, keys: list[str]) -> str:
    """Press `keys` into `cat -v > keys.txt`, one line each; what cat wrote, as the file holds it."""
    app = pilot.app
    assert isinstance(app.focused, TerminalView)
    view = app.focused
    # keys sent before cat runs would go to bash's readline: wait for the tty to be cat's, line-buffered
    # -ixon: the tty would take ^Q as XON (flow control) before cat could read it
    await type_text(pilot, "stty -ixon; printf 'CAT-%s\\n' READY; cat -v > keys.txt\n")
    await wait_until(pilot, lambda: "\nCAT-READY\n" in shown(view))
    for key in keys:
        await pilot.press(key, "enter")
    await pilot.press("ctrl+d")
    await type_text(pilot, "echo CAT-$((6*7))\n")
    await wait_until(pilot, lambda: "CAT-42" in shown(view), timeout=30)
    return (await service.read_file(box.id, "keys.txt")).data.decode()


async def test_every_key_reaches_the_program_as_xterm_sends_it(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = app_on(service, config)
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        got = await keys_through_cat(pilot, service, box, [key for key, _ in XTERM])
        assert got.splitlines() == [want for _, want in XTERM]
        # and none of them did the app's thing: no pane jump, no zoom, no help, no palette
        assert app.focused is view and app.screen is screen and screen.maximized is None

        # ctrl+] leaves the terminal, for its tab bar: there the app's keys work again (F6: the next pane)
        await pilot.press("ctrl+right_square_bracket")
        await wait_until(pilot, lambda: app.focused is not view and screen.focused_pane == "terminal")
        await pilot.press("f6")
        await wait_until(pilot, lambda: screen.focused_pane == "git")

        # ctrl+q went to cat above; from the tab bar (ctrl+] first) it quits
        await pilot.press("alt+3")
        await wait_until(pilot, lambda: app.focused is view)
        await pilot.press("ctrl+right_square_bracket")
        await wait_until(pilot, lambda: app.focused is not view and screen.focused_pane == "terminal")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_the_keymap_decides_which_app_keys_work_in_the_terminal(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    # alt+4 (the git panel) marked for the terminal too; quit moved to f12 and the terminal's escape to ctrl+g, so
    # ctrl+q and ctrl+] are the program's
    app = app_on(
        service,
        config,
        **{"terminal:workspace.focus_git": "alt+4", "app.quit": "f12", "terminal.leave": "ctrl+g"},
    )
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        await pilot.press("alt+4")
        await wait_until(pilot, lambda: screen.focused_pane == "git")
        await pilot.press("alt+3")
        await wait_until(pilot, lambda: app.focused is view)
        got = await keys_through_cat(pilot, service, box, ["alt+1", "f6", "ctrl+right_square_bracket"])
        assert got.splitlines() == ["^[1", "^[[17~", "^]"]  # keys not marked stay the program's
        await pilot.press("ctrl+q")  # no longer the quit key: the app stays
        await type_text(pilot, "echo STILL-$((6*7))\n")
        await wait_until(pilot, lambda: "STILL-42" in shown(view))
        assert app.is_running and app.focused is view
        await pilot.press("ctrl+g")  # the escape key, moved
        await wait_until(pilot, lambda: app.focused is not view and screen.focused_pane == "terminal")
        await pilot.press("f12")
        await wait_until(pilot, lambda: not app.is_running)


async def test_the_keymap_can_give_quit_back_to_the_terminal(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = app_on(service, config, **{"terminal:app.quit": "ctrl+q"})
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        assert app.focused is view
        await pilot.press("ctrl+q")  # marked `terminal:`, so it quits from inside the shell too
        await wait_until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


def rendered(view: TerminalView) -> list[str]:
    """The pane's lines as they are painted: Textual's cached strips, re-rendered only where a refresh asked."""
    return [strip.text.rstrip() for strip in view.render_lines(view.size.region)]


async def test_typing_while_scrolled_back_returns_to_the_live_screen(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = app_on(service, config)
    async with app.run_test(size=(80, 24)) as pilot:
        view = await open_terminal(pilot, app)
        await type_text(pilot, "seq 1 500\n")
        await wait_until(pilot, lambda: "\n500\n" in shown(view), timeout=30)
        # the flood's last screen is painted up to a frame later (its repaint and scroll are deferred): wait for it
        await wait_until(
            pilot, lambda: "500" in rendered(view), "the last screen drawn", show=lambda: str(rendered(view))
        )
        for _ in range(3):
            await pilot.press("shift+pageup")
        await pilot.pause()
        back = rendered(view)
        assert back[0].endswith(f"↑ scrolled back {view.back_rows} lines") and view.back_rows > 0
        assert "500" not in back
        # shift+PgDn works while scrolled back...
        await pilot.press("shift+pagedown")
        await pilot.pause()
        assert rendered(view)[0].endswith(f"↑ scrolled back {view.back_rows} lines") and view.back_rows > 0

        # ...and typing returns to the bottom, repainted whole: no old rows or marker left around the live prompt
        await pilot.press("y")
        await wait_until(pilot, lambda: rendered(view)[view.screen_model.y].rstrip().endswith("$ y"))
        now = rendered(view)
        assert not any("scrolled back" in line for line in now), now
        assert now == [line.rstrip() for line in view.screen_model.display()][: len(now)]
        assert "500" in now
        # scrolling back again and forward to the bottom shows the live screen
        await pilot.press("shift+pageup")
        await pilot.pause()
        assert "scrolled back" in rendered(view)[0]
        for _ in range(3):
            await pilot.press("shift+pagedown")
        await pilot.pause()
        assert view.back_rows == 0 and not any("scrolled back" in line for line in rendered(view))

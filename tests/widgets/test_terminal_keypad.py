"""Cursor-key and keypad application modes, through the real pane on a real sandbox PTY (Pilot keys).

DECCKM (`CSI ? 1 h`): the arrows a program receives switch from `CSI A` to `SS3 A` while it asks, and back.
DECKPAM / DECKPNM (`ESC =` / `ESC >`): the pane tracks the mode, but Textual reports keypad keys as the main keys
(its legacy parser maps the keypad's SS3 sequences to digits, and the kitty protocol's keypad codes to the same
key names), so what a program gets is what the main keys send — digits and CR — in either mode (README: "In the
terminal pane"). Here a program turns both modes on, reads raw bytes up to `q`, prints them in hex and turns the
modes off again.
"""

from __future__ import annotations

import re

import pytest

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.widgets.test_terminal_pane import TermApp, ready, text, type_text, view

pytestmark = pytest.mark.bwrap

# what the program prints, split in the command line so that its echo never matches (a key typed before the
# program is in raw mode would be flushed by tty.setraw)
REPORT = re.compile(r"KEYS ([0-9a-f]*)\.")

READ_KEYS = (
    "python3 -c \"import os,tty;tty.setraw(0);os.write(1,b'{modes}REA'+b'DY\\r\\n');"
    "d=b''.join(iter(lambda:os.read(0,1),b'q'));os.write(1,b'{off}KE'+b'YS '+d.hex().encode()+b'.\\r\\n')\"\n"
)


async def keys_seen(pilot, modes: str, off: str, keys: list[str]) -> str:  # type: ignore[no-untyped-def]
    await type_text(pilot, "clear\n")
    # (the last round's READY and report must be gone before this round's are looked for)
    await wait_until(pilot, lambda: "READY" not in text(pilot.app), "a cleared screen", show=lambda: text(pilot.app))
    await type_text(pilot, READ_KEYS.format(modes=modes, off=off))
    await wait_until(pilot, lambda: "\nREADY" in text(pilot.app), "the program", show=lambda: text(pilot.app))
    screen = view(pilot.app).screen_model
    for key in keys:
        await pilot.press(key)
    await pilot.press("q")
    await wait_until(pilot, lambda: REPORT.search(text(pilot.app)), "its report", show=lambda: text(pilot.app))
    assert not (screen.app_cursor or screen.app_keypad), "the program turned the modes off again"
    found = REPORT.search(text(pilot.app))
    assert found is not None
    return found[1]


async def test_arrows_follow_decckm_and_keypad_mode_is_tracked(service: SandboxService, sandbox: SandboxInfo) -> None:
    app = TermApp(service, sandbox.id)
    async with app.run_test(size=(100, 25)) as pilot:
        await ready(pilot)
        screen = view(app).screen_model
        # both application modes on: SS3 arrows; the keypad mode is seen, keys still arrive as the main keys send
        seen = await keys_seen(pilot, "\\x1b[?1h\\x1b=", "\\x1b[?1l\\x1b>", ["up", "left", "1", "enter"])
        assert seen == "1b4f41" + "1b4f44" + "31" + "0d", seen
        # and off: CSI arrows
        seen = await keys_seen(pilot, "", "", ["up", "left", "1", "enter"])
        assert seen == "1b5b41" + "1b5b44" + "31" + "0d", seen
        # the mode itself, while a program holds it
        await type_text(pilot, "printf '\\033=\\033[?1h'\n")
        await wait_until(pilot, lambda: screen.app_keypad and screen.app_cursor, "both modes on")
        await type_text(pilot, "printf '\\033>\\033[?1l'\n")
        await wait_until(pilot, lambda: not (screen.app_keypad or screen.app_cursor), "both modes off")

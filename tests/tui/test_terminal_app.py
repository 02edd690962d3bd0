"""The terminal in the real app (the workspace screen with its real panes, a real sandbox shell): nothing typed or
pasted is lost, the configured scrollback is the one kept, and typing never waits on the state database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import sys
import time
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot

from services.config import Config
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import shown, wait_until
from tests.services.test_terminal_input import MIB, paste_text
from tests.tui.conftest import fixed_clock, workspace_up
from tui.app import SandbenchApp
from widgets.terminal import TerminalPane, TerminalView

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]


async def open_terminal(pilot: Pilot[Any], app: SandbenchApp) -> TerminalView:
    """`sandbench open box`, then alt+3 into the terminal pane, at its shell prompt."""
    await wait_until(pilot, lambda: workspace_up(app))
    # the workspace starts in the editor; a key pressed before that settles could land in the new shell, which
    # (holding the keyboard) would take alt+3 as its own
    await wait_until(pilot, lambda: getattr(app.screen, "focused_pane", None) == "editor")
    await pilot.press("alt+3")
    pane = app.screen.query_one(TerminalPane)
    await wait_until(pilot, lambda: pane.active_view is not None and pane.active_view.has_focus, timeout=20)
    view = pane.active_view
    assert view is not None
    await wait_until(pilot, lambda: view.session is not None and "$" in shown(view), timeout=30)
    return view


async def type_text(pilot: Pilot[Any], text: str) -> None:
    for ch in text:
        await pilot.press("enter" if ch == "\n" else ch)


async def test_a_big_paste_then_keys_arrive_whole_and_in_order(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    paste = paste_text()
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        # busy: a background job prints to the same terminal while the paste and the keys go in (for a few
        # seconds only: while the app is never idle, each of Pilot's key presses waits ~1.5 s for it to be)
        await type_text(pilot, "(for i in $(seq 400); do echo busy; sleep 0.01; done) & cat > pasted.txt\n")
        await wait_until(pilot, lambda: shown(view).count("busy") > 3, timeout=20)
        view.post_message(events.Paste(paste.decode()))
        await pilot.press("t", "a", "i", "l", "enter", "ctrl+d")
        await type_text(pilot, "wait; echo DONE-$((6*7))\n")
        await wait_until(pilot, lambda: "DONE-42" in shown(view), timeout=90)
        got = (await service.read_file(box.id, "pasted.txt", limit=4 * MIB)).data
        want = paste + b"tail\n"  # the paste's newlines went in as CR; the terminal's ICRNL made them NL again
        assert (len(got), hashlib.sha256(got).hexdigest()) == (len(want), hashlib.sha256(want).hexdigest())


async def test_the_configured_scrollback_is_the_one_kept(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = SandbenchApp(service, dataclasses.replace(config, scrollback=500), clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        await type_text(pilot, "seq 1 2000; echo END-$((6*7))\n")
        await wait_until(pilot, lambda: "END-42" in shown(view), timeout=30)
        screen = view.screen_model
        assert "\n2000\n" in shown(view)  # all 2,000 lines went by...
        assert len(screen.history) == 500  # ...and the pane kept the 500 it was configured for
        last = "".join(t for t, _ in screen.history_segments(len(screen.history) - 1)).strip()
        first = "".join(t for t, _ in screen.history_segments(0)).strip()
        assert int(last) - int(first) == 499  # the newest 500, in order


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


@pytest.mark.serial  # a wall-clock bar: alone under xdist
async def test_typing_never_waits_for_a_locked_state_database(
    service: SandboxService, config: Config, box: SandboxInfo
) -> None:
    app = SandbenchApp(service, config, clock=fixed_clock, open_name="box")
    async with app.run_test(size=(160, 40)) as pilot:
        view = await open_terminal(pilot, app)
        screen = view.screen_model
        fed = asyncio.Event()
        view.on_output = fed.set
        # another process (`sandbench serve`, a CLI call) holds the write lock on the same state.db for 5 s
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(config.data_dir / "state.db"), "5", stdout=asyncio.subprocess.PIPE
        )
        assert locker.stdout is not None
        assert await asyncio.wait_for(locker.stdout.readline(), 20) == b"locked\n"
        t_start = time.monotonic()
        echoes: list[float] = []
        typed = 0
        while locker.returncode is None and time.monotonic() - t_start < 4.5 and typed < 60:
            ch = "abcdefghij"[typed % 10]
            x_before = screen.x
            fed.clear()
            t0 = time.perf_counter()
            await view.on_key(events.Key(ch, ch))  # the key path of the focused terminal
            while screen.x == x_before:
                await asyncio.wait_for(fed.wait(), 30)
                fed.clear()
            echoes.append((time.perf_counter() - t0) * 1000)
            typed += 1
        held = locker.returncode is None
        await locker.wait()
        assert max(echoes) < 50, f"echo times (ms) while state.db was locked: {[round(e) for e in echoes]}"
        assert held and typed >= 10, "the keys were typed while the lock was held"

"""Typing before flooding: a terminal waiting for a key's echo goes first, and the flooding one loses nothing.

The first tests pin down `EchoPriority`'s rules; the last runs two real sandbox terminals side by side, one
flooding, and types into the other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from textual.app import App, ComposeResult
from textual.containers import Horizontal

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import shown, wait_until
from widgets.terminal import TerminalView
from widgets.terminal.priority import EchoPriority, echo_priority


async def test_a_typed_key_holds_the_other_terminals_until_its_echo() -> None:
    prio = EchoPriority(window=5.0)
    typing, flooding = object(), object()
    assert prio.held_for(flooding) == 0.0
    prio.typed(typing)
    assert prio.held_for(flooding) > 4.0
    assert prio.held_for(typing) == 0.0  # a terminal never waits for its own echo
    prio.answered(typing)
    assert prio.held_for(flooding) == 0.0


async def test_a_key_that_echoes_nothing_holds_the_others_only_for_the_window() -> None:
    prio = EchoPriority(window=0.05)
    typing, flooding = object(), object()
    prio.typed(typing)  # e.g. vim's `j`: nothing comes back
    t0 = time.monotonic()
    await prio.turn(flooding)
    waited = time.monotonic() - t0
    assert 0.03 < waited < 2.0
    assert prio.held_for(flooding) == 0.0


async def test_waiting_terminals_go_on_as_soon_as_the_echo_is_fed() -> None:
    prio = EchoPriority(window=30.0)
    typing, flooding = object(), object()
    prio.typed(typing)
    waiter = asyncio.create_task(prio.turn(flooding))
    await asyncio.sleep(0.05)
    assert not waiter.done()  # held: the window is long and no echo has come
    prio.answered(typing)
    await asyncio.wait_for(waiter, timeout=2)


async def test_each_event_loop_has_its_own_priority() -> None:
    mine = echo_priority()
    assert echo_priority() is mine

    async def other() -> EchoPriority:
        return echo_priority()

    theirs = await asyncio.to_thread(asyncio.run, other())
    assert theirs is not mine


class TwoTerminals(App[None]):
    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.views = [TerminalView(service, sandbox_id, id="typing"), TerminalView(service, sandbox_id, id="flood")]

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield from self.views


def screens(views: list[TerminalView]) -> Callable[[], str]:
    return lambda: "\n---\n".join(shown(v) for v in views)


@pytest.mark.bwrap
async def test_typing_beside_a_flooding_terminal_loses_none_of_its_output(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    app = TwoTerminals(service, sandbox.id)
    async with app.run_test(size=(120, 24)) as pilot:
        typing, flood = app.views
        await wait_until(
            pilot,
            lambda: "$" in shown(typing) and "$" in shown(flood) and flood.session,
            "the prompts",
            timeout=60,
            show=screens(app.views),
        )
        assert flood.session is not None
        await flood.session.write(b"seq 1 200000; echo FLOOD-DONE\r")
        await wait_until(
            pilot,
            lambda: flood.screen_model.scrolled_lines > 1000,
            "the flood to start",
            timeout=60,
            show=screens(app.views),
        )
        typing.focus()
        for ch in "echo typed-ok":
            await pilot.press(ch)
            await pilot.pause(0.01)  # a person's pace: each key is held back for, then released by, its echo
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: "typed-ok\n" in shown(typing) + "\n",
            "the typed command's output",
            timeout=60,
            show=screens(app.views),
        )
        await wait_until(
            pilot, lambda: "FLOOD-DONE" in shown(flood), "the end of the flood", timeout=60, show=screens(app.views)
        )
        screen = flood.screen_model
        history = ["".join(t for t, _ in screen.history_segments(i)) for i in range(len(screen.history))]
        numbers = [int(t) for t in (s.strip() for s in [*history, *shown(flood).split("\n")]) if t.isdigit()]
        # every line arrived, in order: the last ones the scrollback holds count up to 200000 without a gap
        assert numbers[-1] == 200000 and len(numbers) > 5000
        assert numbers == list(range(numbers[0], 200001))


async def test_a_terminal_that_does_not_echo_stops_holding_the_others() -> None:
    prio = EchoPriority(window=0.03)
    typing, flooding = object(), object()
    prio.typed(typing)  # a password prompt: no echo comes
    await prio.turn(flooding)  # held for the window, once
    prio.typed(typing)  # the next keys there claim nothing for a while
    assert prio.held_for(flooding) == 0.0
    prio.answered(typing)  # once it prints again, its keys go first again
    prio.typed(typing)
    assert prio.held_for(flooding) > 0.0

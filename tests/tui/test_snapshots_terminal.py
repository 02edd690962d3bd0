"""Snapshots of the real terminal pane's tabs in the real workspace (issue 15), at 80x24 (the terminal's tab) and
160x48 (tiled): two tabs, the first's shell exited with its code (the tab says `[exit 3]`, the screen how to
restart), the second showing a fixed `printf`'s output; and a shell left running by an earlier app (detached, in the
session host) reattached when the workspace opens, its tab marked ↺ and its screen replayed (80x24).
Deterministic: each shell's prompt is made `$ ` and its screen cleared (tests/tui/snap_real.py), the commands are
fixed and each is awaited to its end. Update with `pytest tests/tui/test_snapshots_terminal.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot

from services.config import Config
from services.local.host_client import stop_host
from services.local.provider import LocalProvider
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_session_host import Reader
from tests.tui.snap_real import (
    COMMITTED,
    MAIN_PY,
    NORMALISE,
    SIZE_IDS,
    SIZES,
    cleanup,
    focus,
    make_app,
    normalise_terminal,
    ready,
    seed,
    shown,
    workspace,
)
from widgets.terminal import TerminalPane, TerminalView

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

PRINTF = r"printf 'tab %s: %s\n' 2 'hello [bold]not markup[/]'"


@pytest.fixture
def project(config: Config) -> Iterator[Config]:
    seed(config, COMMITTED, files={"main.py": MAIN_PY})
    yield config
    cleanup(config)


async def _two_tabs(pilot: Pilot[Any]) -> tuple[TerminalPane, TerminalView, TerminalView]:
    """Tab 1's shell exited with code 3; tab 2 ran PRINTF; tab 2 shown, focus in it."""
    await ready(pilot)
    screen = workspace(pilot)
    pane = screen.query_one(TerminalPane)
    await focus(pilot, "terminal")
    first = pane.active_view
    assert first is not None
    await normalise_terminal(pilot, first)
    first.post_message(events.Paste("exit 3"))
    await wait_until(pilot, lambda: shown(first)[0] == "$ exit 3")
    await pilot.press("enter")
    await wait_until(pilot, lambda: first.exited and first.exit_code == 3, "tab 1's shell to exit", timeout=20)
    second = await pane.new_tab(focus=True)  # what `n` on the tab bar does
    await wait_until(pilot, lambda: second.has_focus)
    await normalise_terminal(pilot, second, then=PRINTF)
    await wait_until(pilot, lambda: pane.label_for(first) == "shell [exit 3]" and pane.label_for(second) == "shell")
    # the frame says the focused tab's size once a refresh has run after the focus moved: the shot shows it
    frame = screen.frame("terminal")
    await wait_until(pilot, lambda: frame.border_subtitle == f"{second.size.width}x{second.size.height}", "the size")
    return pane, first, second


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_terminal_two_tabs_one_exited(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _two_tabs(pilot)
        await pilot.pause()

    assert snap_compare(make_app(project), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_terminal_exited_tab_shown(snap_compare: Any, project: Config, size: tuple[int, int]) -> None:
    """Back on tab 1: its screen says the code and how to restart."""

    async def run_before(pilot: Pilot[Any]) -> None:
        pane, first, _second = await _two_tabs(pilot)
        pane.activate(first, focus=True)
        await wait_until(pilot, lambda: first.has_focus and any("code 3" in line for line in shown(first)))
        await pilot.pause()

    assert snap_compare(make_app(project), terminal_size=size, run_before=run_before)


@pytest.fixture
def detached(config: Config) -> Iterator[Config]:
    """`api-server` with one shell in the session host that no app shows: its prompt `$ `, its screen cleared,
    then PRINTF's output."""
    seed(config, COMMITTED, files={"main.py": MAIN_PY})

    async def leave_a_shell() -> None:
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label, session_host=True)
        service = SandboxService(provider, config)
        try:
            (info,) = await service.list_sandboxes()
            term = await service.open_terminal(info.id, 80, 24)
            out = Reader(term)
            await term.write(NORMALISE.encode() + b"\n")
            await out.wait_for(b"\033[3J")
            await term.write(PRINTF.encode() + b"\n")
            await out.wait_for(b"not markup[/]\r\n")
            await wait_until(None, lambda: out.buf.endswith(b"$ "), "the prompt after the printf")
            out.stop()
            await term.detach()  # type: ignore[attr-defined]
        finally:
            service.audit.close()
            await service.close()

    asyncio.run(leave_a_shell())
    yield config
    stop_host(config.data_dir)
    cleanup(config)


def test_terminal_reattached_tab(snap_compare: Any, detached: Config) -> None:
    """80x24 only: reattached into the tiled 160x48 layout (a 128x12 terminal) the replayed screen loses the
    printf's output line (`$ printf …`, `$`), a terminal defect reported with issue 15, not frozen as a frame."""
    size = (80, 24)

    async def run_before(pilot: Pilot[Any]) -> None:
        await ready(pilot, normalise=False)
        pane = workspace(pilot).query_one(TerminalPane)
        await focus(pilot, "terminal")
        view = pane.active_view
        assert view is not None
        await wait_until(
            pilot,
            lambda: len(pane.views) == 1 and view.reattached and "tab 2: hello [bold]not markup[/]" in shown(view),
            "the detached shell reattached",
            show=lambda: repr(shown(view)[:4]),
            timeout=20,
        )
        await pilot.pause()

    assert snap_compare(make_app(detached, session_host=True), terminal_size=size, run_before=run_before)

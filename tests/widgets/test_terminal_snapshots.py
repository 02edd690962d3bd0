"""Snapshots of the terminal pane over a real sandbox shell: colourful `ls`, vim editing a Python file, and a
shell that has exited (the banner), at 80x24 and 160x48; copy mode searching the scrollback beside a tab marked
for output it had out of sight.

`snap_compare` runs the app in its own event loop, so the sandbox is created there (`snap_in_sandbox`). What is on
screen comes from real programs on fixed input: files made for the test, vim with no user vimrc. The pane draws
its cursor as a steady reversed cell, so the frames hold still. The vim frame also guards a bug it found: vim
shows its cursor again after a redraw without moving it, and that row was not repainted, so no cursor showed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from services.config import Config
from services.sandbox_service import SandboxService
from tests.conftest import shown, wait_until
from tests.widgets.sandbox_snapshots import WIDE, snap_in_sandbox
from widgets.terminal import TerminalPane, TerminalView

pytestmark = pytest.mark.bwrap

PY = '''"""A module."""

import os


def greet(name: str) -> str:
    # say hello
    return f"hello {name}" * 2


class Box:
    size = 42
'''


async def _until(pilot: Pilot[None], view: TerminalView, cond: Callable[[str], bool], what: str) -> None:
    """`cond` on what the view shows, then a moment for a trailing prompt or redraw: a snapshot is taken next."""
    await wait_until(pilot, lambda: cond(shown(view)), what, timeout=20, show=lambda: shown(view))
    await pilot.pause(0.2)


async def ls_colour(pilot: Pilot[None], view: TerminalView) -> None:
    await _type(view, "mkdir -p src docs && touch README.md run.sh && chmod +x run.sh && ln -sf README.md link\r")
    await _type(view, "clear; ls --color=always -F; echo done-listing\r")
    await _until(pilot, view, lambda s: "done-listing\n" in s, "the listing")


async def vim_python(pilot: Pilot[None], view: TerminalView) -> None:
    await _type(view, "clear; vim -u DEFAULTS -i NONE -c 'syntax on' hello.py\r")
    await _until(pilot, view, lambda s: "class Box" in s and "hello.py" in s, "vim")
    await _type(view, "3GA  # edited\x1b")
    await _until(pilot, view, lambda s: "import os  # edited" in s, "the edit")


async def exited(pilot: Pilot[None], view: TerminalView) -> None:
    await _type(view, "clear; echo bye; exit 3\r")
    await _until(pilot, view, lambda s: "exited with code 3" in s, "the exit banner")


async def copy_search(pilot: Pilot[None], view: TerminalView) -> None:
    """Copy mode searching the scrollback, with a second tab that had output out of sight (its • mark)."""
    await _type(view, 'clear; for i in $(seq 1 80); do echo "build step $i"; done\r')
    await _until(pilot, view, lambda s: "build step 80\n" in s, "the output")
    pane = view.parent.parent  # type: ignore[union-attr]
    assert isinstance(pane, TerminalPane)
    other = await pane.new_tab()
    await _until(pilot, other, lambda s: s.rstrip().endswith("$"), "the second shell")
    await _type(other, "sleep 0.3; echo done in the background\r")
    pane.activate(view)
    deadline = time.monotonic() + 10
    while not other.unseen and time.monotonic() < deadline:
        await pilot.pause(0.05)
    pane.action_copy_mode()
    for key in ["slash", "4", "2", "enter"]:
        await pilot.press(key)
    await pilot.pause()


async def _type(view: TerminalView, keys: str) -> None:
    assert view.session is not None
    await view.session.write(keys.encode())


Scene = Callable[[Pilot[None], TerminalView], Awaitable[None]]


def _run(snap_compare: Any, config: Config, scene: Scene, size: tuple[int, int] = (80, 24)) -> bool:
    async def build(pilot: Pilot[None], service: SandboxService, sid: str) -> None:
        await service.write_file(sid, "hello.py", PY.encode())
        pane = TerminalPane(service, sid)
        await pilot.app.mount(pane, before=0)
        view = pane.active_view
        assert view is not None
        pane.focus()  # as the workspace's pane jump does (a new pane's first tab takes focus only from within it)
        await _until(pilot, view, lambda s: s.rstrip().endswith("$"), "the prompt")
        await scene(pilot, view)
        await pilot.pause()

    return snap_in_sandbox(snap_compare, config, build, size)


@pytest.mark.parametrize("size", [(80, 24), WIDE], ids=["80x24", "160x48"])
def test_snapshot_ls_colour(snap_compare: Any, config: Config, size: tuple[int, int]) -> None:
    assert _run(snap_compare, config, ls_colour, size)


@pytest.mark.parametrize("size", [(80, 24), WIDE], ids=["80x24", "160x48"])
def test_snapshot_vim(snap_compare: Any, config: Config, size: tuple[int, int]) -> None:
    assert _run(snap_compare, config, vim_python, size)


def test_snapshot_exited_shell(snap_compare: Any, config: Config) -> None:
    assert _run(snap_compare, config, exited)


def test_snapshot_copy_mode_search_and_a_marked_tab(snap_compare: Any, config: Config) -> None:
    assert _run(snap_compare, config, copy_search)

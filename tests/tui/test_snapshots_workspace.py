"""Snapshot tests of the real workspace (issue 11 must-show): the real explorer, editor, terminal and git panel on a
real local sandbox, at 80x24 (tabbed: the terminal's tab, and the editor's) and 160x48 (tiled), and the help screen
opened from the editor over them (every key of the real panes, the editor's group first).

Deterministic by construction: the sandbox's files and its one commit are fixed (author, committer and dates from
`IDENT`); the host-dependent fields are pinned (`PinnedProvider`); nothing shows a clock; the shell's prompt is
made `$ ` and its screen cleared before the frame is taken (the host's /etc/bash.bashrc sets its own prompt and
title), and every wait is a condition (the listing, the git status, the highlighting, the shell's output), never a
sleep. The editor's cursor does not blink in these frames. Update with
`pytest tests/tui/test_snapshots_workspace.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import INIT, sh
from tests.tui.conftest import fixed_clock
from tests.tui.test_snapshots import PinnedProvider, _cleanup
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.editor import EditorTabs
from widgets.explorer import Explorer
from widgets.git.panel import GitPanel
from widgets.status_bar import StatusBar
from widgets.terminal import TerminalPane, TerminalView

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

MAIN_PY = b'''"""A small program to edit, run and commit."""


def greet(name: str) -> str:
    return f"hello, {name}"


if __name__ == "__main__":
    print(greet("sandbox"))
'''
# the shell's own prompt and title (bash.bashrc) are the host's: replace them, clear, and say the size
NORMALISE = r"unset PROMPT_COMMAND; PS1='$ '; printf '\033]0;shell\007\033[H\033[2J\033[3J'; stty size"


@pytest.fixture
def project(config: Config) -> Iterator[Config]:
    """One running sandbox, `api-server`: main.py committed then changed, notes.txt untracked."""

    async def seed() -> None:
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        info = await service.create(SandboxSpec(name="api-server"))
        await service.write_file(info.id, "main.py", MAIN_PY)
        await sh(service, info.id, f"{INIT} && git add -A && git commit -qm 'First version'")
        await service.write_file(info.id, "main.py", MAIN_PY.replace(b'"sandbox"', b'"world"'))
        await service.write_file(info.id, "notes.txt", b"run it with: python main.py\n")
        service.audit.close()
        await provider.close()

    asyncio.run(seed())
    yield config
    asyncio.run(_cleanup(config))


def _app(config: Config) -> SandbenchApp:
    cfg = dataclasses.replace(config, theme="textual-dark")
    provider = PinnedProvider(LocalProvider(cfg.data_dir, owner_label=cfg.owner_label))
    service = SandboxService(provider, cfg)  # type: ignore[arg-type]
    return SandbenchApp(service, cfg, clock=fixed_clock, open_name="api-server", doctor=False)


def _shown(view: TerminalView) -> list[str]:
    return [line.rstrip() for line in view.screen_model.display()]


async def _ready(pilot: Pilot[Any]) -> WorkspaceScreen:
    """The workspace open, its explorer listed with git markers, its git status in, main.py open and highlighted,
    and the shell normalised; focus ends in the terminal."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, WorkspaceScreen) and app.screen.focused_pane == "editor")
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    explorer = screen.query_one(Explorer)
    git = screen.query_one(GitPanel)
    status = screen.query_one(StatusBar)
    await wait_until(pilot, lambda: [r.entry.name for r in explorer.rows] == ["main.py", "notes.txt"], timeout=20)
    await wait_until(pilot, lambda: git.status is not None and status.branch == "main", timeout=20)
    await wait_until(pilot, lambda: explorer._git.get("main.py") == "M", timeout=20)

    await pilot.press("alt+1")
    await wait_until(pilot, lambda: screen.focused_pane == "explorer" and explorer.cursor_entry is not None)
    await pilot.press("enter")  # main.py, the first row
    editor_tabs = screen.query_one(EditorTabs)
    await wait_until(pilot, lambda: editor_tabs.active_path == "main.py" and editor_tabs.active_editor is not None)
    editor = editor_tabs.active_editor
    assert editor is not None
    await wait_until(pilot, lambda: editor.has_focus and not editor.highlighter.pending, timeout=20)
    editor.cursor_blink = False

    await pilot.press("alt+3")
    pane = screen.query_one(TerminalPane)
    await wait_until(pilot, lambda: pane.active_view is not None and pane.active_view.has_focus, timeout=20)
    view = pane.active_view
    assert view is not None
    await wait_until(pilot, lambda: view.session is not None and "$" in "".join(_shown(view)), timeout=30)
    view.post_message(events.Paste(NORMALISE))
    await wait_until(pilot, lambda: "stty size" in "".join(_shown(view)))
    await pilot.press("enter")
    size = f"{view.size.height} {view.size.width}"
    await wait_until(pilot, lambda: _shown(view)[:3] == [size, "$", ""] and not any(_shown(view)[2:]), timeout=20)
    await wait_until(pilot, lambda: not status.work)
    return screen


async def _in_editor(pilot: Pilot[Any]) -> None:
    screen = await _ready(pilot)
    await pilot.press("ctrl+right_square_bracket", "alt+2")
    await wait_until(pilot, lambda: type(pilot.app.focused).__name__ == "CodeEditor")
    await wait_until(pilot, lambda: screen.frame("editor").border_subtitle != "")
    await pilot.pause()


async def _in_terminal(pilot: Pilot[Any]) -> None:
    screen = await _ready(pilot)
    await wait_until(pilot, lambda: screen.frame("terminal").border_subtitle != "")
    await pilot.pause()


def test_workspace_80x24_terminal_tab(snap_compare: Any, project: Config) -> None:
    """80x24: the terminal's tab, with `stty size` saying 18 rows (not 4)."""
    assert snap_compare(_app(project), terminal_size=(80, 24), run_before=_in_terminal)


def test_workspace_80x24_editor_tab(snap_compare: Any, project: Config) -> None:
    assert snap_compare(_app(project), terminal_size=(80, 24), run_before=_in_editor)


def test_workspace_160x48_tiled(snap_compare: Any, project: Config) -> None:
    assert snap_compare(_app(project), terminal_size=(160, 48), run_before=_in_editor)


def test_help_over_the_real_panes(snap_compare: Any, project: Config) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await _in_editor(pilot)
        await pilot.press("f1")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen")
        await pilot.pause()

    assert snap_compare(_app(project), terminal_size=(160, 48), run_before=open_help)

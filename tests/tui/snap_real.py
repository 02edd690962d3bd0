"""Building deterministic frames of the real workspace for the per-screen snapshot files
(tests/tui/test_snapshots_{explorer,editor,terminal,git,dialogs}.py).

Each test seeds one running sandbox, `api-server`, with a fixed shell script (real bwrap, real git inside the
sandbox; authors, committers and dates from `IDENT`, so commit ids are the same on every run), then opens the real
workspace on it (`SandbenchApp(open_name=...)`) with the host-dependent fields pinned (`PinnedProvider`) and a fixed
clock. `ready` waits for what a frame shows (the explorer's listing, the git status, no work in flight) and, where
the terminal is on screen (tiled layouts), makes its shell's prompt `$ ` and clears it: the host's bashrc sets its
own prompt and title. Every wait is a condition, never a sleep.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from textual import events
from textual.pilot import Pilot

from services.config import Config
from services.local.provider import LocalProvider
from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import IDENT, INIT
from tests.tui.conftest import fixed_clock
from tests.tui.test_snapshots import PinnedProvider, _cleanup
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.editor import EditorTabs
from widgets.explorer import Explorer
from widgets.git.panel import GitPanel
from widgets.status_bar import StatusBar
from widgets.terminal import TerminalPane, TerminalView

SIZES = [(80, 24), (160, 48)]
SIZE_IDS = ["80x24", "160x48"]
THEMES = ["textual-dark", "textual-light"]
NAME = "api-server"

MAIN_PY = b'''"""A small program to edit, run and commit."""

import sys


class Greeter:
    """Says hello."""

    def __init__(self, name: str = "sandbox") -> None:
        self.name = name

    def greet(self) -> str:
        return f"hello, {self.name}!"  # a comment


if __name__ == "__main__":
    print(Greeter(*sys.argv[1:2]).greet())
'''
COMMITTED = f"{INIT} && git add -A && git commit -qm 'First version'"
# the shell's own prompt and title (bash.bashrc) are the host's: replace them and clear the screen
NORMALISE = r"unset PROMPT_COMMAND; PS1='$ '; printf '\033]0;shell\007\033[H\033[2J\033[3J'"


def seed(config: Config, script: str, *args: str, files: dict[str, bytes] | None = None) -> None:
    """Create `api-server`, write `files`, then run `script` (sh, its `$1`... are `args`) in its home."""

    async def run() -> None:
        provider = LocalProvider(config.data_dir, owner_label=config.owner_label)
        service = SandboxService(provider, config)
        try:
            info = await service.create(SandboxSpec(name=NAME))
            for path, data in (files or {}).items():
                await service.write_file(info.id, path, data)
            if script:
                r = await service.exec(info.id, ["sh", "-c", script, "sh", *args], env=IDENT)
                assert r.exit_code == 0, r.stderr.decode(errors="replace")
        finally:
            service.audit.close()
            await provider.close()

    asyncio.run(run())


def cleanup(config: Config) -> None:
    asyncio.run(_cleanup(config))


def make_app(
    config: Config,
    theme: str = "textual-dark",
    *,
    open_name: str | None = NAME,
    session_host: bool = False,
    **changes: Any,
) -> SandbenchApp:
    """The app on the seeded data dir, opening `api-server`'s workspace (`open_name=None`: the sandbox list);
    `session_host`: its shells live in the session host, as the real app's do (they can be reattached)."""
    cfg = dataclasses.replace(config, theme=theme, **changes)
    provider = PinnedProvider(LocalProvider(cfg.data_dir, owner_label=cfg.owner_label, session_host=session_host))
    service = SandboxService(provider, cfg)
    return SandbenchApp(service, cfg, clock=fixed_clock, open_name=open_name, doctor=False)


def shown(view: TerminalView) -> list[str]:
    return [line.rstrip() for line in view.screen_model.display()]


def workspace(pilot: Pilot[Any]) -> WorkspaceScreen:
    """The workspace screen, also under a dialog opened over it."""
    for screen in reversed(pilot.app.screen_stack):
        if isinstance(screen, WorkspaceScreen):
            return screen
    raise AssertionError("no workspace open")


async def normalise_terminal(pilot: Pilot[Any], view: TerminalView, then: str = "") -> None:
    """Make the shell's prompt `$ `, clear its screen, then run `then` (a fixed command) and wait for its end."""
    await wait_until(pilot, lambda: view.session is not None and "$" in "".join(shown(view)), timeout=30)
    view.post_message(events.Paste(NORMALISE))
    await wait_until(pilot, lambda: "PS1=" in "".join(shown(view)))
    await pilot.press("enter")
    await wait_until(
        pilot,
        lambda: shown(view)[:2] == ["$", ""] and not any(shown(view)[1:]),
        "a cleared `$ ` prompt",
        show=lambda: repr(shown(view)[:4]),
        timeout=20,
    )
    if then:
        view.post_message(events.Paste(then))
        await wait_until(pilot, lambda: shown(view)[0] == f"$ {then}")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(line == "$" for line in shown(view)[1:]), timeout=20)


async def ready(
    pilot: Pilot[Any],
    names: Iterable[str] | None = None,
    *,
    repo: bool = True,
    marker: tuple[str, str] | None = None,
    normalise: bool = True,
) -> WorkspaceScreen:
    """The workspace open with its explorer listed (`names`, in order, when given), its git status in (or known
    not to be a repository), `marker` = (name, git marker) shown in the explorer, and — where the terminal is on
    screen — the shell normalised (unless `normalise=False`: a reattached one already is). Focus ends in the
    explorer."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, WorkspaceScreen) and app.screen.focused_pane == "editor")
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    explorer = screen.query_one(Explorer)
    git = screen.query_one(GitPanel)
    status = screen.query_one(StatusBar)
    want = list(names) if names is not None else None
    await wait_until(
        pilot,
        lambda: bool(explorer.rows) and (want is None or [r.entry.name for r in explorer.rows] == want),
        "the explorer's listing",
        show=lambda: repr([r.entry.name for r in explorer.rows]),
        timeout=20,
    )
    if repo:
        await wait_until(pilot, lambda: git.status is not None and status.branch is not None, timeout=20)
    else:
        await wait_until(pilot, lambda: git.refreshes > 0 and git.status is None, timeout=20)
    if marker is not None:
        await wait_until(pilot, lambda: explorer._git.get(marker[0]) == marker[1], timeout=20)
    pane = screen.query_one(TerminalPane)
    await wait_until(pilot, lambda: pane.active_view is not None, timeout=20)
    view = pane.active_view
    assert view is not None
    # its shell is up in either layout: dialogs that say what keeps running count it
    await wait_until(pilot, lambda: view.session is not None, "the terminal's shell", timeout=30)
    if normalise and not screen.tabbed:
        await focus(pilot, "terminal")  # the enter that runs it is a key press
        await normalise_terminal(pilot, view)
    await focus(pilot, "explorer")
    await wait_until(pilot, lambda: not status.work)
    return screen


async def focus(pilot: Pilot[Any], pane: str) -> None:
    screen = workspace(pilot)
    key = {"explorer": "alt+1", "editor": "alt+2", "terminal": "alt+3", "git": "alt+4"}[pane]
    if screen.focused_pane == "terminal":
        await pilot.press("ctrl+right_square_bracket")
    await pilot.press(key)
    await wait_until(pilot, lambda: screen.focused_pane == pane)


async def open_in_editor(pilot: Pilot[Any], path: str) -> None:
    """Open `path` through the editor's API (what enter on the explorer's row does) and wait until it is shown;
    a text file is highlighted, focused, and its cursor does not blink."""
    screen = workspace(pilot)
    tabs = screen.query_one(EditorTabs)
    tabs.open_file(path)
    await wait_until(pilot, lambda: tabs.active_path == path, timeout=20)
    editor = tabs.active_editor
    if editor is not None:
        await wait_until(pilot, lambda: not editor.highlighter.pending, timeout=20)
        editor.cursor_blink = False
        await focus(pilot, "editor")
        editor.focus()
        await wait_until(pilot, lambda: editor.has_focus)


async def settle(pilot: Pilot[Any], done: Callable[[], object] | None = None) -> None:
    """Wait for `done` (if any), then for the app to have no workers running and a refresh."""
    if done is not None:
        await wait_until(pilot, done, timeout=20)
    await pilot.pause()

"""Keys typed right behind a pane jump go to the pane jumped to: `alt+3` then a fast `echo hi` (one read from the
terminal, as tmux delivers a typist's burst) runs in the shell, and the file open in the editor is untouched — the
focus moves after a refresh, and those keys used to be typed into the file."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual import events

from services.models import SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import shown, wait_until
from tests.tui.test_terminal_app import open_terminal
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.editor import EditorTabs

pytestmark = pytest.mark.bwrap


def burst(app: SandbenchApp, keys: list[tuple[str, str | None]]) -> None:
    """Keys queued at the app at once, as its driver posts what one read of the terminal held."""
    for key, char in keys:
        app.post_message(events.Key(key, char))


async def test_keys_typed_behind_a_pane_jump_reach_that_pane(
    service: SandboxService, make_app: Callable[..., SandbenchApp]
) -> None:
    box = await service.create(SandboxSpec(name="box"))
    await service.write_file(box.id, "a.py", b"x = 1\n")
    app = make_app(open_name="box")
    async with app.run_test(size=(120, 36)) as pilot:
        view = await open_terminal(pilot, app)  # the shell is up
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        tabs = screen.query_one("#editor", EditorTabs)
        worker = tabs.open_file("a.py")
        assert worker is not None
        await worker.wait()
        if screen.focused_pane != "editor":
            await pilot.press("ctrl+]", "alt+2")  # out of the terminal first: there alt+2 is the shell's
        await wait_until(pilot, lambda: screen.focused_pane == "editor" and tabs.active_path == "a.py")
        typed = [(c, c) if c != " " else ("space", " ") for c in "echo h''i"]
        burst(app, [("alt+3", None), *typed, ("enter", "\r")])
        await wait_until(pilot, lambda: "\nhi" in shown(view), "the command's output", show=lambda: shown(view))
        assert tabs.has_unsaved() == [], "nothing was typed into the open file"
        assert (await service.read_file(box.id, "a.py")).data == b"x = 1\n"
        assert screen.focused_pane == "terminal"

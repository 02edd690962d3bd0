"""Sandbox text is data, never markup or a crash (issue 10 §4), through the real app on a real sandbox.

- A file name and a git error holding Textual markup (`[@click=app.quit]…`) are shown literally: no action link
  is made of them, and clicking where the link would be does not quit the app.
- An unexpected exception in a git refresh goes to the app's one error route: logged with its traceback in the
  log file, one line shown; the app, its terminal and an unsaved editor buffer carry on.
- A git panel whose status call fails shows the failure in the pane (never `loading…` forever).
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Static, TextArea
from textual.widgets._toast import Toast

import services.git
from services.config import Config
from services.errors import IsolationUnavailable
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import INIT, sh
from tests.tui.conftest import fixed_clock, notifications
from tui.app import SandbenchApp
from tui.cli import setup_logging
from tui.screens.workspace import WorkspaceScreen
from widgets.editor import EditorTabs
from widgets.explorer import Explorer
from widgets.git.panel import GitPanel
from widgets.terminal import TerminalPane

pytestmark = pytest.mark.bwrap

UNEXPECTED = "unexpected error (details in the log file)"

# A file's path; as markup, an "x" that quits the app when clicked. ("/" cannot be in a name: this is the file "]"
# in the folder "[@click=app.quit]x[".)
LINK = "[@click=app.quit]x[/]"
HOOK_SAYS = "[@click=app.quit]y[/]"  # what a hook planted in the sandbox prints when it refuses a commit
HOOK = f"#!/bin/sh\necho 'error: {HOOK_SAYS}' >&2\nexit 1\n"


@pytest.fixture
def log_file(config: Config) -> Iterator[str]:
    """The app's real log file (as `sandbench` sets it up), removed from the root logger afterwards."""
    setup_logging(config)
    root = logging.getLogger()
    try:
        yield str(config.log_file)
    finally:
        for h in [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
            root.removeHandler(h)
            h.close()


async def _workspace(pilot: Any, app: SandbenchApp) -> WorkspaceScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, WorkspaceScreen) and bool(app.screen.query(GitPanel)))
    assert isinstance(app.screen, WorkspaceScreen)
    return app.screen


def _toast(app: SandbenchApp, needle: str) -> Toast | None:
    return next((t for t in app.screen.query(Toast) if needle in t.render().plain), None)


async def _click_where_the_link_would_be(pilot: Any, toast: Toast, line_start: str, column: int = 0) -> None:
    """Click `column` of the toast's message line starting with `line_start` (past a left border and one cell of
    padding, below the title line if any): read as markup, the link would be drawn there, and a click on it
    quits the app (checked on the code before the fix)."""
    lines = toast.render().plain.split("\n")
    row = next(i for i, line in enumerate(lines) if line.startswith(line_start))
    await pilot.click(toast, offset=(2 + column, 1 + row))


async def test_a_file_name_and_a_git_error_holding_markup_are_shown_literally(
    service: SandboxService, config: Config, sandbox: SandboxInfo
) -> None:
    await service.mkdir(sandbox.id, LINK.rpartition("/")[0])
    await service.write_file(sandbox.id, LINK, b"\x00\x01binary")  # binary: opens read-only, so saving refuses
    await sh(service, sandbox.id, INIT)
    await service.write_file(sandbox.id, ".git/hooks/pre-commit", HOOK.encode())
    await sh(service, sandbox.id, "chmod +x .git/hooks/pre-commit")
    app = SandbenchApp(service, config, clock=fixed_clock, open_name=sandbox.name)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:  # toasts drawn, as for a user
        p: Any = pilot
        screen = await _workspace(p, app)
        explorer = screen.query_one(Explorer)
        editor = screen.query_one(EditorTabs)
        await wait_until(p, lambda: explorer.cursor_entry is not None and app.focused is not None)
        explorer.reveal(LINK)
        await wait_until(p, lambda: explorer.cursor_entry is not None and explorer.cursor_entry.path == LINK)
        explorer.focus()
        await wait_until(p, lambda: explorer.has_focus)
        await pilot.press("enter")  # the explorer opens it in the editor
        await wait_until(p, lambda: editor.active_editor is not None and editor.active_editor.has_focus)
        assert editor.active_path == LINK
        await pilot.press("ctrl+s")  # refused: the notification names the file
        await wait_until(p, lambda: _toast(app, f"{LINK} is open read-only") is not None)
        toast = _toast(app, LINK)
        assert toast is not None
        assert not [s for s in toast.render().spans if "app.quit" in repr(s.style)]  # no action link
        await _click_where_the_link_would_be(p, toast, LINK)
        await pilot.pause()
        assert app.is_running and app.return_code is None

        panel = screen.query_one(GitPanel)
        await wait_until(p, lambda: panel.status is not None)
        panel.files.focus()
        await wait_until(p, lambda: panel.files.has_focus)
        await pilot.press("a")  # stage all
        await wait_until(p, lambda: panel.status is not None and bool(panel.status.staged))
        await pilot.press("c")  # commit: the hook refuses, and git's error quotes it
        await wait_until(p, lambda: type(app.screen).__name__ == "CommitDialog")
        await pilot.press("m", "ctrl+s")
        # the refusal shows inline in the commit dialog (the message kept), as text: markup in it stays literal
        dialog = app.screen
        error = dialog.query_one("#error", Static)
        await wait_until(p, lambda: HOOK_SAYS in str(error.render()))
        shown = error.render()
        assert f"git commit failed: error: {HOOK_SAYS}" in shown.plain  # type: ignore[union-attr]
        assert not [s for s in shown.spans if "app.quit" in repr(s.style)]  # type: ignore[union-attr]
        assert dialog.query_one(TextArea).text == "m"
        await pilot.click(error, offset=(len("git commit failed: error: ") + 1, 0))
        await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_an_unexpected_error_in_a_git_refresh_is_one_line_and_nothing_is_lost(
    service: SandboxService,
    config: Config,
    sandbox: SandboxInfo,
    log_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await service.write_file(sandbox.id, "a.txt", b"one\n")
    await sh(service, sandbox.id, INIT + " && git add a.txt && git commit -qm base")
    app = SandbenchApp(service, config, clock=fixed_clock, open_name=sandbox.name)
    async with app.run_test(size=(160, 48)) as pilot:
        p: Any = pilot
        screen = await _workspace(p, app)
        panel = screen.query_one(GitPanel)
        editor = screen.query_one(EditorTabs)
        terminal = screen.query_one(TerminalPane)
        await wait_until(p, lambda: panel.status is not None)
        editor.open_file("a.txt")
        await wait_until(p, lambda: editor.active_editor is not None and editor.active_editor.text == "one\n")
        code = editor.active_editor
        assert code is not None
        code.focus()
        await pilot.press("z", "z")
        assert editor.has_unsaved()

        def broken(*args: object, **kwargs: object) -> object:
            raise ValueError("porcelain line 3: cannot parse '/host/secret/path'")

        monkeypatch.setattr(services.git, "parse_status", broken)
        panel.request_refresh()
        await wait_until(p, lambda: UNEXPECTED in notifications(app))

        assert app.is_running and app.return_code is None
        assert [n for n in notifications(app) if "porcelain" in n or "/host" in n] == []
        assert notifications(app).count(UNEXPECTED) == 1
        header = panel.query_one("#git-header", Static)
        assert UNEXPECTED in str(header.render())
        logged = open(log_file, encoding="utf-8").read()
        assert "Traceback (most recent call last)" in logged and "ValueError: porcelain line 3" in logged

        # the unsaved buffer is intact, and the terminal still echoes
        assert code.text == "zzone\n" and editor.has_unsaved()
        view = terminal.active_view
        assert view is not None
        await wait_until(p, lambda: "$" in "\n".join(view.screen_model.display()))
        view.focus()
        for ch in "echo ok-$((6*7))":
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_until(p, lambda: "ok-42" in "\n".join(view.screen_model.display()))


async def test_a_git_pane_whose_first_status_call_fails_shows_why(
    service: SandboxService, config: Config, sandbox: SandboxInfo, provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sh(service, sandbox.id, INIT)

    def unavailable() -> None:
        raise IsolationUnavailable(
            "bubblewrap is not available (install the 'bubblewrap' package): sandbox processes cannot run"
        )

    # from here on every process in the sandbox fails to start, as on a machine without a working bwrap
    monkeypatch.setattr(provider.launcher, "check_allowed", unavailable)
    app = SandbenchApp(service, config, clock=fixed_clock, open_name=sandbox.name)
    async with app.run_test(size=(160, 48)) as pilot:
        p: Any = pilot
        screen = await _workspace(p, app)
        header = screen.query_one(GitPanel).query_one("#git-header", Static)
        await wait_until(p, lambda: "git status failed" in str(header.render()))
        assert "bubblewrap is not available" in str(header.render())
        assert "loading" not in str(header.render())
        assert any("bubblewrap is not available" in n for n in notifications(app))
        assert app.is_running

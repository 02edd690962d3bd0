"""Long errors open in full (issue 15 "Errors"): a commit a real pre-commit hook refuses with 200 lines, and a push
a real pre-receive hook on a local bare remote refuses with 200 lines, each show one line (the notification, the
commit dialog's inline line) that names the details key, and the details view shows every line the hook printed,
literally — markup, action links and ESC sequences in them stay inert text. Real git in a real sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Log, Static

from services.git import GitService
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import IDENT, INIT, sh
from tests.services.test_git_remote import SETUP_BARE
from tests.widgets.test_git_panel import settle
from widgets.error_details import ERROR_DETAILS_KEY, ErrorDetailsScreen
from widgets.git.dialogs import CommitDialog
from widgets.git.panel import GitPanel
from widgets.keys import bindings
from widgets.messages import ErrorRoute, history

pytestmark = pytest.mark.bwrap

# 200 lines, each with markup, an action link and an ESC colour sequence: all of it must show as typed
HOOK = b"""#!/bin/sh
i=1
while [ $i -le 200 ]; do
  printf 'hook line %03d [b]not bold[/b] [@click=app.quit()]quit[/] \\033[31mred\\n' $i >&2
  i=$((i+1))
done
exit 1
"""


def hook_line(i: int) -> str:
    return f"hook line {i:03d} [b]not bold[/b] [@click=app.quit()]quit[/] \u241b[31mred"  # ESC as ␛


class RouteApp(ErrorRoute, App[None]):
    """The git panel on `repo_dir`, with the real app's error route and its details key."""

    BINDINGS = bindings((ERROR_DETAILS_KEY,))

    def __init__(self, service: SandboxService, sandbox_id: str, repo_dir: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.repo_dir = repo_dir

    def compose(self) -> ComposeResult:
        git = GitService(self.service, self.sandbox_id, repo_dir=self.repo_dir, env=IDENT)
        yield GitPanel(self.service, self.sandbox_id, git=git, id="git")


def error_notes(app: App[Any]) -> list[str]:
    return [str(n.message) for n in app._notifications if n.severity == "error"]


async def open_details(pilot: Any, app: App[Any]) -> Log:
    await pilot.press("shift+f2")
    await wait_until(pilot, lambda: isinstance(app.screen, ErrorDetailsScreen), "the details view")
    return app.screen.query_one(Log)


def assert_all_lines_literal(log: Log, prefix: str = "") -> None:
    shown = [line.removeprefix(prefix) for line in log.lines]
    hooked = [line for line in shown if line.startswith("hook line")]
    assert hooked == [hook_line(i) for i in range(1, 201)]
    # drawn as text: the first hook line on screen carries its brackets and the control picture
    drawn = [log.render_line(y).text for y in range(log.size.height)]
    assert any(prefix + hook_line(1) in row for row in drawn), drawn


async def test_a_commit_refused_by_a_hook_with_200_lines_shows_them_all(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(service, sandbox.id, INIT, cwd="repo")
    await service.write_file(sandbox.id, "repo/a.txt", b"a\n")
    await service.write_file(sandbox.id, "repo/.git/hooks/pre-commit", HOOK)
    await sh(service, sandbox.id, "chmod +x .git/hooks/pre-commit && git add -A", cwd="repo")
    app = RouteApp(service, sandbox.id, "repo")
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(GitPanel)
        await settle(pilot, panel)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CommitDialog), "the commit dialog")
        dialog = app.screen
        await pilot.press(*"keep me", "ctrl+s")
        await wait_until(pilot, lambda: error_notes(app), "the refusal's notification")
        inline = str(dialog.query_one("#error", Static).render())
        # one line each, the key named; the message typed is still in the dialog
        assert "details: shift+f2" in inline and "\n" not in inline.strip()
        (note,) = error_notes(app)
        assert note.endswith("shift+f2 details") and "\n" not in note and len(note) < 300
        log = await open_details(pilot, app)
        assert_all_lines_literal(log)
        assert app.is_running  # the [@click=app.quit()] in the text did nothing
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is dialog, "back to the dialog")
        assert dialog.query_one("TextArea").text == "keep me"  # type: ignore[attr-defined]


async def test_a_push_a_pre_receive_hook_rejects_shows_its_200_lines(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await sh(service, sandbox.id, SETUP_BARE, "remote.git")
    await service.write_file(sandbox.id, "remote.git/hooks/pre-receive", HOOK)
    await sh(service, sandbox.id, "chmod +x remote.git/hooks/pre-receive")
    home = await sh(service, sandbox.id, 'printf %s "$HOME"')
    await sh(service, sandbox.id, f"git clone -q {home}/remote.git work")
    await sh(service, sandbox.id, "printf 'two\\n' > f && git add f && git commit -qm two", cwd="work")
    app = RouteApp(service, sandbox.id, "work")
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(GitPanel)
        await settle(pilot, panel)
        await pilot.press("P")
        await wait_until(pilot, lambda: error_notes(app), "the rejection's notification", timeout=30)
        (note,) = error_notes(app)
        assert "hook" in note and note.endswith("shift+f2 details") and "\n" not in note
        log = await open_details(pilot, app)
        assert_all_lines_literal(log, prefix="remote: ")
        assert len(history(app)) == 1

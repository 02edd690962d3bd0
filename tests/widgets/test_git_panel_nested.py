"""A workspace whose repository is in a folder (what `git clone URL` leaves: `proj/.git`): the git panel says so
instead of only "not a git repository  i: init", `o` follows that repository (its changes, its branch, the
explorer's markers under `proj/`), and `i` says which folder it would make a repository and what becomes of the one
inside. Before, the panel offered only to init the top folder, which would record `proj` as a bare gitlink."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import INIT, sh
from widgets.dialogs import ChoiceDialog, ConfirmDialog
from widgets.git.header import GitHeader
from widgets.git.panel import GitPanel
from widgets.messages import ErrorRoute

pytestmark = pytest.mark.bwrap


class PanelApp(ErrorRoute, App[None]):
    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.changes: list[GitPanel.StatusChanged] = []

    def compose(self) -> ComposeResult:
        yield GitPanel(self.service, self.sandbox_id, id="git")  # the workspace's own: its top folder

    def on_git_panel_status_changed(self, message: GitPanel.StatusChanged) -> None:
        self.changes.append(message)


def header(app: App[None]) -> str:
    return str(app.query_one(GitHeader).render().plain)


async def test_a_cloned_folder_is_offered_and_followed(service: SandboxService, sandbox: SandboxInfo) -> None:
    for repo in ("proj", "second"):
        await service.mkdir(sandbox.id, repo)
        await sh(service, sandbox.id, f"{INIT} && git commit -q --allow-empty -m first", cwd=repo)
    await service.write_file(sandbox.id, "proj/new.txt", b"hello\n")
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(GitPanel)
        await wait_until(
            pilot, lambda: "2 inside: o opens it" in header(app), "the repositories offered", show=lambda: header(app)
        )
        assert panel.check_action("open_nested", ())

        await pilot.press("i")  # the init question names the folder and the repositories inside it
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the init question")
        question = " ".join(str(s.render()) for s in app.screen.query(".dialog-message").results(Static))
        assert "the workspace's top folder" in question and "proj/, second/ inside" in question, question
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), "the question gone")

        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceDialog), "which repository")
        await pilot.click("#choice-0")  # proj/
        await wait_until(pilot, lambda: panel.status is not None, "proj's status", show=lambda: header(app))
        assert header(app).startswith("proj/ · ⎇ main"), header(app)
        # the explorer's paths stay the workspace's (the status of proj/ reaches it in a message of its own)
        want = {"proj/new.txt": "?"}
        await wait_until(pilot, lambda: bool(app.changes) and app.changes[-1].markers == want, "proj's markers")
        assert not panel.not_repo and not panel.check_action("init", ())

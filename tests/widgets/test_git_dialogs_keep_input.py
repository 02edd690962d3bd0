"""A branch name git refuses comes back into the New branch dialog (issue 11 §3): inline, the field focused and
still holding what was typed; fixed in place it is created. Real git inside a real sandbox."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services.test_git import INIT, sh
from tests.widgets.test_git_panel import PanelApp, settle
from widgets.dialogs import InputDialog
from widgets.git.branches import BranchScreen
from widgets.git.panel import GitPanel


@pytest.mark.bwrap
async def test_a_rejected_branch_name_keeps_the_text(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(service, sandbox.id, INIT, cwd="repo")
    await service.write_file(sandbox.id, "repo/a.txt", b"a\n")
    await sh(service, sandbox.id, "git add -A && git commit -qm base", cwd="repo")
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(GitPanel)
        await settle(pilot, panel)
        await pilot.press("b")
        for _ in range(100):
            if isinstance(app.screen, BranchScreen):
                break
            await pilot.pause(0.05)
        await pilot.press("n")
        for _ in range(100):
            if isinstance(app.screen, InputDialog):
                break
            await pilot.pause(0.05)
        dialog = app.screen
        field = dialog.query_one(Input)
        await pilot.press(*"bad..name", "enter")
        for _ in range(200):
            if "not a valid branch name" in str(dialog.query_one("#error", Static).render()):
                break
            await pilot.pause(0.05)
        assert app.screen is dialog and field.value == "bad..name" and app.focused is field
        field.value = "good-name"
        await pilot.press("enter")
        for _ in range(200):
            if panel.status is not None and panel.status.branch == "good-name":
                break
            await pilot.pause(0.05)
        assert panel.status is not None and panel.status.branch == "good-name"


@pytest.mark.bwrap
async def test_a_refused_commit_keeps_the_message(service: SandboxService, sandbox: SandboxInfo) -> None:
    from textual.widgets import TextArea

    from widgets.git.dialogs import CommitDialog

    await service.mkdir(sandbox.id, "repo")
    await sh(service, sandbox.id, INIT, cwd="repo")
    await service.write_file(sandbox.id, "repo/a.txt", b"a\n")
    # a pre-commit hook that refuses (it runs inside the sandbox, as every git hook does)
    await service.write_file(sandbox.id, "repo/.git/hooks/pre-commit", b"#!/bin/sh\necho no >&2\nexit 1\n")
    await sh(service, sandbox.id, "chmod +x .git/hooks/pre-commit && git add -A", cwd="repo")
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(GitPanel)
        await settle(pilot, panel)
        await pilot.press("c")
        for _ in range(100):
            if isinstance(app.screen, CommitDialog):
                break
            await pilot.pause(0.05)
        dialog = app.screen
        await pilot.press(*"my careful message", "ctrl+s")
        error = dialog.query_one("#error", Static)
        for _ in range(200):
            text = str(error.render())
            if text and "committing" not in text:
                break
            await pilot.pause(0.05)
        assert app.screen is dialog and str(error.render())  # refused, said in the dialog
        area = dialog.query_one(TextArea)
        assert area.text == "my careful message" and app.focused is area
        await sh(service, sandbox.id, "rm .git/hooks/pre-commit", cwd="repo")
        await pilot.press("ctrl+s")  # the cause removed: the same message commits
        for _ in range(200):
            if app.screen is not dialog:
                break
            await pilot.pause(0.05)
        assert app.screen is not dialog
    log = await sh(service, sandbox.id, "git log -1 --format=%s", cwd="repo")
    assert log.strip() == "my careful message"

"""The diff screen's hunk changes, end to end over the real service and git: `d` discards the selected hunk after
asking, and only it, and the diff reloads without it."""

from __future__ import annotations

from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services.test_git import INIT, sh
from tests.tui.conftest import wait_for
from tests.widgets.test_git_panel_workflow import TWO_HUNKS, PanelApp, ready, refreshed
from widgets.dialogs import ConfirmDialog
from widgets.diff_view import DiffView
from widgets.git.diff_screen import GitDiffScreen


async def test_d_discards_the_selected_hunk_after_asking(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(service, sandbox.id, INIT, cwd="repo")
    await service.write_file(sandbox.id, "repo/code.py", TWO_HUNKS.encode())
    await sh(service, sandbox.id, "git add -A && git commit -qm base", cwd="repo")
    lines = TWO_HUNKS.splitlines(keepends=True)
    lines[1] = "value_1 = 'first'\n"
    lines[35] = "value_35 = 'second'\n"
    await service.write_file(sandbox.id, "repo/code.py", "".join(lines).encode())
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 40)) as pilot:
        panel = await ready(pilot, app)
        assert panel.files.select_path("code.py", "unstaged")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GitDiffScreen))
        view = app.screen.query_one(DiffView)
        await wait_for(pilot, lambda: view.hunk_count == 2, timeout=20)
        await pilot.press("n", "d")  # the second hunk
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        n = panel.refreshes
        await pilot.press("y")  # a dangerous confirmation: enter would take the focused Cancel
        await refreshed(pilot, panel, n)
        await wait_for(pilot, lambda: view.hunk_count == 1, timeout=20)  # the diff reloaded without it
        text = (await service.read_file(sandbox.id, "repo/code.py")).data.decode()
        assert "value_1 = 'first'" in text and "value_35 = 35\n" in text and "second" not in text

"""Keys typed fast behind a git panel key whose dialog needs something read first reach that dialog, never the
panel: `A` (amend) read the last commit's message before pushing its dialog, and `c` during a merge git's merge
message, so `Afix` in one read ran f (fetch) i x in the panel and the words were lost. Each dialog now opens at
once and reads its message itself, putting it after what was typed. Real app, real sandbox, real git."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from services.models import SandboxInfo, SandboxSpec
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import INIT, sh
from tests.tui.conftest import workspace_up
from tests.tui.test_list_typed_ahead import burst
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.git.dialogs import CommitDialog
from widgets.git.panel import GitPanel

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]


@pytest.fixture
async def box(service: SandboxService) -> SandboxInfo:
    info = await service.create(SandboxSpec(name="box"))
    await service.write_file(info.id, "main.py", b"print('hi')\n")
    await sh(service, info.id, f"{INIT} && git add -A && git commit -qm 'the first words'")
    return info


async def git_panel(pilot: Pilot[Any], app: SandbenchApp) -> GitPanel:
    await wait_until(pilot, lambda: workspace_up(app))
    screen = app.screen
    assert isinstance(screen, WorkspaceScreen)
    await wait_until(pilot, lambda: screen.focused_pane == "editor")  # before that, keys may reach the shell
    await pilot.press("alt+4")
    await wait_until(pilot, lambda: screen.focused_pane == "git")
    panel = screen.query_one("#git", GitPanel)
    await wait_until(pilot, lambda: panel.status is not None)
    return panel


async def dialog_text(pilot: Pilot[Any], app: SandbenchApp, want: str) -> CommitDialog:
    await wait_until(pilot, lambda: isinstance(app.screen, CommitDialog) and app.screen.is_mounted)
    dialog = app.screen
    assert isinstance(dialog, CommitDialog)
    area = dialog.query_one(TextArea)
    await wait_until(pilot, lambda: area.text == want and not dialog.reading, show=lambda: repr(area.text))
    return dialog


async def test_words_typed_fast_after_amend_go_into_its_message(
    box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app(open_name="box")
    async with app.run_test(size=(120, 40)) as pilot:
        await git_panel(pilot, app)
        burst(app, "A", "f", "i", "x", " ")
        # typed at the top, the last message after them: where the cursor starts when the message is there at once
        dialog = await dialog_text(pilot, app, "fix the first words")
        area = dialog.query_one(TextArea)
        assert area.cursor_location == (0, 4) and app.focused is area
        assert "Amend the last commit" in str(dialog.query_one(".dialog-title").render())


async def test_amend_then_ctrl_s_fast_keeps_the_last_message(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    """`A` ctrl+s in one read (amend staged changes, message as it was): the commit waits for the message to be
    read, and the commit keeps it whole (committed empty-handed it would have been refused, or cut short)."""
    await service.write_file(box.id, "more.py", b"x = 1\n")
    await sh(service, box.id, "git add -A")
    app = make_app(open_name="box")
    async with app.run_test(size=(120, 40)) as pilot:
        panel = await git_panel(pilot, app)
        await wait_until(pilot, lambda: panel.status is not None and bool(panel.status.staged))
        burst(app, "A", "ctrl+s")
        await wait_until(pilot, lambda: panel.status is not None and not panel.status.staged, timeout=30)
        assert not isinstance(app.screen, CommitDialog)
        messages = await sh(service, box.id, "git log --format=%B%x00")
        files = await sh(service, box.id, "git show --name-only --format= HEAD")
    assert [m.strip() for m in messages.split("\0")[:-1]] == ["the first words"], messages  # one commit, same words
    assert files.split() == ["main.py", "more.py"]


async def test_words_typed_fast_after_c_in_a_merge_go_before_its_message(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    await sh(
        service,
        box.id,
        "git checkout -qb side && echo s > side.txt && git add -A && git commit -qm side && git checkout -q main"
        " && echo m > main.txt && git add -A && git commit -qm main && git merge --no-ff --no-commit side >/dev/null",
    )
    app = make_app(open_name="box")
    async with app.run_test(size=(120, 40)) as pilot:
        panel = await git_panel(pilot, app)
        await wait_until(pilot, lambda: panel.merging)
        burst(app, "c", "o", "k", " ")
        await dialog_text(pilot, app, "ok Merge branch 'side'")

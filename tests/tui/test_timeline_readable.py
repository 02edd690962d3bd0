"""The Timeline reads as what the user did (issue 13, a new user's first try at 80x24), through the real app on a
real local sandbox: a git entry shows the subcommand, not the app's own `--no-pager -c …` options; a failed operation
says its error's title, not a class name; a command with no checkpoints around it gives one answer about its files;
the help says what the Timeline shows (and that a terminal's typing is not in it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets import Static

from services.errors import AlreadyExists
from services.git import GitService
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.tui.test_timeline_app import open_from_list, shown
from tui.app import SandbenchApp
from tui.keymap import LIST_KEYS, WORKSPACE_KEYS
from widgets.diff_view import DiffView
from widgets.timeline_list import outcome

pytestmark = pytest.mark.bwrap

IDENT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}


async def test_git_rows_show_the_subcommand_and_errors_their_title(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    git = GitService(service, box.id, env=IDENT)
    await git.init()
    await service.write_file(box.id, "a.txt", b"1\n")
    await service.write_file(box.id, "b.txt", b"2\n")
    await git.stage("a.txt")
    await git.commit("first commit")
    with pytest.raises(AlreadyExists):
        await service.move(box.id, "a.txt", "b.txt")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        await pilot.press("i")  # git's own probes are internal: show everything
        await wait_until(pilot, lambda: any(w.startswith("git commit") for w in [e.what for e in screen.timeline.rows]))
        whats = [e.what for e in screen.timeline.rows]
        gits = [w for w in whats if w.startswith("git")]
        assert gits and not [w for w in gits if "--no-pager" in w or "color.ui" in w], gits
        assert "git add -A -- a.txt" in gits and any(w.startswith("git commit ") for w in gits), gits
        # the failed move: its row says what went wrong in words
        index = next(i for i, e in enumerate(screen.timeline.rows) if e.op == "move")
        assert outcome(screen.timeline.rows[index]) == ("✗ exists", "timeline--error")
        screen.timeline.move_cursor(index)
        await pilot.press("enter")
        head = screen.query_one("#detail-head", Static)
        await wait_until(pilot, lambda: "by you" in shown(head), show=lambda: shown(head))
        assert "✗ Already exists" in shown(head) and "AlreadyExists" not in shown(head)
        # a git entry's details keep the whole command line as it ran
        commit = next(i for i, e in enumerate(screen.timeline.rows) if e.what.startswith("git commit"))
        screen.timeline.move_cursor(commit)
        await wait_until(pilot, lambda: "as run: git --no-pager" in shown(head), show=lambda: shown(head))


async def test_a_command_without_checkpoints_gives_one_answer_about_its_files(
    service: SandboxService, box: SandboxInfo, make_app: Callable[..., SandbenchApp]
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_from_list(pilot, app)
        await service.exec(box.id, ["touch", "made"])
        await wait_until(pilot, lambda: bool(screen.timeline.rows) and screen.timeline.rows[0].what == "touch made")
        await pilot.press("home", "enter")
        files = screen.query_one("#detail-files", Static)
        await wait_until(pilot, lambda: "unknown" in shown(files), show=lambda: shown(files))
        assert not screen.query_one(DiffView).display  # no "no changes" under "unknown"


def test_the_help_says_what_the_timeline_shows() -> None:
    for keys in (LIST_KEYS, WORKSPACE_KEYS):
        key = next(k for k in keys if k.id.endswith(".timeline"))
        assert not key.tooltip.startswith("Everything")
        assert "not what is typed in a terminal" in key.tooltip

"""Pilot tests of the git panel over a real repository inside a real local sandbox."""

from __future__ import annotations

import asyncio

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import OptionList

from services.git import GitService
from services.git_parse import DiffFile, FileStatus, GitStatus, parse_diff
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.conftest import wait_until
from tests.services.test_git import IDENT, INIT, sh
from widgets.dialogs import ConfirmDialog
from widgets.diff_view import DiffView, build_rows
from widgets.git.branches import BranchScreen
from widgets.git.dialogs import CommitDialog, summary_hint
from widgets.git.diff_screen import GitDiffScreen
from widgets.git.header import header_text
from widgets.git.log import LogScreen
from widgets.git.panel import GitPanel
from widgets.git.stash import StashScreen
from widgets.messages import ErrorRoute


class PanelApp(ErrorRoute, App[None]):  # failures take the real app's one error route
    def __init__(self, service: SandboxService, sandbox_id: str) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.changes: list[GitPanel.StatusChanged] = []

    def compose(self) -> ComposeResult:
        git = GitService(self.service, self.sandbox_id, repo_dir="repo", env=IDENT)
        yield GitPanel(self.service, self.sandbox_id, git=git, id="git")

    def on_git_panel_status_changed(self, message: GitPanel.StatusChanged) -> None:
        self.changes.append(message)


async def settle(pilot: object, panel: GitPanel, at_least: int = 1) -> None:
    for _ in range(200):
        if panel.refreshes >= at_least and not panel.app.workers:
            return
        await pilot.pause(0.05)  # type: ignore[attr-defined]
    raise AssertionError("the panel did not settle")


def rows(panel: GitPanel) -> list[tuple[str, str | None]]:
    return [(r.section, r.entry.path if r.entry else None) for r in panel.files.rows]


TWO_HUNKS = "".join(f"value_{i} = {i}\n" for i in range(40))


@pytest.mark.bwrap
async def test_stage_a_file_a_hunk_commit_log_and_switch_branch(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(service, sandbox.id, INIT, cwd="repo")
    await service.write_file(sandbox.id, "repo/code.py", TWO_HUNKS.encode())
    await sh(service, sandbox.id, "git add -A && git commit -qm base && git branch other", cwd="repo")
    lines = TWO_HUNKS.splitlines(keepends=True)
    lines[1] = "value_1 = 'first'\n"
    lines[35] = "value_35 = 'second'\n"
    await service.write_file(sandbox.id, "repo/code.py", "".join(lines).encode())
    await service.write_file(sandbox.id, "repo/new file.txt", b"new\n")
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(GitPanel)
        await settle(pilot, panel)
        assert rows(panel) == [
            ("staged", None),
            ("unstaged", None),
            ("unstaged", "code.py"),
            ("untracked", None),
            ("untracked", "new file.txt"),
        ]
        assert app.changes[-1].markers == {"repo/code.py": "M", "repo/new file.txt": "?"}
        assert app.changes[-1].branch == "main"
        panel.files.focus()
        # stage the untracked file with space
        assert panel.files.select_path("new file.txt")
        n = panel.refreshes
        await pilot.press("space")
        await settle(pilot, panel, n + 1)
        assert ("staged", "new file.txt") in rows(panel)
        # open the diff of code.py, go to the second hunk, stage only it
        assert panel.files.select_path("code.py", "unstaged")
        await pilot.press("enter")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, GitDiffScreen)
        view = screen.query_one(DiffView)
        for _ in range(50):
            if view.hunk_count == 2:
                break
            await pilot.pause(0.05)
        assert view.hunk_count == 2
        await pilot.press("n")
        assert view.current_index == 1
        n = panel.refreshes
        await pilot.press("space")
        await settle(pilot, panel, n + 1)
        for _ in range(50):
            if view.hunk_count == 1:
                break
            await pilot.pause(0.05)
        assert view.hunk_count == 1
        await pilot.press("escape")
        assert ("staged", "code.py") in rows(panel) and ("unstaged", "code.py") in rows(panel)
        staged = await panel.git.diff("code.py", staged=True)
        assert [h.added for h in staged[0].hunks] == [1] and "+value_35 = 'second'" in staged[0].hunks[0].lines
        # commit with the message editor
        await pilot.press("c")
        await pilot.pause(0.2)
        assert isinstance(app.screen, CommitDialog)
        n = panel.refreshes
        await pilot.press(*"second hunk and a file")
        await pilot.press("ctrl+s")
        await settle(pilot, panel, n + 1)
        assert [r for r in rows(panel) if r[0] == "staged"] == [("staged", None)]
        # it is in the log
        await pilot.press("l")
        await pilot.pause(0.5)
        assert isinstance(app.screen, LogScreen)
        assert [c.summary for c in app.screen.commits] == ["second hunk and a file", "base"]
        await pilot.press("escape")
        # switch branch: stash the rest first (S), then b, pick "other"
        n = panel.refreshes
        await pilot.press("S")
        await settle(pilot, panel, n + 1)
        assert panel.status is not None and panel.status.clean and panel.status.stash_count == 1
        await pilot.press("b")
        await pilot.pause(0.5)
        branch_screen = app.screen
        assert isinstance(branch_screen, BranchScreen)
        n = panel.refreshes
        names = [b.name for b in branch_screen.branches]
        branch_screen.query_one("#branches", OptionList).highlighted = names.index("other")
        await pilot.press("enter")
        await settle(pilot, panel, n + 1)
        assert panel.status is not None and panel.status.branch == "other"
        assert app.changes[-1].branch == "other"


@pytest.mark.bwrap
async def test_not_a_repository_offers_init(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "repo")
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(GitPanel)
        await settle(pilot, panel)
        assert panel.not_repo and app.changes[-1].status is None and app.changes[-1].markers == {}
        assert panel.check_action("init", ()) and not panel.check_action("commit", ())
        await pilot.press("i")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await settle(pilot, panel, 2)
        assert not panel.not_repo and panel.status is not None and panel.status.initial


def test_sandbox_text_is_plain_never_markup() -> None:
    st = GitStatus(branch="[bold red]x\x1b[31m", oid="0" * 40, upstream="o/[link=x]y")
    t = header_text(st)
    assert isinstance(t, Text) and "[bold red]x\\x1b[31m" in t.plain and "[link=x]" in t.plain
    assert not any("link" in str(s.style) for s in t.spans)
    rows_ = build_rows(parse_diff(b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-\x1b]0;pwn\x07\n+[b]ok[/b]\n"))
    assert [r.text for r in rows_][-2:] == ["-\u241b]0;pwn\u2407", "+[b]ok[/b]"]


def test_summary_hint_lengths() -> None:
    assert "summary 5/50" in summary_hint("hello").plain
    assert "over 72" in summary_hint("x" * 80).plain
    assert "second line" in summary_hint("summary\nnot blank").plain


def test_every_binding_has_an_id_description_and_tooltip() -> None:
    from widgets.git.status_list import StatusList

    for cls in (GitPanel, StatusList, GitDiffScreen, BranchScreen, LogScreen, StashScreen, CommitDialog, DiffView):
        for b in cls.BINDINGS:
            assert b.id and b.description and b.tooltip, (cls.__name__, b.key)  # type: ignore[union-attr]


@pytest.mark.bwrap
async def test_stash_list_new_apply_pop_and_drop(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(service, sandbox.id, INIT + " && echo 0 > a.txt && git add -A && git commit -qm base", cwd="repo")
    await sh(
        service,
        sandbox.id,
        "echo 1 > a.txt && git stash push -qm one && echo 2 > a.txt && git stash push -qm 'two [b]x[/b]'",
        cwd="repo",
    )
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(GitPanel)
        await settle(pilot, panel)
        assert panel.status is not None and panel.status.stash_count == 2
        panel.files.focus()

        async def open_list() -> StashScreen:
            await pilot.press("s")
            for _ in range(100):
                if isinstance(app.screen, StashScreen) and app.screen.loaded and not app.workers:
                    return app.screen
                await pilot.pause(0.05)
            raise AssertionError("the stash list did not load")

        screen = await open_list()
        assert [s.message.rsplit(": ", 1)[-1] for s in screen.stashes] == ["two [b]x[/b]", "one"]
        # drop "one" (asks first: n keeps it, y drops it)
        screen.query_one(OptionList).highlighted = 1
        await pilot.press("d")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert len(screen.stashes) == 2
        await pilot.press("d")
        await pilot.pause(0.2)
        await pilot.press("y")
        for _ in range(100):
            if len(screen.stashes) == 1 and not app.workers:
                break
            await pilot.pause(0.05)
        assert [s.message.rsplit(": ", 1)[-1] for s in screen.stashes] == ["two [b]x[/b]"]
        # apply (enter) keeps it and closes the list
        n = panel.refreshes
        await pilot.press("enter")
        await settle(pilot, panel, n + 1)
        assert not isinstance(app.screen, StashScreen)
        assert panel.status is not None and panel.status.stash_count == 1
        assert [e.path for e in panel.status.unstaged] == ["a.txt"]
        assert (await service.read_file(sandbox.id, "repo/a.txt")).data == b"2\n"
        # n in the list stashes the changes with a message
        screen = await open_list()
        await pilot.press("n")
        await pilot.pause(0.2)
        await pilot.press(*"mine", "enter")
        for _ in range(100):
            if len(screen.stashes) == 2 and not app.workers:
                break
            await pilot.pause(0.05)
        assert screen.stashes[0].message.endswith(": mine")
        # pop the older one: applied, dropped, the list closes
        screen.query_one(OptionList).highlighted = 1
        n = panel.refreshes
        await pilot.press("p")
        await settle(pilot, panel, n + 1)
        assert panel.status is not None and panel.status.stash_count == 1
        assert (await service.read_file(sandbox.id, "repo/a.txt")).data == b"2\n"


@pytest.mark.bwrap
async def test_the_highlighted_files_diff_is_prefetched_and_enter_paints_from_memory(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(
        service,
        sandbox.id,
        INIT + " && echo 0 > a.txt && echo 0 > b.txt && git add -A && git commit -qm base",
        cwd="repo",
    )
    await sh(service, sandbox.id, "echo 1 > a.txt && echo 1 > b.txt", cwd="repo")
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(GitPanel)
        await settle(pilot, panel)
        calls: list[str] = []
        real = panel.git.diff_for

        async def counted(entry: FileStatus, *, staged: bool) -> list[DiffFile]:
            calls.append(entry.path)
            return await real(entry, staged=staged)

        panel.git.diff_for = counted  # type: ignore[method-assign]
        panel.files.focus()
        assert panel.files.select_path("a.txt")
        await pilot.press("down", "up", "down")  # quick moves: usually no git diff until the cursor rests
        await pilot.pause(0.1)
        await settle(pilot, panel)
        gen = panel.refreshes
        assert calls.count("b.txt") == 1  # fetched once however the cursor came and went
        # the prefetch is a task of the panel's, not a worker: settled is not the same as fetched
        await wait_until(pilot, lambda: panel._diffs[("b.txt", "unstaged", gen)].done(), "b.txt's diff prefetched")
        calls.clear()
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, GitDiffScreen)
        view = screen.query_one(DiffView)
        assert view.files and view.files[0].path == "b.txt"  # in the first frame: no worker was needed
        assert calls == []
        await pilot.press("escape")
        # a new status generation makes the cache stale: the diff is fetched again
        await panel.refresh_status()
        await pilot.pause(0.1)
        await settle(pilot, panel)
        assert calls == ["b.txt"] and list(panel._diffs) == [("b.txt", "unstaged", gen + 1)]


class _FakeGit:
    def __init__(self, files: list[DiffFile]) -> None:
        self.files = files
        self.calls = 0

    async def diff_for(self, entry: FileStatus, *, staged: bool) -> list[DiffFile]:
        self.calls += 1
        return self.files


ONE = parse_diff(b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")


@pytest.mark.parametrize("outcome", ["later", "cancelled"])
async def test_diff_screen_waits_for_a_running_prefetch_or_runs_its_own(outcome: str) -> None:
    """A prefetch still running when enter is pressed is awaited (no second git diff); one cancelled meanwhile (the
    cursor moved, a refresh made it stale) makes the screen run its own."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[list[DiffFile]] = loop.create_future()
    git = _FakeGit(ONE)
    entry = FileStatus(path="x", kind="changed", index=".", worktree="M")
    app = App[None]()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = GitDiffScreen(git, entry, staged=False, prefetched=fut)  # type: ignore[arg-type]
        await app.push_screen(screen)
        await pilot.pause(0.05)
        view = screen.query_one(DiffView)
        assert not view.files
        if outcome == "later":
            fut.set_result(ONE)
        else:
            fut.cancel()
        await pilot.pause(0.1)
        assert view.files and view.files[0].path == "x"
        assert git.calls == (0 if outcome == "later" else 1)

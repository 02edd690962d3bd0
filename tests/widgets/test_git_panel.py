"""Pilot tests of the git panel over a real repository inside a real local sandbox."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from services.git import GitService
from services.git_parse import GitStatus, parse_diff
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services.test_git import IDENT, INIT, sh
from widgets.diff_view import DiffView, build_rows
from widgets.git_panel import (
    BranchScreen,
    CommitDialog,
    GitDiffScreen,
    GitPanel,
    LogScreen,
    header_text,
    summary_hint,
)


class PanelApp(App[None]):
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
        if panel.refreshes >= at_least and not panel.app.workers:  # type: ignore[attr-defined]
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
        # switch branch: stash the rest first (s), then b, pick "other"
        n = panel.refreshes
        await pilot.press("s")
        await settle(pilot, panel, n + 1)
        assert panel.status is not None and panel.status.clean and panel.status.stash_count == 1
        await pilot.press("b")
        await pilot.pause(0.5)
        assert isinstance(app.screen, BranchScreen)
        screen = app.screen
        n = panel.refreshes
        names = [b.name for b in screen.branches]
        screen.query_one("#branches").highlighted = names.index("other")  # type: ignore[attr-defined]
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
    assert isinstance(t, Text) and "[bold red]x\u241b[31m" in t.plain and "[link=x]" in t.plain
    assert not any("link" in str(s.style) for s in t.spans)
    rows_ = build_rows(parse_diff(b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-\x1b]0;pwn\x07\n+[b]ok[/b]\n"))
    assert [r.text for r in rows_][-2:] == ["-\u241b]0;pwn\u2407", "+[b]ok[/b]"]


def test_summary_hint_lengths() -> None:
    assert "summary 5/50" in summary_hint("hello").plain
    assert "over 72" in summary_hint("x" * 80).plain
    assert "second line" in summary_hint("summary\nnot blank").plain


def test_every_binding_has_an_id_description_and_tooltip() -> None:
    from widgets.git_panel import StatusList

    for cls in (GitPanel, StatusList, GitDiffScreen, BranchScreen, LogScreen, CommitDialog, DiffView):
        for b in cls.BINDINGS:
            assert b.id and b.description and b.tooltip, (cls.__name__, b.key)  # type: ignore[union-attr]

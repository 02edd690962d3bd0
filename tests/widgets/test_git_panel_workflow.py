"""Pilot tests of the git panel finishing the workflow (issue 11 §5), each over real git in a real local sandbox:
setting a missing identity and retrying the commit, a header that never wraps, recent commits, untracked folders,
an unmistakable selected hunk, and resolving a merge conflict (or aborting the merge).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, TextArea

from services.git import GitService
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from tests.services.test_git import IDENT, INIT, sh
from tests.tui.conftest import wait_for
from tui.commands import PaneCommands
from widgets.dialogs import ConfirmDialog
from widgets.diff_view import GUTTER, DiffView
from widgets.git.conflicts import ConflictScreen
from widgets.git.dialogs import CommitDialog
from widgets.git.diff_screen import GitDiffScreen
from widgets.git.header import GitHeader
from widgets.git.identity import IdentityDialog
from widgets.git.panel import GitPanel
from widgets.git.recent import RecentCommits
from widgets.messages import ErrorRoute

pytestmark = pytest.mark.bwrap

NOW = datetime(2024, 1, 2, 6, 4, 5, tzinfo=UTC)  # three hours after IDENT's commit date


class PanelApp(ErrorRoute, App[None]):
    def __init__(self, service: SandboxService, sandbox_id: str, *, env: dict[str, str] | None = IDENT) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.env = env

    def clock(self) -> datetime:
        return NOW

    def compose(self) -> ComposeResult:
        git = GitService(self.service, self.sandbox_id, repo_dir="repo", env=self.env)
        yield GitPanel(self.service, self.sandbox_id, git=git, id="git")


async def ready(pilot: Any, app: PanelApp) -> GitPanel:
    panel = app.query_one(GitPanel)
    await wait_for(pilot, lambda: panel.refreshes >= 1 and not app.workers, timeout=20)
    panel.files.focus()
    return panel


async def refreshed(pilot: Any, panel: GitPanel, before: int) -> None:
    await wait_for(pilot, lambda: panel.refreshes > before and not panel.app.workers, timeout=20)


def notes(app: App[Any]) -> list[str]:
    return [n.message for n in app._notifications]


def palette(app: App[Any]) -> list[str]:
    return [c.title for c in PaneCommands(app.screen).commands()]


def footer_keys(app: App[Any]) -> set[str]:
    return {b.binding.description for b in app.screen.active_bindings.values() if b.binding.show and b.enabled}


# -- identity --------------------------------------------------------------------------------------------------
async def test_a_commit_without_a_name_and_email_asks_for_them_and_keeps_the_message(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await service.mkdir(sandbox.id, "repo")
    # no identity anywhere: no repo config, no author variables (the sandbox's HOME has no ~/.gitconfig)
    r = await service.exec(
        sandbox.id, ["sh", "-c", "git init -q -b main && echo a > a.txt && git add a.txt"], cwd="repo"
    )
    assert r.exit_code == 0, r.stderr
    app = PanelApp(service, sandbox.id, env=None)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await ready(pilot, app)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CommitDialog))
        await pilot.press(*"first [b]commit[/b]", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog), timeout=20)
        assert "Save" in footer_keys(app)
        # cancelled: not committed; the commit dialog says so inline and keeps the message for the next try
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CommitDialog))
        commit = app.screen
        await wait_for(pilot, lambda: "not committed" in str(commit.query_one("#error").render()))
        assert commit.query_one(TextArea).text == "first [b]commit[/b]"
        assert commit.query_one(TextArea).has_focus
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, IdentityDialog), timeout=20)
        dialog = app.screen
        await pilot.press(*"Ada Lovelace", "enter")  # enter moves on to the email
        assert dialog.query_one("#email", Input).has_focus
        await pilot.press(*"not-an-email", "enter")
        await wait_for(pilot, lambda: "not an email address" in str(dialog.query_one("#error").render()))
        assert app.screen is dialog  # refused inline: the dialog stays, with what was typed
        assert dialog.query_one("#name", Input).value == "Ada Lovelace"
        assert dialog.query_one("#email", Input).value == "not-an-email"
        await pilot.press(*"@example.com")
        n = panel.refreshes
        await pilot.press("enter")
        await refreshed(pilot, panel, n)
        assert panel.status is not None and not panel.status.initial and not panel.draft
        out = await sh(
            service, sandbox.id, "git log -1 --format='%an <%ae>|%s' && git config --local user.name", cwd="repo"
        )
        assert out == "Ada Lovelace <not-an-email@example.com>|first [b]commit[/b]\nAda Lovelace\n"


# -- header ----------------------------------------------------------------------------------------------------
BRANCH = "feature/a-rather-long-branch-name-for-a-narrow-pane"


@pytest.mark.parametrize("width", [28, 40, 100])
async def test_the_header_is_one_line_at_any_width(service: SandboxService, sandbox: SandboxInfo, width: int) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(
        service,
        sandbox.id,
        INIT + f" && echo a > a.txt && git add a.txt && git commit -qm base && git switch -qc {BRANCH}"
        " && echo b > a.txt && git stash -q && echo c > a.txt && echo u > u.txt",
        cwd="repo",
    )
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(width, 24)) as pilot:
        await ready(pilot, app)
        header = app.query_one(GitHeader)
        text = str(header.render())
        assert header.size.height == 1 and "\n" not in text
        assert len(text) <= header.content_size.width
        assert "dirty (2)" in text  # the state is never the part that is cut
        if width < 100:
            assert "…" in text and text.startswith("⎇ feature/")
        else:
            assert BRANCH in text and "stash 1" in text


async def test_the_header_fits_the_git_pane_of_the_real_workspace_at_80x24(
    service: SandboxService, config: Any, sandbox: SandboxInfo
) -> None:
    from tests.tui.conftest import fixed_clock
    from tui.app import SandbenchApp
    from tui.screens.workspace import WorkspaceScreen

    await sh(
        service,
        sandbox.id,
        INIT + f" && echo a > a.txt && git add a.txt && git commit -qm base && git switch -qc {BRANCH}"
        " && echo b > a.txt",
    )
    app = SandbenchApp(service, config, clock=fixed_clock, open_name=sandbox.name)
    async with app.run_test(size=(80, 24)) as pilot:
        p: Any = pilot
        await wait_for(p, lambda: isinstance(app.screen, WorkspaceScreen) and bool(app.screen.query(GitPanel)))
        panel = app.screen.query_one(GitPanel)
        await wait_for(p, lambda: panel.status is not None, timeout=20)
        await pilot.press("alt+4")  # the git pane (a tab beside the editor at this width)
        header = panel.query_one(GitHeader)
        await wait_for(p, lambda: header.size.width > 0)
        text = str(header.render())
        assert header.size.height == 1 and "dirty (1)" in text and len(text) <= header.content_size.width


# -- recent commits --------------------------------------------------------------------------------------------
async def test_recent_commits_are_shown_under_the_files_and_follow_head(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await service.mkdir(sandbox.id, "repo")
    script = INIT + ' && for i in 1 2 3 4 5 6; do echo $i > f.txt && git add f.txt && git commit -qm "change $i"; done'
    await sh(service, sandbox.id, script, cwd="repo")
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(60, 30)) as pilot:
        panel = await ready(pilot, app)
        recent = panel.query_one(RecentCommits)
        await wait_for(pilot, lambda: len(recent.commits) == 5)
        lines = str(recent.render()).split("\n")
        assert lines[0].startswith("Recent commits")
        head = (await sh(service, sandbox.id, "git rev-parse --short=7 HEAD", cwd="repo")).strip()
        assert lines[1].startswith(f"{head} change 6") and lines[1].endswith("3h")
        assert [ln.split()[2] for ln in lines[1:]] == ["6", "5", "4", "3", "2"]
        assert recent.region.y > panel.files.region.y and recent.size.height == 6
        # a commit made elsewhere (the terminal): the next refresh shows it; subjects are never markup
        await sh(service, sandbox.id, "echo 7 > f.txt && git commit -qam '[bold red]x\x1b[31m'", cwd="repo")
        n = panel.refreshes
        await panel.refresh_status()
        await refreshed(pilot, panel, n - 1)
        await wait_for(pilot, lambda: recent.commits and recent.commits[0].summary.startswith("[bold"))
        assert "[bold red]x\\x1b[31m" in str(recent.render()).split("\n")[1]


# -- untracked folders -----------------------------------------------------------------------------------------
async def test_an_untracked_folder_shows_its_files_contents(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(
        service,
        sandbox.id,
        INIT + " && echo a > a.txt && git add a.txt && git commit -qm base && mkdir -p new/sub"
        " && printf 'hello\\nworld\\n' > new/one.py && printf 'deep' > new/sub/two.txt && printf 'x\\0y' > new/bin"
        " && echo '*.log' > .git/info/exclude && echo noise > new/skip.log",
        cwd="repo",
    )
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await ready(pilot, app)
        assert panel.files.select_path("new/", "untracked")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GitDiffScreen))
        view = app.screen.query_one(DiffView)
        await wait_for(pilot, lambda: bool(view.files), timeout=20)
        assert [f.path for f in view.files] == ["new/bin", "new/one.py", "new/sub/two.txt"]  # not the ignored one
        texts = [r.text for r in view.rows]
        assert "no changes" not in " ".join(texts)
        assert "+hello" in texts and "+world" in texts and "+deep" in texts and "  binary file: not shown" in texts


async def test_a_big_untracked_folder_is_shown_bounded(service: SandboxService, sandbox: SandboxInfo) -> None:
    from services.git import FOLDER_FILE_BYTES, FOLDER_FILES

    await service.mkdir(sandbox.id, "repo")
    await sh(
        service,
        sandbox.id,
        INIT + f" && mkdir many && i=0; while [ $i -lt {FOLDER_FILES + 3} ]; do echo $i > many/f$(printf %04d $i);"
        f" i=$((i+1)); done; head -c {FOLDER_FILE_BYTES * 3} /dev/zero | tr '\\0' 'a' > many/0big",
        cwd="repo",
    )
    git = GitService(service, sandbox.id, repo_dir="repo", env=IDENT)
    files = await git.diff_untracked_folder("many/")
    assert len(files) == FOLDER_FILES + 1 and files[-1].note == "4 more files not shown"
    big = files[0]
    assert big.path == "many/0big" and big.note and "start of the file" in big.note
    assert sum(len(ln) - 1 for ln in big.hunks[0].lines) <= FOLDER_FILE_BYTES


# -- the selected hunk -----------------------------------------------------------------------------------------
TWO_HUNKS = "".join(f"value_{i} = {i}\n" for i in range(40))


async def test_the_selected_hunk_is_marked_and_space_stages_exactly_it(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
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
        screen = app.screen
        view = screen.query_one(DiffView)
        await wait_for(pilot, lambda: view.hunk_count == 2, timeout=20)
        await pilot.pause()

        def marked() -> list[str]:
            """The text of the rows on screen whose gutter holds the marker."""
            out = []
            for y in range(view.scrollable_content_region.height):
                segs = list(view.render_line(y))
                if segs and segs[0].text == GUTTER:
                    out.append("".join(s.text for s in segs[1:]).rstrip())
            return out

        def bg(text: str) -> str | None:
            for y in range(view.scrollable_content_region.height):
                segs = list(view.render_line(y))
                if "".join(s.text for s in segs[1:]).rstrip() == text:
                    return str(segs[-1].style.bgcolor) if segs[-1].style else None
            raise AssertionError(text)

        first = marked()
        assert first[0].startswith("@@ -1,5 +1,5 @@") and "+value_1 = 'first'" in first
        assert not any("second" in t for t in first) and len(first) == 1 + 3 + 2 + 1  # header, context, -/+, context
        unselected_ctx = bg(" value_33 = 33")
        assert "hunk 1/2" in str(screen.query_one("#diff-hint").render())
        await pilot.press("n")
        second = marked()
        assert second[0].startswith("@@ -33,7 +33,7 @@") and "+value_35 = 'second'" in second
        assert not any("first" in t for t in second)
        assert bg(" value_33 = 33") != unselected_ctx  # the selected hunk has its own background
        assert "hunk 2/2" in str(screen.query_one("#diff-hint").render())
        n = panel.refreshes
        await pilot.press("space")
        await refreshed(pilot, panel, n)
        cached = await sh(service, sandbox.id, "git diff --cached -U0", cwd="repo")
        assert "+value_35 = 'second'" in cached and "first" not in cached
        assert "-value_1 = 1" in await sh(service, sandbox.id, "git diff -U0", cwd="repo")


# -- conflicts -------------------------------------------------------------------------------------------------
BASE = "".join(f"line {i}\n" for i in range(1, 21))
CONFLICT = f"""
printf '{BASE}' > c.txt && git add c.txt && git commit -qm base &&
git switch -qc other && sed -i -e 's/^line 2$/line 2 theirs/' -e 's/^line 18$/line 18 theirs/' c.txt &&
git commit -qam other && git switch -q main &&
sed -i -e 's/^line 2$/line 2 ours/' -e 's/^line 18$/line 18 ours/' c.txt && git commit -qam main &&
! git merge -q other
"""


async def conflicted_repo(service: SandboxService, sandbox: SandboxInfo) -> None:
    await service.mkdir(sandbox.id, "repo")
    await sh(service, sandbox.id, INIT + " && " + CONFLICT.strip(), cwd="repo")


async def test_a_conflict_is_resolved_per_hunk_staged_and_the_merge_committed(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await conflicted_repo(service, sandbox)
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 40)) as pilot:
        panel = await ready(pilot, app)
        assert panel.merging and [e.path for e in panel.status.conflicted] == ["c.txt"]  # type: ignore[union-attr]
        assert "merging conflicts 1" in str(panel.query_one(GitHeader).render())
        assert panel.files.select_path("c.txt", "conflicts")
        assert {"Resolve", "Abort merge"} <= set(palette(app)) and {"Resolve", "Abort merge"} <= footer_keys(app)
        # committing is refused while conflicts are left
        await pilot.press("c")
        await wait_for(pilot, lambda: any("resolve the 1 conflicted" in n for n in notes(app)))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen) and app.screen.loaded, timeout=20)
        screen = app.screen
        assert isinstance(screen, ConflictScreen) and len(screen.hunks) == 2
        assert {"Ours", "Theirs", "Both", "Save+stage"} <= set(palette(app)) and "Ours" in footer_keys(app)
        body = str(screen.query_one("#conflict-body").render())
        assert "ours: HEAD" in body and "theirs: other" in body and "line 2 ours" in body and "line 2 theirs" in body
        # staging before every hunk is decided is refused
        await pilot.press("a")
        await wait_for(pilot, lambda: any("2 conflicts still undecided" in n for n in notes(app)))
        await pilot.press("b")  # hunk 1: both; the selection moves on to hunk 2
        assert screen.current == 1
        await pilot.press("o", "u")  # changed my mind: undo
        assert screen.choices == {0: "both"} and screen.current == 1
        await pilot.press("t")
        n = panel.refreshes
        await pilot.press("a")
        await refreshed(pilot, panel, n)
        await wait_for(pilot, lambda: not isinstance(app.screen, ConflictScreen))
        data = (await service.read_file(sandbox.id, "repo/c.txt")).data.decode()
        expected = BASE.replace("line 2\n", "line 2 ours\nline 2 theirs\n").replace("line 18\n", "line 18 theirs\n")
        assert data == expected
        status = await sh(service, sandbox.id, "git status --porcelain", cwd="repo")
        assert status == "M  c.txt\n"  # staged: resolved
        assert panel.merging and panel.status is not None and not panel.status.conflicted
        # the merge is committed with git's prepared message
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CommitDialog))
        assert app.screen.query_one(TextArea).text.startswith("Merge branch 'other'")
        n = panel.refreshes
        await pilot.press("ctrl+s")
        await refreshed(pilot, panel, n)
        assert not panel.merging
        parents = await sh(service, sandbox.id, "git log -1 --format=%P", cwd="repo")
        assert len(parents.split()) == 2


async def test_a_merge_in_progress_can_be_aborted_after_a_confirmation(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await conflicted_repo(service, sandbox)
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await ready(pilot, app)
        assert panel.merging
        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")  # no: nothing happens
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        assert (
            await service.exec(sandbox.id, ["git", "rev-parse", "-q", "--verify", "MERGE_HEAD"], cwd="repo")
        ).exit_code == 0
        await pilot.press("M")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        n = panel.refreshes
        await pilot.press("y")
        await refreshed(pilot, panel, n)
        assert not panel.merging and panel.status is not None and panel.status.clean
        assert "Abort merge" not in footer_keys(app)
        assert (await service.read_file(sandbox.id, "repo/c.txt")).data.decode().startswith("line 1\nline 2 ours\n")


async def test_staging_a_file_that_still_has_conflict_markers_asks_first(
    service: SandboxService, sandbox: SandboxInfo
) -> None:
    await conflicted_repo(service, sandbox)
    app = PanelApp(service, sandbox.id)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = await ready(pilot, app)
        assert panel.files.select_path("c.txt", "conflicts")
        await pilot.press("space")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "2 conflicts left" in str(app.screen.query(".dialog-message").first().render())
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        assert (await sh(service, sandbox.id, "git status --porcelain", cwd="repo")) == "UU c.txt\n"
        await pilot.press("space")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        n = panel.refreshes
        await pilot.press("y")
        await refreshed(pilot, panel, n)
        assert (await sh(service, sandbox.id, "git status --porcelain", cwd="repo")) == "M  c.txt\n"


def test_every_new_binding_has_an_id_a_description_and_a_tooltip() -> None:
    for cls in (ConflictScreen, IdentityDialog, GitPanel):
        for b in cls.BINDINGS:
            assert b.id and b.description and b.tooltip, (cls.__name__, b.key)  # type: ignore[union-attr]


async def test_the_marked_hunk_stays_in_view_and_a_click_selects_one() -> None:
    """Scrolling the selected hunk out of view selects the first hunk in view (so space never acts on a hunk
    the user cannot see); a click selects the hunk under the pointer. A parsed diff of ten hunks is enough."""
    from services.git_parse import parse_diff

    parts = ["diff --git a/x b/x\n--- a/x\n+++ b/x\n"]
    for k in range(10):
        parts.append(f"@@ -{k * 10 + 1},3 +{k * 10 + 1},3 @@\n c\n-old {k}\n+new {k}\n c\n")
    files = parse_diff("".join(parts).encode())

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield DiffView(files)

    app = One()
    async with app.run_test(size=(60, 12)) as pilot:
        view = app.query_one(DiffView)
        view.focus()
        await pilot.pause()
        assert view.current_index == 0
        await pilot.press("pagedown", "pagedown")
        await pilot.pause()
        top, height = view.scroll_offset.y, view.scrollable_content_region.height
        start, end = view._hunk_rows[view.current_index], view._hunk_ends[view.current_index]
        assert view.current_index > 0 and start < top + height and end > top  # some of its rows are on screen
        # a click on a line of another hunk selects that hunk
        target = view.current_index + 1
        row = view._hunk_rows[target] + 2 - view.scroll_offset.y
        await pilot.click(DiffView, offset=(5, row))
        assert view.current_index == target

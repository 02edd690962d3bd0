"""Snapshots of the real git panel's states in the real workspace (issue 15): clean, changes staged and unstaged
(dark and light: the sections' colours change), a merge conflict, a detached HEAD, no repository (the panel offers
`i: init`), and the screens it opens — the diff with its hunks, the branches, the stashes and the log — at 80x24
(the git tab) and 160x48 (tiled). The repositories are built by real git inside a real sandbox with fixed authors
and dates (tests/tui/snap_real.py). Update with `pytest tests/tui/test_snapshots_git.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from services.config import Config
from tests.conftest import wait_until
from tests.services.test_git import INIT, MERGE
from tests.tui.snap_real import COMMITTED, MAIN_PY, SIZE_IDS, SIZES, cleanup, focus, make_app, ready, seed
from widgets.diff_view import DiffView
from widgets.git.panel import GitPanel

pytestmark = [pytest.mark.bwrap, pytest.mark.timeout(180)]

# history: three commits on main, a topic branch, then a working tree with changes in every section
HISTORY = (
    COMMITTED + " && printf 'a\\nb\\nc\\nd\\ne\\nf\\ng\\nh\\ni\\nj\\nk\\nl\\n' > list.txt && git add list.txt"
    " && git commit -qm 'Add the list' && git branch topic && printf 'v2\\n' > VERSION && git add VERSION"
    " && git commit -qm 'Version 2'"
)
DIRTY = (
    HISTORY + " && sed -i 's/^b$/B/; s/^k$/K/' list.txt && printf 'staged\\n' > staged.py && git add staged.py"
    " && printf 'v3\\n' > VERSION && git add VERSION && printf 'v4\\n' > VERSION && printf 'u\\n' > untracked.md"
)
STATES: dict[str, str] = {
    "clean": HISTORY,
    "dirty": DIRTY,
    "conflict": INIT + " && " + " ".join(MERGE.split()),
    "detached": HISTORY + " && git checkout -q --detach HEAD~1",
    "no_repo": "printf 'x\\n' > plain.txt",
    "stashed": HISTORY + " && printf 'one\\n' >> list.txt && git stash -q -m 'first try'"
    " && printf 'two\\n' > VERSION && git stash -q -m 'second try'",
}


@pytest.fixture
def repo(request: pytest.FixtureRequest, config: Config) -> Iterator[Config]:
    seed(config, STATES[request.param], files={"main.py": MAIN_PY})
    yield config
    cleanup(config)


def _panel(pilot: Pilot[Any]) -> GitPanel:
    return pilot.app.screen.query_one(GitPanel)


async def _in_git(pilot: Pilot[Any], *, is_repo: bool = True) -> None:
    await ready(pilot, repo=is_repo)
    await focus(pilot, "git")
    await pilot.pause()


@pytest.mark.parametrize("repo", ["clean", "conflict", "detached"], indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_git_panel(snap_compare: Any, repo: Config, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(repo), terminal_size=size, run_before=_in_git)


@pytest.mark.parametrize("repo", ["dirty"], indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
def test_git_panel_staged_and_unstaged(snap_compare: Any, repo: Config, size: tuple[int, int], theme: str) -> None:
    assert snap_compare(make_app(repo, theme), terminal_size=size, run_before=_in_git)


@pytest.mark.parametrize("repo", ["no_repo"], indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_git_panel_no_repository(snap_compare: Any, repo: Config, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _in_git(pilot, is_repo=False)

    assert snap_compare(make_app(repo), terminal_size=size, run_before=run_before)


async def _shown(pilot: Pilot[Any], kind: str, loaded: Callable[[Any], object]) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: type(app.screen).__name__ == kind)
    await wait_until(pilot, lambda: bool(loaded(app.screen)), f"the {kind} loaded", timeout=20)
    await pilot.pause()


def _opened_with(key: str, kind: str, loaded: Callable[[Any], object]) -> Callable[[Pilot[Any]], Any]:
    """From the git panel, press `key` and wait for the `kind` screen to have loaded."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _in_git(pilot)
        await pilot.press(key)
        await _shown(pilot, kind, loaded)

    return run_before


def _options(screen: Any) -> int:
    return int(screen.query_one(OptionList).option_count)


@pytest.mark.parametrize("repo", ["dirty"], indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_git_diff_screen(snap_compare: Any, repo: Config, size: tuple[int, int]) -> None:
    """list.txt's unstaged diff: two hunks, the first current."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _in_git(pilot)
        panel = _panel(pilot)
        files = panel.files
        for _ in range(len(files.rows)):
            row = files.selected
            if row is not None and row.entry is not None and row.entry.path == "list.txt":
                break
            await pilot.press("down")
        await pilot.press("enter")
        await _shown(pilot, "GitDiffScreen", lambda s: s.query_one(DiffView).hunk_count == 2)

    assert snap_compare(make_app(repo), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("repo", ["clean"], indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_git_branches_screen(snap_compare: Any, repo: Config, size: tuple[int, int]) -> None:
    """main (current) and topic."""
    run_before = _opened_with("b", "BranchScreen", lambda s: _options(s) == 2)
    assert snap_compare(make_app(repo), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("repo", ["stashed"], indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_git_stash_screen(snap_compare: Any, repo: Config, size: tuple[int, int]) -> None:
    """Two stashes, newest first."""
    run_before = _opened_with("s", "StashScreen", lambda s: _options(s) == 2)
    assert snap_compare(make_app(repo), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("repo", ["clean"], indirect=True)
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_git_log_screen(snap_compare: Any, repo: Config, size: tuple[int, int]) -> None:
    """The three commits, newest first, with their fixed ids, authors and ages."""
    run_before = _opened_with("l", "LogScreen", lambda s: _options(s) == 3)
    assert snap_compare(make_app(repo), terminal_size=size, run_before=run_before)

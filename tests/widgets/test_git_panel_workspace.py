"""The git panel inside the real workspace screen: status follows file changes without a key press, and one
status call feeds both the panel and the explorer's markers.

The real app (`SandbenchApp`) over the real LocalProvider, in a sandbox whose workspace root is a git repository
(the workspace's git panel looks at the workspace root).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from services.config import Config
from services.models import SandboxInfo
from services.sandbox_service import SandboxService
from services.watch import ChangeBatch, _NativeThread
from tests.services.test_git import INIT, sh
from tests.tui.conftest import fixed_clock, wait_for
from tui.app import SandbenchApp
from tui.screens.workspace import WorkspaceScreen
from widgets.editor import EditorTabs
from widgets.explorer import Explorer
from widgets.git.panel import GitPanel, batch_matters


def _markers(explorer: Explorer) -> dict[str, str]:
    return dict(explorer._git)  # what the explorer colours by: set only through set_git_status


@pytest.mark.bwrap
async def test_file_changes_refresh_the_panel_and_the_explorer_markers(
    service: SandboxService, config: Config, sandbox: SandboxInfo
) -> None:
    await service.write_file(sandbox.id, "a.txt", b"one\n")
    await sh(service, sandbox.id, INIT + " && git add a.txt && git commit -qm base")
    app = SandbenchApp(service, config, clock=fixed_clock, open_name=sandbox.name)
    async with app.run_test(size=(160, 48)) as pilot:
        p: Any = pilot  # wait_for is typed for Pilot[object]
        await wait_for(p, lambda: isinstance(app.screen, WorkspaceScreen) and bool(app.screen.query(GitPanel)))
        screen = app.screen
        panel = screen.query_one(GitPanel)
        explorer = screen.query_one(Explorer)
        await wait_for(p, lambda: panel.status is not None and panel.following is not None)
        assert panel.following == "native"  # a local sandbox: inotify, no polling
        assert panel.status is not None and "a.txt" not in panel.status.markers
        before = panel.refreshes

        # the terminal (or an agent) writes: no key is pressed
        await service.write_file(sandbox.id, "a.txt", b"two\n")
        await service.write_file(sandbox.id, "new.txt", b"new\n")
        await wait_for(p, lambda: _markers(explorer).get("new.txt") == "?" and "a.txt" in _markers(explorer))
        assert panel.status is not None
        assert [e.path for e in panel.status.unstaged] == ["a.txt"]
        assert "new.txt" in [e.path for e in panel.status.untracked]
        assert _markers(explorer) == dict(panel.status.markers)  # the same status call fed both panes
        # coalesced: two writes in one burst cost one or two status calls, not one per event
        assert panel.refreshes - before <= 2

        # git itself changes the index: the panel follows
        await sh(service, sandbox.id, "git add a.txt")
        await wait_for(p, lambda: panel.status is not None and [e.path for e in panel.status.staged] == ["a.txt"])
        assert _markers(explorer)["a.txt"] == "M"

        # the editor saves: the panel follows too
        await sh(service, sandbox.id, "git commit -qm second && git add new.txt && git commit -qm third")
        await wait_for(p, lambda: panel.status is not None and panel.status.clean and not _markers(explorer))
        editor = screen.query_one(EditorTabs)
        editor.open_file("a.txt")
        await wait_for(p, lambda: editor.active_editor is not None and editor.active_editor.text == "two\n")
        code = editor.active_editor
        assert code is not None
        code.focus()
        await pilot.press("x", "ctrl+s")
        await wait_for(p, lambda: _markers(explorer).get("a.txt") == "M")
        assert panel.status is not None and [e.path for e in panel.status.unstaged] == ["a.txt"]


def _native_watchers() -> int:
    return sum(isinstance(t, _NativeThread) and t.is_alive() for t in threading.enumerate())


@pytest.mark.bwrap
async def test_one_watcher_feeds_the_explorer_and_the_git_panel(
    service: SandboxService, config: Config, sandbox: SandboxInfo
) -> None:
    await sh(service, sandbox.id, INIT)
    app = SandbenchApp(service, config, clock=fixed_clock, open_name=sandbox.name)
    async with app.run_test(size=(160, 48)) as pilot:
        p: Any = pilot
        await wait_for(p, lambda: isinstance(app.screen, WorkspaceScreen) and bool(app.screen.query(GitPanel)))
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        panel = screen.query_one(GitPanel)
        explorer = screen.query_one(Explorer)
        await wait_for(p, lambda: panel.status is not None and screen.watch_hub.running)
        # one inotify thread for the workspace (each pane ran its own before); waited for, since a thread of an
        # earlier test may still be closing
        await wait_for(p, lambda: _native_watchers() == 1)
        seen = panel.batches_seen

        await service.write_file(sandbox.id, "fresh.txt", b"x\n")
        # the same batch re-lists the explorer and re-runs git status
        await wait_for(p, lambda: any(r.entry.path == "fresh.txt" for r in explorer.rows))
        await wait_for(p, lambda: panel.status is not None and "fresh.txt" in panel.status.markers)
        assert panel.batches_seen > seen and explorer.watch_batches >= 1
        assert _native_watchers() == 1


def test_which_batches_refresh() -> None:
    def b(*paths: str) -> ChangeBatch:
        return ChangeBatch(paths=frozenset(paths))

    assert batch_matters(b("x.py"), "")
    assert batch_matters(b(".git/index"), "")
    assert batch_matters(b(".git/HEAD", ".git/index.lock"), "")
    assert not batch_matters(b(".git/index.lock"), "")  # the lock alone: the write itself follows
    assert not batch_matters(b(".git/objects/ab/cdef"), "")
    assert not batch_matters(b(".cache/sandbench/askpass-1/prompt-2"), "")  # our own helper files
    assert batch_matters(b("repo/x.py"), "repo/")
    assert not batch_matters(b("other/x.py", "repox/y"), "repo/")
    assert batch_matters(ChangeBatch(dirs=frozenset({"repo/new"})), "repo/")

"""The search-in-files screen of a workspace (issue 11 §4): `widgets.search_view.SearchView` with its own footer.

One instance per workspace, installed under a name of its own, so closing it (escape, or the key that opened it)
keeps the query, the toggles and the results — and a search still running goes on — for the next opening, as VS
Code's search view does. Enter on a match closes it and opens the editor there (line and column). The workspace
calls `open_search` (its `workspace.search` key and palette entry) and `forget_search` when it ends.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from services.sandbox_service import SandboxService
from services.search import Match
from services.text import safe_text
from tui.keymap import FOCUS_KEYS, SEARCH_KEYS, bindings
from widgets.messages import ReportWorkerErrors
from widgets.search_results import SearchResults
from widgets.search_view import SearchView

if TYPE_CHECKING:
    from tui.screens.workspace import WorkspaceScreen

OPEN_WAIT = 10.0  # seconds to wait for the editor's new tab


class SearchScreen(ReportWorkerErrors, Screen[Match | None], inherit_bindings=False):
    BINDINGS = bindings(SEARCH_KEYS + FOCUS_KEYS)
    HELP_TITLE = "Search in files"
    AUTO_FOCUS = None
    DEFAULT_CSS = """
    SearchScreen #search-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    """

    def __init__(self, service: SandboxService, sandbox_id: str, name: str, workspace: Any) -> None:
        super().__init__()
        self.service = service
        self.sandbox_id = sandbox_id
        self.sandbox_name = name
        self.workspace = workspace

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Search in files · {safe_text(self.sandbox_name)}"), id="search-title")
        yield SearchView(self.service, self.sandbox_id, unsaved=self._unsaved, id="search-view")
        yield Footer()

    @property
    def view(self) -> SearchView:
        return self.query_one(SearchView)

    def _unsaved(self) -> list[str]:
        editor = self.workspace.pane_widget("editor")
        check = getattr(editor, "has_unsaved", None)
        return list(check()) if callable(check) else []

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_option(self, option: str) -> None:
        self.view.toggle(option)

    def action_replace(self) -> None:
        self.view.replace_all()

    def action_stop(self) -> None:
        self.view.stop()

    def action_focus_query(self) -> None:
        self.query_one("#search-pattern").focus()

    def on_search_results_open_match(self, message: SearchResults.OpenMatch) -> None:
        self.dismiss(message.match)

    def on_search_view_file_replaced(self, message: SearchView.FileReplaced) -> None:
        reload = getattr(self.workspace.pane_widget("editor"), "file_changed", None)
        if callable(reload):
            self.workspace.run_worker(reload(message.path), group="search-reload", exit_on_error=False)


def _screen_name(workspace: WorkspaceScreen) -> str:
    return f"search-{workspace.info.id}-{id(workspace)}"


def open_search(workspace: WorkspaceScreen) -> None:
    """Show the workspace's search screen (made on first use); enter on a match opens the editor there."""
    app = workspace.app
    name = _screen_name(workspace)
    if not app.is_screen_installed(name):
        app.install_screen(SearchScreen(workspace.service, workspace.info.id, workspace.info.name, workspace), name)
    screen = app.get_screen(name)
    if screen is app.screen:
        return
    app.push_screen(name, callback=lambda match: _opened(workspace, match))
    if isinstance(screen, SearchScreen) and screen.is_mounted:
        screen.action_focus_query()


def _opened(workspace: WorkspaceScreen, match: Match | None) -> None:
    if match is not None:
        workspace.run_worker(open_at(workspace, match), name="open match", group="open-match", exit_on_error=False)


async def open_at(workspace: WorkspaceScreen, match: Match) -> None:
    """Open `match.path` in the editor with the cursor on the match (line and column), the editor focused."""
    editor: Any = workspace.pane_widget("editor")
    workspace._reveal_pane("editor")
    loading = editor.open_file(match.path)
    if loading is not None:
        await loading.wait()
    # the load posts the new tab as a message: wait for the tab (a failed load has told the user already)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OPEN_WAIT
    while editor.active_path != match.path or editor.active_editor is None:
        if loop.time() > deadline or (loading is None and editor.buffer(match.path) is None):
            return
        await asyncio.sleep(0.02)
    area = editor.active_editor
    go = getattr(area, "go_to_line", None)
    if callable(go):
        go(match.line, match.column)
        area.focus()


def forget_search(workspace: WorkspaceScreen) -> None:
    """The workspace ends: drop its search screen (and any search it still runs)."""
    app = workspace.app
    name = _screen_name(workspace)
    if app.is_screen_installed(name):
        screen = app.get_screen(name)
        if not any(screen in stack for stack in app._screen_stacks.values()):
            app.uninstall_screen(name)
            if screen.is_mounted:
                for node in (screen, *screen.query("*")):
                    app.workers.cancel_node(node)  # a search still running: its exec is cancelled, grep killed
                screen.remove()
